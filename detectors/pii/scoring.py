"""Span-level PII scoring, computed the way presidio-evaluator's ``SpanEvaluator`` computes it.

We follow presidio-evaluator 0.3.2 (``presidio_evaluator/evaluation/span_evaluator.py``,
``span_to_tag.py``, ``evaluation/skipwords.py``) step by step rather than depend on it (it pins pandas 3,
plotly and Faker):

1. Tokenise each text with spaCy's English tokenizer and turn gold and predicted character spans into IO tags
   (one tag per token; overlapping predictions are resolved by score exactly as ``span_to_tag`` does).
2. Map gold tags to the names Presidio emits (``GOLD_TO_PRESIDIO``); types with no Presidio counterpart keep
   their own name, so they stay in the denominator and count as misses until something emits them.
3. Rebuild spans from runs of equal tags, drop "skip words" (punctuation, stop words, street/title words) from
   each span's normalised extent, and merge same-type spans separated only by skip words.
4. For each gold span, take every predicted span that overlaps it, group them by type and compute the
   character IoU of each group; a same-type group at or above the IoU threshold is a true positive.
   Predictions that overlap no gold span are false positives. Precision = TP / predicted, recall = TP / gold,
   F-beta with beta = 2.

``iou_threshold=0.0`` means "any overlap of the mapped type counts" (the protocol of the issue); presidio-evaluator's
own default is 0.9, which we report beside it.
"""

from __future__ import annotations

import string
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

# presidio-evaluator's default mapping (PresidioAnalyzerWrapper.presidio_entities_map) restricted to the types
# that occur in synth_dataset_v2.json. Identity entries are listed so the table documents every gold type.
GOLD_TO_PRESIDIO: dict[str, str] = {
    "PERSON": "PERSON",
    "STREET_ADDRESS": "LOCATION",
    "GPE": "LOCATION",
    "ORGANIZATION": "ORGANIZATION",
    "CREDIT_CARD": "CREDIT_CARD",
    "DATE_TIME": "DATE_TIME",
    "TITLE": "TITLE",  # no predefined Presidio recognizer; ours emits it
    "PHONE_NUMBER": "PHONE_NUMBER",
    "AGE": "AGE",  # no predefined Presidio recognizer; ours emits it
    "NRP": "NRP",
    "EMAIL_ADDRESS": "EMAIL_ADDRESS",
    "ZIP_CODE": "ZIP_CODE",  # no predefined Presidio recognizer; ours emits it
    "DOMAIN_NAME": "URL",
    "IBAN_CODE": "IBAN_CODE",
    "US_SSN": "US_SSN",
    "IP_ADDRESS": "IP_ADDRESS",
    "US_DRIVER_LICENSE": "US_DRIVER_LICENSE",
}


def default_skip_words() -> frozenset[str]:
    """presidio-evaluator's default skip words: punctuation, whitespace, spaCy's stop words and a few more."""
    from spacy.lang.en.stop_words import STOP_WORDS

    words = set(string.punctuation) | set(string.whitespace)
    words |= {"", " ", "\n\n", "\n\n\n", "\n\n\n\n", "\t\t", "\t\t\t", "\t\t\t\t"}
    words |= {">>", ">>>", ">>>>", ">>>>>", ">>>>>>"}
    words |= {
        "'s", "street", "st.", "st", "de", "rue", "via", "and", "a", "the", "or", "do", "as", "of", "day",
        "address", "country", "state", "city", "zip", "po", "apt", "unit", "corner", "p.o.", "box", "suite",
        "mr.", "mrs.", "miss", "year", "years", "y/o", "month", "months", "old", "morning", "noon", "afternoon",
        "night", "evening", "this", "first", "last", "week", "weeks", "weekend", "days", "age", "ago", "inc",
        "inc.", "ltd",
    }  # fmt: skip
    words |= set(STOP_WORDS)
    return frozenset(words)


@dataclass(frozen=True, slots=True)
class CharSpan:
    """A labelled character range of a text: ``[start, end)``."""

    start: int
    end: int
    entity_type: str
    score: float = 0.5


@dataclass(frozen=True, slots=True)
class Token:
    text: str
    idx: int


Tokenizer = Callable[[str], Sequence[Token]]


@dataclass(slots=True)
class _Span:
    entity_type: str
    start: int  # character offset of the first token
    end: int  # character end of the last token
    norm_start: int
    norm_end: int
    token_start: int
    token_end: int  # exclusive


@dataclass(slots=True)
class TypeCounts:
    annotated: int = 0
    predicted: int = 0
    true_positives: int = 0


