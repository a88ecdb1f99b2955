"""Reading the latest user turn in the light of the previous ones.

A follow-up such as "and for my wife?" or "what about the fees?" carries no topic of its own; it inherits the
conversation's. The classifier therefore scores two views of a turn: the message alone, and the message followed by
the previous user turn(s) (message first, so that truncation by the encoder never drops it). Per topic it keeps the
better of the two. Only turns that look like follow-ups are read in context: they start with "and", "what about",
..., or are short and point back ("it", "that", "them"), or are a bare fragment ("for my wife?", "how much?").
A self-contained turn is judged on its own, so a new, unrelated question after an on-topic one ("what's the capital
of France") does not ride on the old topic: the history dominates the embedding of a short turn read with it.
A turn that starts like a follow-up but has a subject of its own ("and who won the game?", "what about bitcoin?")
is also judged on its own: it is compared with a list of everyday subjects (other_subjects.yaml), and a close match
means it does not inherit the conversation's topic. That list cannot cover everything; a short turn about an
uncovered subject that points back with "it"/"that" can still inherit the topic (see README.md).
Because the message's own scores are always kept, a follow-up that clearly names a different topic ("and write me
a poem about it") still scores high on that topic.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import yaml

from detectors.base import DetectorContext
from detectors.models.encoder import SharedEncoder, Vectors, shared_encoder
from detectors.topic.index import index_builder
from detectors.topic.scorers import request_cache

# A turn starting like this continues the previous one.
_CONTINUATION = re.compile(
    r"^\W*(and|also|plus|but|or|so|then|what about|how about|same|what if|ok(ay)?,? and|and also|as well)\b",
    re.IGNORECASE,
)
# Short turns that point back at something said before.
_POINTER = re.compile(
    r"\b(it|its|that|this|those|these|them|they|one|ones|there|the same|too|as well)\b", re.IGNORECASE
)
_SHORT_WORDS = 6
# Bare fragments that only make sense as a continuation: "for my wife?", "how much?", "why not?".
_FRAGMENT = re.compile(
    r"^\W*(for|with|to|in|on|at|about|from|via|by|how much|how long|how many|why|when|where|which|who|whose)\b",
    re.IGNORECASE,
)
_FRAGMENT_WORDS = 4
# A follow-up at least this similar to an everyday subject has a subject of its own. Set by hand on a handful of
# follow-ups (tests/detectors/test_topic.py shows the cases): content-free follow-ups ("for my wife?",
# "how long does it take?") sit at 0.2-0.38, turns with a subject of their own at 0.4 and above.
OWN_SUBJECT_SIMILARITY = 0.40
_SUBJECTS_FILE = Path(__file__).with_name("other_subjects.yaml")
# How much history is read: the last N turns (a follow-up answers the turn just before it), at most this many
# characters in all.
HISTORY_TURNS = 1
HISTORY_CHARS = 600


def looks_like_follow_up(text: str) -> bool:
    """True for turns that lean on the previous ones ("and for my wife?", "what about that one")."""
    if _CONTINUATION.search(text):
        return True
    words = re.findall(r"\w+", text)
    if len(words) <= _FRAGMENT_WORDS and _FRAGMENT.search(text):
        return True
    return len(words) <= _SHORT_WORDS and bool(_POINTER.search(text))


def without_cue(text: str) -> str:
    """The turn without its leading continuation cue ("and also what about X" -> "X"); unchanged when none."""
    stripped = text
    while (match := _CONTINUATION.search(stripped)) and match.end() < len(stripped.rstrip()):
        stripped = stripped[match.end() :].lstrip(" ,;:-")
    return stripped or text


def in_context(text: str, history: Sequence[str], turns: int = HISTORY_TURNS, chars: int = HISTORY_CHARS) -> str:
    """The message followed by the most recent earlier turns (newest first), cut to ``chars`` of history."""
    previous: list[str] = []
    budget = chars
    for turn in reversed([h for h in history if h.strip()][-turns:] if turns > 0 else []):
        piece = turn.strip()[:budget]
        if not piece:
            break
        previous.append(piece)
        budget -= len(piece)
    return "\n".join([text.strip(), *previous])


@functools.cache
def _subjects() -> tuple[str, ...]:
    with _SUBJECTS_FILE.open(encoding="utf-8") as handle:
        return tuple(str(s) for s in yaml.safe_load(handle)["subjects"])


class OtherSubjects:
    """Everyday subjects outside any policy; a follow-up close to one of them brings a subject of its own."""

    def __init__(self, encoder: SharedEncoder | None = None) -> None:
        self.encoder = encoder or shared_encoder()
        self._vectors: Vectors | None = None

    def vectors(self) -> Vectors:
        if self._vectors is None:
            self._vectors = index_builder.texts.embed(self.encoder, _subjects())
        return self._vectors

    def nearest(self, text: str, context: DetectorContext) -> tuple[str, float]:
        """The closest everyday subject and its cosine similarity to ``text``."""
        similarities = self.vectors() @ request_cache(context, self.encoder).embed_one(text)
        best = int(np.argmax(similarities))
        return _subjects()[best], float(similarities[best])

    def has_own_subject(self, text: str, context: DetectorContext) -> bool:
        # "and what's the capital of France?" is compared as "what's the capital of France?": the cue word only
        # says that a turn continues, not what it is about.
        return self.nearest(without_cue(text), context)[1] >= OWN_SUBJECT_SIMILARITY
