"""proxy.masking: the request vault, restoration of whole and streamed answers, leakage."""

from __future__ import annotations

import json
import logging
import pickle
import threading

import pytest

from detectors.base import DetectorContext, Span
from detectors.pii.detector import PiiDetector
from proxy.masking import LITERAL_TYPE, PiiAction, Vault, VaultError

MESSAGE = (
    "Hi, my name is Julia Roberts and I'm a 42-year-old nurse. Email julia.roberts@example.org or call "
    "+1 415-555-0132. My card 4111 1111 1111 1111 and IBAN GB82 WEST 1234 5698 7654 32. I live at 12 Crown "
    "Street, Springfield. Server 192.168.10.23, site https://example.org/jr. SSN 536-90-4399. Born on 2/8/1985. "
    "Dr. Keller from Acme Holdings Ltd says my zip code is 90210."
)
EXPECTED_TYPES = {
    "PERSON", "AGE", "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "LOCATION", "IP_ADDRESS", "URL",
    "US_SSN", "DATE_TIME", "TITLE", "ORGANIZATION", "ZIP_CODE",
}  # fmt: skip


@pytest.fixture(scope="module")
def detector() -> PiiDetector:
    return PiiDetector(model="spacy-en-core-web-sm")


def spans_of(text: str, *values: tuple[str, str]) -> list[Span]:
    return [Span(text.index(v), text.index(v) + len(v), t, 0.9) for t, v in values]


class EchoUpstream:
    """A mock upstream model that records what it received and answers with it unchanged."""

    def __init__(self) -> None:
        self.received: list[str] = []

    def __call__(self, prompt: str) -> str:
        self.received.append(prompt)
        return prompt


def test_round_trip_through_the_detector_restores_every_type_and_the_upstream_sees_no_value(detector) -> None:
    spans = detector.detect(MESSAGE, DetectorContext()).spans
    assert {s.label for s in spans} >= EXPECTED_TYPES
    vault, upstream = Vault(), EchoUpstream()
    answer = upstream(vault.mask(MESSAGE, spans).text)
    for span in spans:
        assert MESSAGE[span.start : span.end] not in upstream.received[0], span.label
    assert vault.restore(answer) == MESSAGE


def test_round_trip_for_every_supported_entity_type(detector) -> None:
    for entity in [*detector.supported_entities(), "EMPLOYEE_ID"]:
        value = f"value of {entity.lower()} #7"
        text = f"before {value} after"
        vault = Vault()
        masked = vault.mask(text, spans_of(text, (entity, value)))
        assert value not in masked.text and f"<{entity}_1>" in masked.text
        assert vault.restore(EchoUpstream()(masked.text)) == text


def test_the_same_value_keeps_its_placeholder_across_turns() -> None:
    turns = ["I am Anna Berg.", "Please call Anna Berg, not Erik Lund.", "Erik Lund again."]
    vault = Vault(reserve=turns)
    masked = [
        vault.mask(turn, spans_of(turn, *[("PERSON", n) for n in ("Anna Berg", "Erik Lund") if n in turn]))
        for turn in turns
    ]
    assert [m.text for m in masked] == [
        "I am <PERSON_1>.",
        "Please call <PERSON_1>, not <PERSON_2>.",
        "<PERSON_2> again.",
    ]
    assert [vault.restore(m.text) for m in masked] == turns


def test_placeholders_the_user_typed_are_never_confused_with_ours() -> None:
    turns = ["In the template, <PERSON_1> stands for the client.", "The client is Anna Berg."]
    vault = Vault(reserve=turns)
    first = vault.mask(turns[0], [])
    second = vault.mask(turns[1], spans_of(turns[1], ("PERSON", "Anna Berg")))
    assert second.text == "The client is <PERSON_2>."  # numbering skipped the user's <PERSON_1>
    echoed = first.text + " " + second.text
    assert vault.restore(echoed) == turns[0] + " " + turns[1]  # the user's literal stays literal