@dataclass(slots=True)
class SpanScores:
    """Per-type counts of one scoring pass; typed (per entity) and untyped (PII vs not) passes both use it."""

    per_type: dict[str, TypeCounts] = field(default_factory=lambda: defaultdict(TypeCounts))

    def add(self, other: SpanScores) -> None:
        for name, counts in other.per_type.items():
            mine = self.per_type[name]
            mine.annotated += counts.annotated
            mine.predicted += counts.predicted
            mine.true_positives += counts.true_positives

    def totals(self) -> TypeCounts:
        total = TypeCounts()
        for counts in self.per_type.values():
            total.annotated += counts.annotated
            total.predicted += counts.predicted
            total.true_positives += counts.true_positives
        return total


def f_beta(precision: float, recall: float, beta: float = 2.0) -> float:
    if precision + recall == 0:
        return 0.0
    return (1 + beta**2) * precision * recall / (beta**2 * precision + recall)


def metrics(counts: TypeCounts, beta: float = 2.0) -> dict[str, float | int]:
    precision = counts.true_positives / counts.predicted if counts.predicted else 0.0
    recall = counts.true_positives / counts.annotated if counts.annotated else 0.0
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f2": round(f_beta(precision, recall, beta), 4),
        "gold": counts.annotated,
        "predicted": counts.predicted,
        "tp": counts.true_positives,
    }


def _resolve_overlaps(spans: Sequence[CharSpan]) -> list[tuple[int, int, str, float]]:
    """presidio-evaluator's ``_handle_overlaps``: where spans intersect, the higher score keeps the characters."""
    ordered = sorted(((s.start, s.end, s.entity_type, s.score) for s in spans), key=lambda item: item[0])
    start = [item[0] for item in ordered]
    end = [item[1] for item in ordered]
    tag = [item[2] for item in ordered]
    score = [item[3] for item in ordered]
    count = len(start)
    i = 0
    while i < count - 1:
        for j in range(i + 1, count):
            if start[i] <= start[j] <= end[i]:
                if score[i] > score[j]:
                    if start[i] <= end[j] <= end[i]:
                        score[j] = 0
                    else:
                        start[j] = end[i] + 1
                elif end[j] < end[i]:
                    start.append(end[j] + 1)
                    end.append(end[i])
                    score.append(score[i])
                    tag.append(tag[i])
                    count += 1
                    end[i] = start[j] - 1
                else:
                    end[i] = start[j] - 1
        i += 1
    return sorted(zip(start, end, tag, score, strict=True), key=lambda item: item[0])


def io_tags(tokens: Sequence[Token], spans: Sequence[CharSpan]) -> list[str]:
    """One tag per token: the first span (by start) whose range holds the token start, else ``O``."""
    resolved = _resolve_overlaps(spans)
    tags: list[str] = []
    for token in tokens:
        token_end = token.idx + len(token.text)
        for start, end, tag, _ in resolved:
            starts_inside = start <= token.idx < end
            within_token = token.idx <= start <= token_end and token.idx <= end <= token_end
            if starts_inside or within_token:
                tags.append(tag)
                break
        else:
            tags.append("O")
    return tags


def _spans_from_tags(tokens: Sequence[Token], tags: Sequence[str], skip_words: frozenset[str]) -> list[_Span]:
    spans: list[_Span] = []
    run_start: int | None = None

    def close(first: int, stop: int) -> None:
        kept = [tokens[k] for k in range(first, stop) if tokens[k].text.lower() not in skip_words]
        if not kept:  # a span made only of skip words disappears, as in presidio-evaluator
            return
        last = tokens[stop - 1]
        spans.append(
            _Span(
                entity_type=tags[first],
                start=tokens[first].idx,
                end=last.idx + len(last.text),
                norm_start=min(t.idx for t in kept),
                norm_end=max(t.idx + len(t.text) for t in kept),
                token_start=first,
                token_end=stop,
            )
        )

    for position, tag in enumerate(tags):
        if run_start is not None and tag != tags[run_start]:
            close(run_start, position)
            run_start = None
        if tag != "O" and run_start is None:
            run_start = position
    if run_start is not None:
        close(run_start, len(tags))
    return _merge_adjacent(spans, tokens, skip_words)


def _merge_adjacent(spans: list[_Span], tokens: Sequence[Token], skip_words: frozenset[str]) -> list[_Span]:
    if not spans:
        return []
    ordered = sorted(spans, key=lambda s: s.start)
    merged: list[_Span] = []
    current = ordered[0]
    for following in ordered[1:]:
        between = tokens[current.token_end : following.token_start]
        if following.entity_type == current.entity_type and all(t.text.lower().strip() in skip_words for t in between):
            current = _Span(
                entity_type=current.entity_type,
                start=current.start,
                end=following.end,
                norm_start=min(current.norm_start, following.norm_start),
                norm_end=max(current.norm_end, following.norm_end),
                token_start=current.token_start,
                token_end=following.token_end,
            )
        else:
            merged.append(current)
            current = following
    merged.append(current)
    return merged


