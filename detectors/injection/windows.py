"""Overlapping windows over long texts, so an instruction buried deep in a document is read, not truncated away.

The encoder reads at most 256 word pieces, but a short instruction in a long window is diluted by the rest of the
window, so windows are kept short (about 100 words). Texts up to ``size`` characters are
one window; longer ones are cut into windows of ``size`` characters that overlap by ``overlap`` (so a sentence that
straddles a cut is whole in one of the two windows), each cut moved back to the nearest whitespace.

A window's sentence vector is the mean of its own word pieces' states from one encoder pass over the text (up to
256 word pieces at a time, ``SharedEncoder.encode_spans``), so the overlap costs no extra encoder time: a
1,000-character prompt is one pass of ~230 word pieces, not three of ~120, and the same pass gives the whole
text's vector to the other detectors of the request (topic, intent, ...) when the text fits in it.
"""

from __future__ import annotations

from dataclasses import dataclass

WINDOW_CHARS = 500
OVERLAP_CHARS = 150


@dataclass(frozen=True, slots=True)
class Window:
    start: int
    end: int
    text: str


def windows(text: str, size: int = WINDOW_CHARS, overlap: int = OVERLAP_CHARS) -> list[Window]:
    if size <= overlap:
        raise ValueError("window size must be larger than the overlap")
    if len(text) <= size:
        return [Window(0, len(text), text)]
    result: list[Window] = []
    start = 0
    while True:
        end = min(start + size, len(text))
        if end < len(text):
            cut = text.rfind(" ", start + size // 2, end)
            end = cut if cut > 0 else end
        result.append(Window(start, end, text[start:end]))
        if end >= len(text):
            return result
        next_start = max(end - overlap, start + 1)
        space = text.find(" ", next_start, end)
        start = space + 1 if space != -1 else next_start