def test_a_late_literal_placeholder_is_masked_rather_than_restored_wrongly() -> None:
    vault = Vault()  # the pipeline forgot to reserve the second turn up front
    first = vault.mask("I am Anna Berg.", spans_of("I am Anna Berg.", ("PERSON", "Anna Berg")))
    second = vault.mask("Who is <PERSON_1>?", [])
    assert first.text == "I am <PERSON_1>." and "<PERSON_1>" not in second.text
    assert [e.entity_type for e in second.entities] == [LITERAL_TYPE]
    assert vault.restore(second.text) == "Who is <PERSON_1>?"


def test_redact_hash_and_block() -> None:
    text = "Anna Berg, SSN 536-90-4399, card 4111 1111 1111 1111."
    spans = spans_of(text, ("PERSON", "Anna Berg"), ("US_SSN", "536-90-4399"), ("CREDIT_CARD", "4111 1111 1111 1111"))
    actions = {"PERSON": PiiAction.REDACT, "US_SSN": PiiAction.HASH, "CREDIT_CARD": PiiAction.BLOCK}
    vault = Vault(tenant_salt=b"tenant-a-secret-salt")
    result = vault.mask(text, spans, actions)
    assert result.text.startswith("<PERSON>, SSN <US_SSN#") and "4111 1111 1111 1111" in result.text
    assert [e.entity_type for e in result.blocked] == ["CREDIT_CARD"]
    assert vault.restore(result.text) == result.text  # nothing reversible was issued
    same_tenant = Vault(tenant_salt=b"tenant-a-secret-salt").mask(text, spans, actions).text
    other_tenant = Vault(tenant_salt=b"tenant-b-secret-salt").mask(text, spans, actions).text
    assert same_tenant == result.text and other_tenant != result.text
    with pytest.raises(VaultError, match="salt"):
        Vault().mask(text, spans, {"US_SSN": "hash"})


def test_entities_report_positions_and_types_but_no_values() -> None:
    text = "Mail julia@example.org today"
    result = Vault().mask(text, spans_of(text, ("EMAIL_ADDRESS", "julia@example.org")))
    (entity,) = result.entities
    assert (entity.start, entity.end) == (5, 22)
    assert result.text[entity.masked_start : entity.masked_end] == "<EMAIL_ADDRESS_1>"
    assert "julia" not in repr(result.entities) and result.counts() == {"EMAIL_ADDRESS": 1}


def test_json_tool_arguments_are_restored_with_correct_escaping() -> None:
    value = 'Anna "The Hammer" Berg\\Lund\nline two'
    text = f"book for {value}"
    vault = Vault()
    masked = vault.mask(text, spans_of(text, ("PERSON", value)))
    arguments = json.dumps({"guest": masked.text.removeprefix("book for "), "note": "vip"})
    restored = vault.restore(arguments, json_escape=True)
    assert json.loads(restored) == {"guest": value, "note": "vip"}
    streamer = vault.restorer(json_escape=True)
    streamed = "".join(streamer.feed(ch) for ch in arguments) + streamer.flush()
    assert streamed == restored


def test_a_placeholder_split_at_every_possible_boundary_never_leaks_a_fragment() -> None:
    text = "Dear Anna Berg, your advisor Erik Lund will call."
    vault = Vault()
    masked = vault.mask(text, spans_of(text, ("PERSON", "Anna Berg"), ("PERSON", "Erik Lund"))).text
    issued = vault.placeholders()
    longest = vault.longest_placeholder()
    for cut in range(len(masked) + 1):
        for cut2 in range(cut, len(masked) + 1):
            restorer = vault.restorer()
            released = [restorer.feed(masked[:cut]), restorer.feed(masked[cut:cut2]), restorer.feed(masked[cut2:])]
            released.append(restorer.flush())
            assert "".join(released) == text
            so_far = ""
            for piece in released:
                so_far += piece
                assert not any(p[:i] in so_far for p in issued for i in range(2, len(p) + 1)), so_far
    restorer = vault.restorer()
    out = []
    for ch in masked:
        out.append(restorer.feed(ch))
        assert restorer.pending < longest  # held back: only a possible placeholder prefix
    assert "".join(out) + restorer.flush() == text


