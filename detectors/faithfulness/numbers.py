"""Quantities in text — digits, written numbers, money, percentages, ordinals, decades — as comparable values.

A hallucinated figure is the most common and most harmful kind of unfaithful answer, and sentence embeddings barely
notice it ("rose 5%" and "rose 50%" embed almost identically). So every number in a claim is parsed to a value and
must be found, by value, in the evidence: "$5.3 million", "5,300,000 dollars" and "5.3m USD" agree; "twelve" and
"12" agree; "80 per cent" and "80%" agree. Rounding is accepted only when the claim hedges ("about 5 million").
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

_UNITS = {
    "zero": 0,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
}
# "one" is left out on its own: "one of the", "no one", "the one who" are not quantities. It still counts inside a
# longer number ("one hundred", "twenty-one").
_ONE = {"one": 1}
_TENS = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
_SCALES = {"hundred": 100, "thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000, "trillion": 10**12}
_ORDINALS = {
    # "first" is left out: "at first", "first of all", "for the first time" are idioms far more often than counts.
    "second": 2,
    "third": 3,
    "fourth": 4,
    "fifth": 5,
    "sixth": 6,
    "seventh": 7,
    "eighth": 8,
    "ninth": 9,
    "tenth": 10,
    "eleventh": 11,
    "twelfth": 12,
    "thirteenth": 13,
    "fourteenth": 14,
    "fifteenth": 15,
    "sixteenth": 16,
    "seventeenth": 17,
    "eighteenth": 18,
    "nineteenth": 19,
    "twentieth": 20,
    "thirtieth": 30,
    "fortieth": 40,
    "fiftieth": 50,
    "hundredth": 100,
}
_SCALE_ABBREVIATIONS = {"k": 1_000, "m": 1_000_000, "mn": 1_000_000, "bn": 1_000_000_000, "b": 1_000_000_000}
_HEDGES = {
    "about",
    "around",
    "approximately",
    "roughly",
    "nearly",
    "almost",
    "some",
    "over",
    "under",
    "more",
    "less",
    "fewer",
    "least",
    "most",
    "estimated",
    "circa",
    "ca",
    "c",
    "~",
}

_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
_WEEKDAYS = {
    name: number
    for number, name in enumerate(["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"])
}
# Full month names always count; "May", "March", "August" and abbreviations only when capitalised ("may" is a verb).
_CALENDAR = re.compile(
    r"\b(?:(?i:january|february|april|june|july|september|october|november|december|"
    r"monday|tuesday|wednesday|thursday|friday|saturday|sunday)|May|March|August|"
    r"(?:Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec)\b\.?)\b"
)

_NUMBER_WORDS = {**_UNITS, **_ONE, **_TENS}
_WORD_ALTERNATION = "|".join(sorted([*_NUMBER_WORDS, *_SCALES], key=len, reverse=True))
_WRITTEN = re.compile(
    # "and" joins only after a scale word: "two hundred and five" is one number, "two and three" are two.
    rf"\b(?:{_WORD_ALTERNATION})(?:(?:[\s-]+|(?<=hundred)\s+and\s+|(?<=thousand)\s+and\s+)(?:{_WORD_ALTERNATION}))*\b",
    re.IGNORECASE,
)
_WRITTEN_UNIT = re.compile(r"\s+(per\s?cent|percent|dollars?|euros?|pounds?)\b", re.IGNORECASE)
_ORDINAL_WORDS = re.compile(r"\b(" + "|".join(_ORDINALS) + r")\b", re.IGNORECASE)
_DIGITS = re.compile(
    r"(?P<currency>(?:US|A|C|NZ|HK)?[$£€¥₹]\s?|\b(?:USD|EUR|GBP|JPY)\s?)?"
    r"(?<![\w.,])(?P<number>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)(?![.,]?\d)"
    r"(?P<suffix>(?:st|nd|rd|th)\b|s\b|'s\b)?"
    r"(?:\s?(?P<scale>thousand|million|billion|trillion|bn|mn|m|k|b)\b)?"
    r"(?:\s?(?P<percent>%|per\s?cent\b|percent\b|pct\b))?"
    r"(?:\s?(?P<currency_word>dollars?|euros?|pounds?|yen|usd|eur|gbp)\b)?",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Quantity:
    """A number found in text, normalised: ``value`` is what is compared; ``decimals`` is the precision written."""

    value: float
    text: str
    start: int
    end: int
    decimals: int = 0
    hedged: bool = False
    kind: str = "number"  # number | percent | money | ordinal | decade | month | weekday

    def matches(self, other: Quantity) -> bool:
        """Whether ``other`` (from the evidence) supports this quantity (from the claim)."""
        if (self.kind == "ordinal") != (other.kind == "ordinal"):
            return False  # "three plants" is not supported by "the third quarter"
        if self.kind in ("month", "weekday") or other.kind in ("month", "weekday"):
            return self.kind == other.kind and self.value == other.value
        if math.isclose(self.value, other.value, rel_tol=1e-9, abs_tol=1e-9):
            return True
        if self.hedged and self.value:
            # "about 5 million" is supported by 5.3 million: within 10%, or equal at the precision written.
            return abs(other.value - self.value) <= 0.1 * abs(self.value)
        return False


def _written_value(words: list[str]) -> float | None:
    """'two hundred and five' -> 205; 'twenty-one' -> 21; 'fifteen hundred' -> 1500; 'three million' -> 3e6."""
    total = 0.0
    current = 0.0
    seen = False
    for word in words:
        if word == "and":
            continue
        if word in _NUMBER_WORDS:
            current += _NUMBER_WORDS[word]
            seen = True
        elif word in _SCALES:
            scale = _SCALES[word]
            current = (current or 1) * scale
            if scale >= 1000:
                total += current
                current = 0
            seen = True
        else:
            return None
    return total + current if seen else None


def _is_hedged(text: str, start: int) -> bool:
    before = re.findall(r"[\w~]+", text[max(0, start - 24) : start].lower())
    return any(word in _HEDGES for word in before[-3:]) or before[-2:] == ["up", "to"]


def extract_quantities(text: str) -> list[Quantity]:
    """Every quantity in ``text``, in order of appearance."""
    found: list[Quantity] = []
    taken: list[tuple[int, int]] = []
    for match in _DIGITS.finditer(text):
        number = match.group("number")
        value = float(number.replace(",", ""))
        decimals = len(number.split(".")[1]) if "." in number else 0
        scale = (match.group("scale") or "").lower()
        currency = match.group("currency") or match.group("currency_word")
        kind = "number"
        if scale in _SCALES:
            value *= _SCALES[scale]
        elif scale in _SCALE_ABBREVIATIONS and (currency or scale in ("bn", "mn")):
            value *= _SCALE_ABBREVIATIONS[scale]
        suffix = (match.group("suffix") or "").lower()
        if match.group("percent"):
            kind = "percent"
        elif currency:
            kind = "money"
        elif suffix in ("st", "nd", "rd", "th"):
            kind = "ordinal"
        elif suffix == "s" and decimals == 0 and value >= 10 and value % 10 == 0:
            kind = "decade"  # "1870s", "the 80s"
        start = match.start("currency") if match.group("currency") else match.start("number")
        found.append(
            Quantity(value, match.group(0).strip(), start, match.end(), decimals, _is_hedged(text, start), kind)
        )
        taken.append((start, match.end()))
    for match in _WRITTEN.finditer(text):
        words = re.findall(r"[a-z]+", match.group(0).lower())
        if words == ["one"] or all(w in _SCALES for w in words):
            continue  # a lone "one", or "hundreds", "thousand" alone, are not figures
        written = _written_value(words)
        if written is None:
            continue
        start, end = match.span()
        # "5.3 million" was already read as one quantity by the digit pattern.
        if any(s <= start < e or s < end <= e for s, e in taken):
            continue
        kind = "number"
        unit = _WRITTEN_UNIT.match(text, end)
        if unit:  # "twelve percent", "five million dollars"
            kind = "percent" if unit.group(1).lower().startswith("per") else "money"
            end = unit.end()
        found.append(Quantity(written, text[start:end], start, end, 0, _is_hedged(text, start), kind))
    for match in _ORDINAL_WORDS.finditer(text):
        word = match.group(1).lower()
        # "second" is also a unit of time ("a second", "seconds"); only take it before a noun-like word.
        if word == "second" and not re.match(r"\s+[a-z]", text[match.end() : match.end() + 3], re.IGNORECASE):
            continue
        found.append(Quantity(float(_ORDINALS[word]), match.group(0), *match.span(), kind="ordinal"))
    for match in _CALENDAR.finditer(text):
        word = match.group(0).lower().rstrip(".")
        if word in _WEEKDAYS:
            found.append(Quantity(float(_WEEKDAYS[word]), match.group(0), *match.span(), kind="weekday"))
        elif word in _MONTHS:
            found.append(Quantity(float(_MONTHS[word]), match.group(0), *match.span(), kind="month"))
    found.sort(key=lambda q: q.start)
    return found


def supported(claim_quantity: Quantity, evidence: list[Quantity]) -> bool:
    return any(claim_quantity.matches(candidate) for candidate in evidence)
