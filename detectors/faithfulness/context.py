"""The request's context documents, split into sentences and analysed once.

The same context is checked again and again — once per streamed window, and often across the turns of one
conversation — so the analysed form is kept in a small per-process LRU keyed by the documents' text. Embeddings are
not kept here: they go through the request's shared ``EmbeddingCache``.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from detectors.faithfulness.analysis import Facts, analyse
from detectors.faithfulness.lexicon import STOPWORDS
from detectors.faithfulness.numbers import Quantity
from detectors.faithfulness.segment import split_sentences

# Above this many context sentences, only those sharing the most words with the answer are analysed and embedded:
# cost stays bounded for long retrieval contexts, and a sentence that shares no word with the answer is rarely its
# evidence.
MAX_ANALYSED_SENTENCES = 160
_CACHE_SIZE = 32
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


@dataclass(frozen=True, slots=True)
class ContextSentence:
    facts: Facts
    document: int  # index into context_documents
    position: int  # index of the sentence within its document
    start: int  # character offsets within its document
    end: int
    clauses: tuple[str, ...] = ()  # the clauses of a long sentence, embedded too (see clauses_of)


# A long sentence says several things; a short claim that restates one of them resembles that clause far more
# than the whole sentence ("It is 330 metres tall." vs a 40-word sentence). Long sentences are therefore also
# embedded clause by clause, and a claim's similarity to a sentence is the best of the whole and its clauses.
CLAUSE_MIN_SENTENCE_WORDS = 18
_CLAUSE_BREAK = re.compile(
    r";\s+|:\s+|\s+\u2014\s+|,\s+(?=(?:and|but|while|which|who|whose|where|although|though|as|after|before)\b)"
    r"|\s+(?=(?:and|but)\s+(?:was|were|is|are|has|had|have|did|will|would|could|can|he|she|it|they)\b)"
)


def clauses_of(sentence: str) -> tuple[str, ...]:
    if len(sentence.split()) < CLAUSE_MIN_SENTENCE_WORDS:
        return ()
    pieces = [p.strip(" ,;:") for p in _CLAUSE_BREAK.split(sentence)]
    pieces = [p for p in pieces if len(p.split()) >= 4]
    return tuple(pieces[:4]) if len(pieces) > 1 else ()


@dataclass(frozen=True, slots=True)
class ContextIndex:
    sentences: tuple[ContextSentence, ...]
    words: frozenset[str]  # every lower-cased word of the whole context (analysed or not)
    lemmas: frozenset[str]
    names: frozenset[str]
    quantities: tuple[Quantity, ...]
    proper_vocabulary: frozenset[str]  # words the context writes capitalised and never in lower case

    def previous(self, index: int) -> int | None:
        """The index of the sentence before sentence ``index`` in the same document, if it was analysed (a
        pronoun's antecedent usually lives there)."""
        if index > 0:
            candidate, sentence = self.sentences[index - 1], self.sentences[index]
            if candidate.document == sentence.document and candidate.position == sentence.position - 1:
                return index - 1
        return None


class _Lru:
    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[str, ContextIndex] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> ContextIndex | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: str, value: ContextIndex) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


_cache = _Lru(_CACHE_SIZE)


def _words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text)}


def is_oversized(documents: Sequence[str]) -> bool:
    """More sentences than are analysed: which ones are kept then depends on the answer."""
    return sum(len(split_sentences(doc)) for doc in documents) > MAX_ANALYSED_SENTENCES


def build_index(documents: Sequence[str], answer: str = "") -> ContextIndex:
    """Analyse ``documents``. ``answer`` only matters for very long contexts, where it picks the sentences kept."""
    key_source = "\x1e".join(documents)
    segments = [(d, p, seg) for d, doc in enumerate(documents) for p, seg in enumerate(split_sentences(doc))]
    oversized = len(segments) > MAX_ANALYSED_SENTENCES
    key = hashlib.sha256(key_source.encode()).hexdigest()
    if oversized:
        key += ":" + hashlib.sha256(answer.encode()).hexdigest()
    cached = _cache.get(key)
    if cached is not None:
        return cached
    if oversized:
        answer_words = _words(answer) - STOPWORDS
        ranked = sorted(range(len(segments)), key=lambda i: -len(answer_words & _words(segments[i][2].text)))
        keep = set(ranked[:MAX_ANALYSED_SENTENCES])
        # Keep each kept sentence's predecessor too: it often names who "he" or "it" is.
        keep |= {i - 1 for i in keep if i > 0 and segments[i - 1][0] == segments[i][0]}
        chosen = [segments[i] for i in sorted(keep)]
    else:
        chosen = segments
    first_pass = analyse([seg.text for _, _, seg in chosen])
    capitalised = frozenset().union(*(f.capitalised for f in first_pass)) if first_pass else frozenset()
    written_lower = frozenset().union(*(f.written_lower for f in first_pass)) if first_pass else frozenset()
    proper = frozenset(capitalised - written_lower - STOPWORDS)
    sentences = [
        ContextSentence(facts, document, position, segment.start, segment.end, clauses_of(segment.text))
        for (document, position, segment), facts in zip(chosen, first_pass, strict=True)
    ]
    all_words: set[str] = set()
    for doc in documents:
        all_words |= _words(doc)
    index = ContextIndex(
        sentences=tuple(sentences),
        words=frozenset(all_words),
        lemmas=frozenset().union(*(s.facts.lemmas for s in sentences)) if sentences else frozenset(),
        names=frozenset().union(*(s.facts.names for s in sentences)) if sentences else frozenset(),
        quantities=tuple(q for s in sentences for q in s.facts.quantities),
        proper_vocabulary=proper,
    )
    _cache.put(key, index)
    return index
