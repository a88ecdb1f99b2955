"""The parts of rate limiting that need no server: token counting offline, header formats, tier resolution."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from policies.schema import RateLimits
from proxy.ratelimit import go_duration, store_key
from proxy.tokens import ENCODING_FILES, TokenCounter, find_file, search_dirs, usage_total


@pytest.fixture(scope="module")
def counter() -> TokenCounter:
    missing = [f.name for f in ENCODING_FILES.values() if find_file(f, search_dirs()) is None]
    if missing:
        pytest.skip(f"tiktoken BPE files {missing} absent: run `railguard tokenizers fetch` (scripts/install does)")
    return TokenCounter()


def test_openai_models_count_with_their_own_encoding(counter: TokenCounter) -> None:
    # Reference ids from tiktoken itself: o200k_base and cl100k_base both split this into "hello" + " world".
    assert counter.encoding("o200k_base").encode_ordinary("hello world") == [24912, 2375]
    assert counter.encoding("cl100k_base").encode_ordinary("hello world") == [15339, 1917]
    assert counter.count("gpt-4o", "hello world") == 2 and counter.exact("gpt-4o")
    assert counter.count("gpt-4", "hello world") == 2 and counter.exact("gpt-4")
    assert counter.exact("gpt-5-mini") and counter.exact("gpt-oss-120b") and counter.exact("text-embedding-3-small")
    # The two vocabularies differ: counts on non-English text are not the same.
    text = "Die Straßenbahn fährt um sieben Uhr über die Brücke."
    assert counter.count("gpt-4o", text) != counter.count("gpt-4", text)


def test_other_families_are_approximated_with_o200k(counter: TokenCounter) -> None:
    text = "Claude and Llama have tokenizers of their own that no offline package ships."
    assert not counter.exact("claude-3-5-sonnet") and not counter.exact("llama-3.1-70b")
    assert counter.count("claude-3-5-sonnet", text) == counter.count("gpt-4o", text)


def test_chat_framing(counter: TokenCounter) -> None:
    texts = ["You are terse.", "hello world"]
    plain = sum(counter.count("gpt-4o", t) for t in texts)
    assert counter.count_prompt("gpt-4o", texts, 2, chat=True) == plain + 2 * 3 + 3
    assert counter.count_prompt("gpt-4o", texts, 2, chat=False) == plain


def test_without_files_the_count_is_bytes_over_four(tmp_path: Path) -> None:
    bare = TokenCounter(dirs=[tmp_path])
    assert bare.count("gpt-4o", "abcdefghi") == 3
    assert bare.count("gpt-4o", "é" * 3) == math.ceil(6 / 4)
    assert not bare.exact("gpt-4o")


def test_a_file_with_the_wrong_digest_is_never_used(tmp_path: Path) -> None:
    o200k = ENCODING_FILES["o200k_base"]
    (tmp_path / o200k.cache_name).write_bytes(b"not the real ranks")
    assert find_file(o200k, [tmp_path]) is None
    assert TokenCounter(dirs=[tmp_path]).encoding("o200k_base") is None


def test_usage_totals() -> None:
    assert usage_total({"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}) == 7
    assert usage_total({"input_tokens": 5, "output_tokens": 6}) == 11
    assert usage_total({"prompt_tokens": 9}) == 9
    assert usage_total(None) is None and usage_total({}) is None


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (0.0121, "13ms"), (1, "1s"), (17.28, "17.28s"), (60, "1m0s"), (360, "6m0s"), (3725.5, "1h2m5.5s")],
)
def test_reset_headers_are_go_durations(seconds: float, text: str) -> None:
    assert go_duration(seconds) == text


def test_store_keys_cannot_collide() -> None:
    assert store_key("user", "t", "a:b", "requests", 60) != store_key("user", "t:a", "b", "requests", 60)
    assert store_key("tenant", "acme", "acme", "tokens", 60) == store_key("tenant", "other", "acme", "tokens", 60)
    assert store_key("user", "acme", "u", "tokens", 60) != store_key("user", "other", "u", "tokens", 60)


def test_tiers_replace_defaults_field_by_field() -> None:
    limits = RateLimits.model_validate(
        {
            "defaults": {
                "user": {"requests_per_minute": 10, "tokens_per_minute": 1000},
                "tenant": {"concurrent_requests": 5},
            },
            "tiers": {
                "gold": {"user": {"requests_per_minute": 100}},
                "free": {"user": {"tokens_per_minute": None}, "tenant": None},
                "session-only": {"session": {"requests_per_minute": 3}},
            },
        }
    )
    gold = limits.for_tier("gold")
    assert gold.user is not None and (gold.user.requests_per_minute, gold.user.tokens_per_minute) == (100, 1000)
    assert gold.tenant == limits.defaults.tenant
    free = limits.for_tier("free")
    assert free.user is not None and (free.user.requests_per_minute, free.user.tokens_per_minute) == (10, None)
    assert free.tenant is None
    only = limits.for_tier("session-only")
    assert only.session is not None and only.session.requests_per_minute == 3 and only.user == limits.defaults.user
    assert limits.for_tier(None) == limits.defaults == limits.for_tier("no-such-tier")


def test_unknown_keys_and_bad_values_are_rejected() -> None:
    with pytest.raises(ValueError, match="requests_per_min"):
        RateLimits.model_validate({"defaults": {"user": {"requests_per_min": 5}}})
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        RateLimits.model_validate({"defaults": {"user": {"requests_per_minute": 0}}})
