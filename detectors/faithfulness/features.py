"""Per-claim evidence retrieval and the consistency features the offline checker scores.

For each claim the context sentences are ranked by cosine similarity of their shared-encoder embeddings; the top
``k`` are its evidence. The features then ask what similarity alone cannot: are the claim's words, word pairs,
numbers and names actually in that evidence (or anywhere in the context)? Does the claim negate what the evidence
states, use the opposite word, or the other gendered pronoun? Each feature is in 0..1; higher = less supported,
except the two similarities.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from detectors.faithfulness.analysis import Facts
from detectors.faithfulness.claims import Claim
from detectors.faithfulness.context import ContextIndex
from detectors.faithfulness.lexicon import ANTONYMS
from detectors.faithfulness.numbers import supported

FEATURES: tuple[str, ...] = (
    "similarity",  # cosine of the claim and its best context sentence (or clause of a long sentence)
    "similarity_top2",  # cosine of the claim and the mean of its two best sentences (claims fused from two)
    "coverage",  # share of the claim's content words found in the sentences it paraphrases (and the one before)
    "novel_terms",  # nouns, adjectives and names found nowhere in the context: 0, 1, 2, 3+ (as 0..1)
    "novel_other",  # verbs and adverbs found nowhere in the context: 0, 1, 2, 3+ (as 0..1)
    "missing_pairs",  # share of adjacent noun/adjective/name pairs not near each other in the evidence
    "number_missing_context",  # some number or date of the claim is nowhere in the context (by value)
    "number_missing_evidence",  # ... not in its evidence sentences
    "number_conflict",  # ... not in the sentences it paraphrases, which state a different one instead
    "name_missing_context",  # some name (entity or proper noun) is nowhere in the context
    "name_missing_evidence",  # ... not in its evidence (or the sentence before each, for pronouns)
    "name_conflict",  # ... not in the sentences it paraphrases, which name someone or something else instead
    "negation_mismatch",  # the claim's negation parity differs from its closest evidence sentence
    "antonym",  # the claim uses a word whose opposite the evidence uses instead
    "pronoun_mismatch",  # "she" where the evidence only says "he", or the reverse
)
# Features that can only raise support; every other feature can only lower it (train.py constrains the signs).
SUPPORTING_FEATURES = frozenset({"similarity", "similarity_top2", "coverage"})
EVIDENCE_K = 3
_PAIR_WINDOW = 3  # claim pair (a, b) counts as present when b follows a within 3 content words in a sentence

Vector = npt.NDArray[np.float32]


@dataclass(slots=True)
class ClaimCheck:
    """One claim, its evidence and its features (and why it looks unsupported, in words)."""

    claim: Claim
    facts: Facts
    features: npt.NDArray[np.float64]
    evidence: list[int]  # indices into ContextIndex.sentences, best first
    weight: float  # how much the claim counts in the answer's score: its content words and numbers
    reasons: list[str] = field(default_factory=list)


def claim_weight(facts: Facts) -> float:
    return float(len(set(facts.content)) + len(facts.quantities))


def _near_pairs(sequence: Sequence[str]) -> set[tuple[str, str]]:
    return {
        (sequence[i], sequence[j])
        for i in range(len(sequence))
        for j in range(i + 1, min(len(sequence), i + 1 + _PAIR_WINDOW))
    }


def _with_previous(index: ContextIndex, chosen: Sequence[int]) -> list[Facts]:
    """The chosen sentences and, for each, the sentence before it (which often names who "he" or "it" is)."""
    facts = [index.sentences[i].facts for i in chosen]
    for i in chosen:
        previous = index.previous(i)
        if previous is not None and previous not in chosen:
            facts.append(index.sentences[previous].facts)
    return facts


def _term_sequence(facts: Facts) -> list[str]:
    return [lemma for lemma, pos in zip(facts.content, facts.content_pos, strict=True) if pos not in ("VERB", "ADV")]


def _terms(facts: Sequence[Facts]) -> frozenset[str]:
    return frozenset().union(*(f.lemmas | f.words for f in facts)) if facts else frozenset()


def _same_kind(a: str, b: str) -> bool:
    """Kinds a substituted figure keeps: a date for a date, a count for a count (money and percent are counts)."""
    group = {"number": "count", "money": "count", "percent": "count", "decade": "count"}
    return group.get(a, a) == group.get(b, b)


def check_claim(
    claim: Claim,
    facts: Facts,
    claim_vector: Vector,
    similarities: npt.NDArray[np.float32],
    index: ContextIndex,
    sentence_vectors: Vector,
    k: int = EVIDENCE_K,
) -> ClaimCheck:
    """``similarities``: the claim's cosine with each context sentence (or its most similar clause)."""
    order = [int(i) for i in np.argsort(-similarities)[:k]]
    best = order[0]
    similarity = float(similarities[best])
    if len(order) > 1:
        mixed = sentence_vectors[order[0]] + sentence_vectors[order[1]]
        similarity_top2 = float(mixed @ claim_vector / (np.linalg.norm(mixed) + 1e-9))
    else:
        similarity_top2 = similarity
    evidence = [index.sentences[i].facts for i in order]
    # The sentences the claim actually paraphrases: those sharing at least half as many content words with it as
    # the best one (a fused claim keeps both its sources). A number or name missing from these while they state a
    # different one is the signature of a substitution ("185 km" where the paraphrased sentence says "260 km").
    claim_content = set(facts.content)
    overlaps = [len(set(f.content) & claim_content) for f in evidence]
    aligned = [i for i, overlap in zip(order, overlaps, strict=True) if overlap >= max(1.0, 0.5 * max(overlaps))]
    aligned = aligned or order[:1]
    aligned_facts = [index.sentences[i].facts for i in aligned]
    with_previous = _with_previous(index, aligned)
    evidence_with_previous = _with_previous(index, order)
    aligned_terms = _terms(with_previous)
    evidence_terms = _terms(evidence)
    context_terms = index.lemmas | index.words
    reasons: list[str] = []

    content = list(dict.fromkeys(zip(facts.content, facts.content_words, facts.content_pos, strict=True)))
    covered = [1 for lemma, word, _ in content if lemma in aligned_terms or word in aligned_terms]
    coverage = len(covered) / len(content) if content else 1.0
    novel = [(word, pos) for lemma, word, pos in content if lemma not in context_terms and word not in context_terms]
    novel_terms = [word for word, pos in novel if pos not in ("VERB", "ADV")]
    novel_other = [word for word, pos in novel if pos in ("VERB", "ADV")]
    if novel:
        reasons.append("words not in the context: " + ", ".join(word for word, _ in novel[:8]))

    # Pairs of nouns, adjectives and names only: who-did-what-to-whom errors reorder those, while a paraphrase
    # mostly changes the verbs and adverbs between them.
    claim_terms = _term_sequence(facts)
    claim_pairs = set(itertools.pairwise(claim_terms))
    evidence_pairs = set().union(*(_near_pairs(_term_sequence(f)) for f in evidence))
    missing_pairs = len(claim_pairs - evidence_pairs) / len(claim_pairs) if claim_pairs else 0.0

    aligned_numbers = [q for f in aligned_facts for q in f.quantities]
    numbers_missing_context = [q.text for q in facts.quantities if not supported(q, list(index.quantities))]
    numbers_missing_evidence = [
        q.text for q in facts.quantities if not supported(q, [n for f in evidence for n in f.quantities])
    ]
    unmatched_aligned = [n for n in aligned_numbers if not any(n.matches(q) or q.matches(n) for q in facts.quantities)]
    number_conflict = [
        q.text
        for q in facts.quantities
        if not supported(q, aligned_numbers) and any(_same_kind(q.kind, n.kind) for n in unmatched_aligned)
    ]
    if numbers_missing_context:
        reasons.append("numbers not in the context: " + ", ".join(numbers_missing_context))
    elif number_conflict:
        reasons.append("numbers differ from the evidence: " + ", ".join(number_conflict))
    elif numbers_missing_evidence:
        reasons.append("numbers not in the evidence: " + ", ".join(numbers_missing_evidence))

    names = sorted(facts.names)
    names_missing_context = [n for n in names if n not in context_terms]
    names_missing_evidence = [n for n in names if n not in _terms(evidence_with_previous)]
    other_names = frozenset().union(*(f.names for f in aligned_facts)) - facts.names - facts.words
    names_conflict = [n for n in names if n not in aligned_terms] if other_names else []
    if names_missing_context:
        reasons.append("names not in the context: " + ", ".join(names_missing_context))
    elif names_conflict:
        reasons.append("names differ from the evidence: " + ", ".join(names_conflict))
    elif names_missing_evidence:
        reasons.append("names not in the evidence: " + ", ".join(names_missing_evidence))

    closest = max(evidence, key=lambda f: len(set(f.content) & claim_content))
    negation_mismatch = float(facts.negations % 2 != closest.negations % 2)
    if negation_mismatch:
        reasons.append("negation differs from the evidence: " + repr(closest.text[:160]))

    evidence_lemmas = frozenset().union(*(f.lemmas for f in evidence))
    flips = [
        f"{lemma} / {', '.join(sorted(ANTONYMS[lemma] & evidence_lemmas))}"
        for lemma in sorted(facts.lemmas)
        if lemma in ANTONYMS and lemma not in evidence_terms and ANTONYMS[lemma] & evidence_lemmas
    ]
    if flips:
        reasons.append("opposite words: " + "; ".join(flips))

    evidence_genders = frozenset().union(*(f.genders for f in with_previous))
    pronoun_mismatch = float(bool(evidence_genders) and bool(facts.genders - evidence_genders))
    if pronoun_mismatch:
        reasons.append("pronoun gender differs from the evidence")

    values = np.array(
        [
            similarity,
            similarity_top2,
            coverage,
            min(len(novel_terms), 3) / 3,
            min(len(novel_other), 3) / 3,
            missing_pairs,
            float(bool(numbers_missing_context)),
            float(bool(numbers_missing_evidence)),
            float(bool(number_conflict)),
            float(bool(names_missing_context)),
            float(bool(names_missing_evidence)),
            float(bool(names_conflict)),
            negation_mismatch,
            float(bool(flips)),
            pronoun_mismatch,
        ],
        dtype=np.float64,
    )
    return ClaimCheck(claim, facts, values, order, claim_weight(facts), reasons)