def _iou(a: _Span, b: _Span) -> float:
    if a.norm_end < b.norm_start or b.norm_end < a.norm_start:
        return 0.0
    intersection = min(a.norm_end, b.norm_end) - max(a.norm_start, b.norm_start)
    if intersection == 0:
        return 0.0
    union = max(a.norm_end, b.norm_end) - min(a.norm_start, b.norm_start)
    return intersection / union if union else 0.0


def _combined_iou(gold: _Span, predictions: Sequence[_Span]) -> float:
    # Character sets exactly as presidio-evaluator builds them (inclusive ends; later spans shifted by one).
    gold_chars = set(range(gold.norm_start, gold.norm_end + 1))
    predicted: set[int] = set()
    for position, span in enumerate(predictions):
        if position == 0:
            predicted.update(range(span.norm_start, span.norm_end + 1))
        else:
            predicted.update(range(span.norm_start - 1, span.norm_end))
    union = len(gold_chars | predicted)
    return len(gold_chars & predicted) / union if union else 0.0


def _match(gold_spans: list[_Span], predicted_spans: list[_Span], iou_threshold: float) -> SpanScores:
    scores = SpanScores()
    touched: set[tuple[str, int, int]] = set()
    for gold in gold_spans:
        scores.per_type[gold.entity_type].annotated += 1
        overlapping = [(p, iou) for p in predicted_spans if (iou := _iou(gold, p)) > 0]
        overlapping.sort(key=lambda item: item[0].start)
        touched.update((p.entity_type, p.start, p.end) for p, _ in overlapping)
        if not overlapping:
            continue
        if len(overlapping) == 1:
            span, iou = overlapping[0]
            scores.per_type[span.entity_type].predicted += 1
            if iou >= iou_threshold and span.entity_type == gold.entity_type:
                scores.per_type[gold.entity_type].true_positives += 1
            continue
        groups: dict[str, list[_Span]] = {}
        for span, _ in overlapping:
            groups.setdefault(span.entity_type, []).append(span)
        for entity_type, members in groups.items():
            scores.per_type[entity_type].predicted += 1
            if entity_type == gold.entity_type and _combined_iou(gold, members) >= iou_threshold:
                scores.per_type[gold.entity_type].true_positives += 1
    for span in predicted_spans:
        if (span.entity_type, span.start, span.end) not in touched:
            scores.per_type[span.entity_type].predicted += 1
    return scores


@dataclass(slots=True)
class SpanEvaluation:
    """Typed (per entity) and untyped (any PII) scores of a whole run."""

    typed: SpanScores
    untyped: SpanScores


class SpanScorer:
    """Scores predicted character spans against gold spans, text by text."""

    def __init__(
        self,
        tokenizer: Tokenizer,
        iou_threshold: float = 0.0,
        gold_mapping: dict[str, str] | None = None,
        skip_words: Iterable[str] | None = None,
    ) -> None:
        self._tokenize = tokenizer
        self.iou_threshold = iou_threshold
        self.gold_mapping = GOLD_TO_PRESIDIO if gold_mapping is None else gold_mapping
        self.skip_words = default_skip_words() if skip_words is None else frozenset(skip_words)

    def score_text(self, text: str, gold: Sequence[CharSpan], predicted: Sequence[CharSpan]) -> SpanEvaluation:
        tokens = self._tokenize(text)
        gold_tags = [self.gold_mapping.get(t, t) for t in io_tags(tokens, gold)]
        predicted_tags = io_tags(tokens, predicted)
        typed = _match(
            _spans_from_tags(tokens, gold_tags, self.skip_words),
            _spans_from_tags(tokens, predicted_tags, self.skip_words),
            self.iou_threshold,
        )
        untyped = _match(
            _spans_from_tags(tokens, ["O" if t == "O" else "PII" for t in gold_tags], self.skip_words),
            _spans_from_tags(tokens, ["O" if t == "O" else "PII" for t in predicted_tags], self.skip_words),
            self.iou_threshold,
        )
        return SpanEvaluation(typed=typed, untyped=untyped)

    def score_all(self, items: Iterable[tuple[str, Sequence[CharSpan], Sequence[CharSpan]]]) -> SpanEvaluation:
        total = SpanEvaluation(typed=SpanScores(), untyped=SpanScores())
        for text, gold, predicted in items:
            one = self.score_text(text, gold, predicted)
            total.typed.add(one.typed)
            total.untyped.add(one.untyped)
        return total


def spacy_tokenizer(model: object) -> Tokenizer:
    """Wrap a loaded spaCy pipeline's tokenizer (the one presidio-evaluator uses is en_core_web_sm's)."""
    tokenizer = model.tokenizer  # type: ignore[attr-defined]

    def tokenize(text: str) -> list[Token]:
        return [Token(t.text, t.idx) for t in tokenizer(text)]

    return tokenize
