"""Sentence segmentation for answers and context documents, with character offsets.

spaCy's English tokenizer already knows most abbreviations ("Dr.", "U.S.", "p.m.", "e.g."), so its rule-based
sentencizer does the splitting. On top of it: lines and list items are their own units (an LLM answer is often a
bulleted list), hard-wrapped lines are re-joined, and the sentencizer's remaining false breaks ("Fig. 3",
"et al. and", "No. 1") are repaired.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from detectors.models.runtime import runtime

# A list marker at the start of a line: "-", "*", "•", "1.", "2)", "(a)", "a)". Lowercase letters only, so that an
# initial such as "A. Smith" is not taken for a marker.
BULLET = re.compile(r"[ \t]*(?:[-*\u2022\u2023\u25aa\u25e6\u2013\u2014>]|\d{1,3}[.)]|\(\w{1,3}\)|[a-z][.)])[ \t]+")
# Abbreviations after which a sentence essentially never ends, whatever follows.
_NEVER_FINAL = {
    "fig.",
    "figs.",
    "no.",
    "nos.",
    "vol.",
    "pp.",
    "p.",
    "approx.",
    "ca.",
    "cf.",
    "vs.",
    "v.",
    "dr.",
    "mr.",
    "mrs.",
    "ms.",
    "prof.",
    "st.",
    "gen.",
    "col.",
    "lt.",
    "sgt.",
    "capt.",
    "rev.",
    "hon.",
    "sen.",
    "rep.",
    "gov.",
    "jan.",
    "feb.",
    "mar.",
    "apr.",
    "jun.",
    "jul.",
    "aug.",
    "sep.",
    "sept.",
    "oct.",
    "nov.",
    "dec.",
}
# Abbreviations that may end a sentence; a break after them is kept only when the next piece starts a sentence.
_MAYBE_FINAL = {"al.", "etc.", "inc.", "corp.", "ltd.", "co.", "jr.", "sr.", "bros.", "u.s.", "u.k.", "e.g.", "i.e."}
_TERMINAL = re.compile(r"[.!?:;\u2026)\]\"'\u201d\u2019]\s*$")


@dataclass(frozen=True, slots=True)
class Segment:
    """A sentence (or list item) of a text: ``text == source[start:end]``."""

    text: str
    start: int
    end: int


def _sentencizer() -> Any:
    def load() -> Any:
        import spacy

        nlp = spacy.blank("en")
        nlp.add_pipe("sentencizer")
        return nlp

    return runtime.get("spacy:blank-en-sentencizer", load)


def _lines(text: str) -> list[tuple[int, int]]:
    """Line-level units: list items and paragraphs, with hard-wrapped lines joined back together."""
    units: list[tuple[int, int]] = []
    for match in re.finditer(r"[^\n]+", text):
        start, end = match.start(), match.end()
        marker = BULLET.match(text, start, end)
        if marker:
            start = marker.end()
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if start >= end:
            continue
        if units and not marker and _continues(text, units[-1], start):
            units[-1] = (units[-1][0], end)
        else:
            units.append((start, end))
    return units


def _continues(text: str, previous: tuple[int, int], start: int) -> bool:
    """A line that starts in lowercase after a line without terminal punctuation is a wrapped continuation."""
    prev_text = text[previous[0] : previous[1]]
    return bool(prev_text) and not _TERMINAL.search(prev_text) and text[start].islower()


def split_sentences(text: str) -> list[Segment]:
    """Sentences of ``text`` in order, each with its character offsets."""
    nlp = _sentencizer()
    segments: list[Segment] = []
    for line_start, line_end in _lines(text):
        line = text[line_start:line_end]
        pieces: list[tuple[int, int]] = []
        for sent in nlp(line).sents:
            start = line_start + sent.start_char
            end = line_start + sent.end_char
            if pieces and _false_break(text, pieces[-1], start, end):
                pieces[-1] = (pieces[-1][0], end)
            else:
                pieces.append((start, end))
        for start, end in pieces:
            piece = text[start:end].strip()
            if piece:
                offset = text.index(piece, start)
                segments.append(Segment(piece, offset, offset + len(piece)))
    return segments


def _false_break(text: str, previous: tuple[int, int], start: int, end: int) -> bool:
    prev_text = text[previous[0] : previous[1]].rstrip()
    last_word = prev_text.rsplit(None, 1)[-1].lower() if prev_text else ""
    following = text[start:end].lstrip()
    if not following:
        return True
    if last_word in _NEVER_FINAL or re.fullmatch(r"[a-z]\.", last_word):  # "No. 1", "J. K. Rowling"
        return True
    starts_sentence = following[0].isupper() or following[0] in "\"'\u201c\u2018("
    if last_word in _MAYBE_FINAL:
        return not starts_sentence
    # The sentencizer split inside brackets or before a lowercase continuation ("(see Fig. 3)." -> "3).").
    whole_text_cased = any(ch.isupper() for ch in text)
    return whole_text_cased and (
        following[0].islower() or (following[:2].rstrip(".").isdigit() and ")" in following[:4])
    )
