"""What layer 5 reads from an answer and how it changes what the user sees: whole answers of every route, and the
stream tail that holds back a stream's closing events (every dialect, odd chunking, CRLF framing)."""

from __future__ import annotations

import orjson
import pytest

from escalation.answers import JsonAnswer
from escalation.stream_tail import StreamTail
from proxy.refusals import refusal_body, refusal_stream
from proxy.streaming import DONE, sse
from proxy.texts import RouteKind
from tests.openapi import assert_matches

CHAT = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "m",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Paris.", "refusal": None},
            "logprobs": {"content": [{"token": "Paris", "logprob": -0.2, "bytes": [], "top_logprobs": []}]},
            "finish_reason": "length",
        }
    ],
}


def test_a_whole_answer_is_read_and_gets_one_notice() -> None:
    answer = JsonAnswer(RouteKind.CHAT, orjson.loads(orjson.dumps(CHAT)))
    assert (answer.text, answer.finish_reasons, answer.token_logprobs) == ("Paris.", ["length"], [-0.2])
    answer.add_notice("Someone will check.")
    answer.add_notice("Someone will check.")  # asked twice (two triggers): shown once
    assert answer.body["choices"][0]["message"]["content"] == "Paris.\n\nSomeone will check."
    answer.hand_off("A person will take over.")  # a hand-off beats a notice
    answer.add_notice("ignored")
    choice = answer.body["choices"][0]
    assert choice["message"]["content"] == "A person will take over." and choice["finish_reason"] == "stop"
    assert_matches(answer.body, "CreateChatCompletionResponse")


@pytest.mark.parametrize("kind", [RouteKind.COMPLETIONS, RouteKind.RESPONSES])
def test_notice_and_hand_off_on_the_other_routes(kind: RouteKind) -> None:
    schema = "CreateCompletionResponse" if kind is RouteKind.COMPLETIONS else "Response"
    noticed = JsonAnswer(kind, refusal_body(kind, "m", "The answer.", "stop"))
    noticed.add_notice("N.")
    assert noticed.text == "The answer.\n\nN." and noticed.finish_reasons == ["stop"]
    handed = JsonAnswer(kind, refusal_body(kind, "m", "The answer.", "content_filter"))
    handed.hand_off("H.")
    assert handed.text == "H." and handed.finish_reasons == ["stop"]
    assert_matches(handed.body, schema)


def chat_stream(text: str, finish: str = "stop", usage: bool = True) -> list[bytes]:
    base = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    events = [sse({**base, "choices": [{"index": 0, "delta": {"content": text[i : i + 4]}, "finish_reason": None}]})
              for i in range(0, len(text), 4)]  # fmt: skip
    events.append(sse({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}))
    if usage:
        events.append(
            sse({**base, "choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}})
        )
    return [*events, DONE]


def relay(tail: StreamTail, chunks: list[bytes], notice: str | None, comments: dict[str, str]) -> tuple[bytes, bytes]:
    """(what went out before the end, the tail)."""
    early = b"".join(tail.feed(chunk) for chunk in chunks)
    if notice is not None:
        tail.add_notice(notice)
    return early, tail.close(comments)


def texts(data: bytes) -> str:
    out = []
    for block in data.replace(b"\r\n", b"\n").split(b"\n\n"):
        for line in block.split(b"\n"):
            if line.startswith(b"data: {"):
                for choice in orjson.loads(line[6:]).get("choices") or []:
                    out.append((choice.get("delta") or {}).get("content") or choice.get("text") or "")
    return "".join(out)


def test_the_stream_tail_holds_only_the_closing_events() -> None:
    tail = StreamTail(RouteKind.CHAT)
    chunks = chat_stream("Hello there, friend.", finish="length")
    early, end = relay(tail, chunks, "Note.", {"x-railguard-confidence": "0.420"})
    assert texts(early) == "Hello there, friend." and b'finish_reason":"length' not in early
    assert (tail.text, tail.finish_reasons) == ("Hello there, friend.\n\nNote.", ["length"])
    assert texts(end) == "\n\nNote."
    assert end.index(b"Note.") < end.index(b'"finish_reason":"length"') < end.index(b"usage")
    assert end.endswith(b": x-railguard-confidence: 0.420\n\n" + DONE)


def test_the_stream_tail_copes_with_any_chunking_and_crlf() -> None:
    whole = b"".join(chat_stream("One two three four five.")).replace(b"\n", b"\r\n")
    tail = StreamTail(RouteKind.CHAT)
    pieces = [whole[i : i + 7] for i in range(0, len(whole), 7)]  # events split mid-line
    early, end = relay(tail, pieces, None, {})
    assert texts(early + end) == "One two three four five."
    assert early + end == whole  # nothing added, nothing lost, byte for byte


def test_a_hand_off_at_the_end_of_a_stream_follows_the_answer() -> None:
    tail = StreamTail(RouteKind.CHAT)
    for chunk in chat_stream("Answer."):
        tail.feed(chunk)
    tail.add_notice("Notice.")
    tail.hand_off("Handing over.")  # stronger: replaces the notice, cannot replace what was shown
    assert texts(tail.close({})) == "\n\nHanding over."


def test_responses_streams_carry_the_notice_into_every_event_that_repeats_the_text() -> None:
    events = refusal_stream(RouteKind.RESPONSES, "m", "Answer text.", "stop")
    tail = StreamTail(RouteKind.RESPONSES)
    early, end = relay(tail, events, "Notice.", {"x-railguard-confidence": "0.9"})
    full = "Answer text.\n\nNotice."
    assert tail.text == full and tail.finish_reasons == ["stop"]
    parsed = [orjson.loads(line[6:]) for line in (early + end).split(b"\n") if line.startswith(b"data: ")]
    assert [e["sequence_number"] for e in parsed] == list(range(len(parsed)))
    assert "".join(e["delta"] for e in parsed if e["type"] == "response.output_text.delta") == full
    by_type = {e["type"]: e for e in parsed}
    assert by_type["response.output_text.done"]["text"] == full
    assert by_type["response.output_item.done"]["item"]["content"][0]["text"] == full
    assert by_type["response.completed"]["response"]["output"][0]["content"][0]["text"] == full
    assert end.endswith(b": x-railguard-confidence: 0.9\n\n")


def test_completions_streams_get_the_notice_as_text() -> None:
    base = {"id": "cmpl-1", "object": "text_completion", "created": 1, "model": "m"}
    chunks = [
        sse({**base, "choices": [{"index": 0, "text": "Hi", "logprobs": None, "finish_reason": None}]}),
        sse({**base, "choices": [{"index": 0, "text": "", "logprobs": None, "finish_reason": "stop"}]}),
        DONE,
    ]
    tail = StreamTail(RouteKind.COMPLETIONS)
    early, end = relay(tail, chunks, "N.", {})
    assert texts(early + end) == "Hi\n\nN." and tail.finish_reasons == ["stop"]
