"""Split an answer into the claims that are checked against the context.

A claim is a sentence or list item. Very short ones ("Yes.", "Costs fell.") carry too little to check alone and are
merged into their neighbour; questions, markdown headers and assistant boilerplate ("I hope this helps!") state
nothing about the context and are set aside rather than reported as unsupported. A lead-in line ending in a colon
is joined to the item it introduces.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from detectors.faithfulness.lexicon import ATTRIBUTION, FILLER
from detectors.faithfulness.segment import BULLET, Segment, split_sentences

MIN_CLAIM_WORDS = 5
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_MARKDOWN = re.compile(r"(\*\*|__|`|^#+\s*)")


@dataclass(frozen=True, slots=True)
class Claim:
    """A span of the answer and the text that is checked for it (markdown and "According to the context," removed)."""

    text: str
    start: int
    end: int


def _word_count(text: str) -> int:
    return len(_WORD.findall(text))


def _is_claim(segment: Segment) -> bool:
    text = segment.text.strip()
    if text.endswith("?") or text.startswith("#"):
        return False
    return not FILLER.match(_MARKDOWN.sub("", text).strip()) and _word_count(text) > 0


def split_claims(answer: str) -> tuple[list[Claim], list[Segment]]:
    """The claims of ``answer`` and the segments set aside as not being claims."""
    segments = split_sentences(answer)
    kept: list[Segment] = []
    skipped: list[Segment] = []
    for segment in segments:
        (kept if _is_claim(segment) else skipped).append(segment)
    spans: list[tuple[int, int]] = []
    pending_lead_in: int | None = None
    for segment in kept:
        if pending_lead_in is not None:
            spans.append((pending_lead_in, segment.end))
            pending_lead_in = None
            continue
        if segment.text.rstrip().endswith(":"):
            pending_lead_in = segment.start
            continue
        spans.append((segment.start, segment.end))
    if pending_lead_in is not None:
        skipped.append(Segment(answer[pending_lead_in:].strip(), pending_lead_in, len(answer.rstrip())))
    merged = _merge_short(answer, spans)
    claims = []
    for start, end in merged:
        lines = [
            BULLET.sub("", line, count=1) if BULLET.match(line) else line for line in answer[start:end].split("\n")
        ]
        text = ATTRIBUTION.sub("", _MARKDOWN.sub("", " ".join(lines))).strip()
        claims.append(Claim(re.sub(r"\s+", " ", text), start, end))
    return claims, skipped


def _merge_short(answer: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    carry: int | None = None  # start of a short first span waiting for the next one
    for start, end in spans:
        if carry is not None:
            start, carry = carry, None
        if _word_count(answer[start:end]) < MIN_CLAIM_WORDS:
            if merged:
                merged[-1] = (merged[-1][0], end)
            else:
                carry = start
            continue
        merged.append((start, end))
    if carry is not None:
        merged.append((carry, spans[-1][1]))
    return merged
