"""Turn Presidio's raw, overlapping results into one clean, non-overlapping set of entity spans.

Presidio returns what every recognizer found, including the same characters under several types (an address
line that spaCy also calls a PERSON, a URL inside an e-mail address). Masking needs one answer per character,
so overlaps are settled by how much each kind of evidence is worth:

1. checksum- or format-validated identifiers and staff-declared recognizers,
2. our structural and phrase-cue recognizers (addresses, ages, "my name is ..."),
3. statistical NER (spaCy),
4. weak generic patterns,

then by score, then by length. Vague time expressions ("next week", "this morning") are dropped: they identify
no one, and masking them only degrades the upstream model's answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import regex  # type: ignore[import-untyped]

# Recognizer name -> tier (lower wins). Anything not listed is tier 2 (our own and staff-declared ones are
# listed explicitly so a new predefined recognizer does not silently outrank NER).
NER_RECOGNIZERS = frozenset({"SpacyRecognizer", "StanzaRecognizer", "TransformersRecognizer"})
VALIDATED_RECOGNIZERS = frozenset(
    {
        "EmailRecognizer",
        "CreditCardRecognizer",
        "IbanRecognizer",
        "IpRecognizer",
        "UrlRecognizer",
        "UsSsnRecognizer",
        "CryptoRecognizer",
        "MacAddressRecognizer",
        "UuidRecognizer",
    }
)
WEAK_RECOGNIZERS = frozenset({"DateRecognizer", "UsBankRecognizer", "UsPassportRecognizer", "UsItinRecognizer"})

# Names of kinds of personal data that NER tags as organisations ("Here's my SSN: ...").
FIELD_ACRONYMS = frozenset(
    [
        "SSN",
        "IBAN",
        "PIN",
        "CVV",
        "CVC",
        "ATM",
        "DOB",
        "ID",
        "VAT",
        "TIN",
        "EIN",
        "ITIN",
        "NHS",
        "BIC",
        "SWIFT",
        "OTP",
        "PAN",
        "IP",
        "URL",
        "SMS",
        "MFA",
        "2FA",
    ]
)

_SPECIFIC_TIME = regex.compile(
    r"\d|\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\b"
    r"|\b(?:mon|tues|wednes|thurs|fri|satur|sun)day\b|\bnoon\b|\bmidnight\b",
    regex.IGNORECASE,
)
_VAGUE_NUMBER_TIME = regex.compile(
    r"^(?:the\s+)?(?:\d{1,2}0'?s|(?:last|next|past|first|\d+\+?)\s+\w+|\d+(?:st|nd|rd|th)\s+\w+)$", regex.IGNORECASE
)


@dataclass(frozen=True, slots=True)
class Found:
    """One entity occurrence: ``text[start:end]`` is a value of ``entity_type``."""

    entity_type: str
    start: int
    end: int
    score: float
    recognizer: str


def tier(recognizer: str, staff_declared: frozenset[str] = frozenset()) -> int:
    if recognizer in staff_declared or recognizer in VALIDATED_RECOGNIZERS:
        return 1
    if recognizer in NER_RECOGNIZERS:
        return 3
    if recognizer in WEAK_RECOGNIZERS:
        return 4
    return 2


def is_specific_time(value: str) -> bool:
    """True for a date or time that points at a moment ("1977", "Thursday", "2/8/1935"), not "next week"."""
    value = value.strip()
    if not _SPECIFIC_TIME.search(value) or _VAGUE_NUMBER_TIME.match(value):
        return False
    if value.isdigit():  # a bare number is a date only as a plausible year
        return len(value) == 4 and 1000 <= int(value) <= 2100
    # five or more digits in a row with no month or weekday name is a code (postcode, account), not a date
    return not (_LONG_NUMBER.search(value) and not _NAMED_TIME.search(value))


_LONG_NUMBER = regex.compile(r"\d{5,}")
_NAMED_TIME = regex.compile(
    r"\b(?:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\b|\b(?:mon|tues|wednes|thurs|fri|satur|sun)day\b",
    regex.IGNORECASE,
)


def _trim_url(text: str, found: Found) -> Found:
    """Presidio's URL pattern takes the sentence's full stop ("see https://example.org/jr.")."""
    if found.entity_type != "URL":
        return found
    end = found.end
    while end > found.start and text[end - 1] in ".,;:!?)]'\"":
        end -= 1
    return Found(found.entity_type, found.start, end, found.score, found.recognizer)


def resolve(
    text: str,
    found: Iterable[Found],
    staff_declared: frozenset[str] = frozenset(),
    thresholds: Mapping[str, float] | None = None,
    default_threshold: float = 0.0,
) -> list[Found]:
    """Non-overlapping spans, best evidence first, in text order."""
    limits = thresholds or {}
    found = [_trim_url(text, f) for f in found]
    candidates = [
        f
        for f in found
        if f.end > f.start
        and f.score >= limits.get(f.entity_type, default_threshold)
        and (f.entity_type != "DATE_TIME" or is_specific_time(text[f.start : f.end]))
        and not (f.recognizer in NER_RECOGNIZERS and text[f.start : f.end].strip().upper() in FIELD_ACRONYMS)
    ]
    candidates.sort(key=lambda f: (tier(f.recognizer, staff_declared), -f.score, -(f.end - f.start), f.start))
    taken: list[Found] = []
    for candidate in candidates:
        if any(candidate.start < kept.end and kept.start < candidate.end for kept in taken):
            continue
        taken.append(candidate)
    return sorted(taken, key=lambda f: f.start)