def test_text_that_only_looks_like_a_placeholder_start_is_released() -> None:
    vault = Vault()
    vault.mask("Anna Berg", spans_of("Anna Berg", ("PERSON", "Anna Berg")))
    restorer = vault.restorer()
    assert restorer.feed("if a <b then") == "if a <b then"
    assert restorer.feed("x <PER") == "x "
    assert restorer.feed("CENT> done") == "<PERCENT> done"


def test_concurrent_requests_never_see_each_others_values() -> None:
    names = {"alpha": "Alice Cooper", "beta": "Bob Dylan"}
    errors: list[str] = []

    def request(name: str) -> None:
        for turn in range(200):
            vault = Vault()
            text = f"Turn {turn}: {name} called."
            masked = vault.mask(text, spans_of(text, ("PERSON", name)))
            restored = vault.restore("<PERSON_1> said hi")
            others = [n for n in names.values() if n != name]
            if restored != f"{name} said hi" or any(o in restored or o in masked.text for o in others):
                errors.append(restored)

    threads = [threading.Thread(target=request, args=(n,)) for n in names.values()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_one_vault_shared_by_threads_of_a_request_stays_consistent() -> None:
    vault = Vault()
    people = [f"Person Number{i}" for i in range(40)]
    got: dict[str, set[str]] = {p: set() for p in people}

    def work() -> None:
        for person in people:
            got[person].add(vault.placeholder("PERSON", person))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(len(p) == 1 for p in got.values())  # one placeholder per value
    assert len({next(iter(p)) for p in got.values()}) == len(people)  # and never the same one twice


def test_leakage_of_a_phone_number_the_user_never_gave_is_caught(detector) -> None:
    question = "Call me back on +1 415-555-0132 about my order."
    vault = Vault()
    vault.mask(question, detector.detect(question, DetectorContext()).spans)
    answer = "Sure, we will call (415) 555-0132. You may also reach our manager on +44 20 7946 0958."
    found = detector.detect(answer, DetectorContext(options={"entities": ["PHONE_NUMBER"]})).spans
    leaked = vault.unsupplied(answer, found)
    assert [answer[s.start : s.end] for s in leaked] == ["+44 20 7946 0958"]
    scrubbed = vault.mask(answer, leaked, restorable=False)
    assert "+44 20 7946 0958" not in vault.restore(scrubbed.text)
    assert vault.unsupplied(answer, leaked) == leaked  # scrubbing does not make a leaked value "supplied"


def test_scrubbing_a_leak_keeps_our_placeholders_restorable() -> None:
    vault = Vault()
    question = "I am Anna Berg."
    vault.mask(question, spans_of(question, ("PERSON", "Anna Berg")))
    answer = "Hello <PERSON_1>, our CEO Erik Lund says hi."
    scrubbed = vault.mask(answer, spans_of(answer, ("PERSON", "Erik Lund")), restorable=False)
    assert scrubbed.text == "Hello <PERSON_1>, our CEO <PERSON> says hi."
    assert vault.restore(scrubbed.text) == "Hello Anna Berg, our CEO <PERSON> says hi."


def test_the_vault_never_shows_its_values_in_repr_logs_or_pickles(caplog: pytest.LogCaptureFixture) -> None:
    secret = "Anna Secretperson"
    with caplog.at_level(logging.DEBUG):
        vault = Vault(tenant_salt="salt-salt-salt-salt")
        text = f"I am {secret}, SSN 536-90-4399"
        masked = vault.mask(text, spans_of(text, ("PERSON", secret), ("US_SSN", "536-90-4399")), {"US_SSN": "hash"})
        restorer = vault.restorer()
        restorer.feed(masked.text)
        restorer.flush()
        vault.restore(masked.text)
        logging.getLogger("railguard.test").info("vault %r %s restorer %r result %r", vault, vault, restorer, masked)
    assert secret not in repr(vault) and secret not in str(vault) and "536-90-4399" not in repr(vault)
    assert caplog.records and not any(secret in r.getMessage() or "536-90" in r.getMessage() for r in caplog.records)
    with pytest.raises(TypeError, match="never serialised"):
        pickle.dumps(vault)
