"""The offline checker: claims → evidence → features → per-claim support. Shared by the detector and the tools."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from detectors.faithfulness.analysis import analyse
from detectors.faithfulness.claims import Claim, split_claims
from detectors.faithfulness.context import ContextIndex, build_index
from detectors.faithfulness.features import EVIDENCE_K, ClaimCheck, check_claim
from detectors.faithfulness.segment import Segment


class Embedder(Protocol):
    """What the checker needs from an embedding source (``EmbeddingCache`` in the pipeline)."""

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]: ...


@dataclass(slots=True)
class AnswerCheck:
    checks: list[ClaimCheck]
    set_aside: list[Segment]  # questions, boilerplate, claims with nothing to check
    index: ContextIndex


def check_claims(
    claims: Sequence[Claim],
    documents: Sequence[str],
    embedder: Embedder,
    evidence_k: int = EVIDENCE_K,
    answer: str = "",
) -> AnswerCheck:
    """Evidence and features for each claim. ``documents`` must hold some text."""
    index = build_index(documents, answer or " ".join(c.text for c in claims))
    facts = analyse([claim.text for claim in claims], index.proper_vocabulary)
    checkable = [(c, f) for c, f in zip(claims, facts, strict=True) if f.content or f.quantities]
    set_aside = [
        Segment(c.text, c.start, c.end) for c, f in zip(claims, facts, strict=True) if not (f.content or f.quantities)
    ]
    if not checkable or not index.sentences:
        return AnswerCheck([], set_aside, index)
    sentence_texts = [s.facts.text for s in index.sentences]
    clause_texts = [clause for s in index.sentences for clause in s.clauses]
    clause_owner = np.array([i for i, s in enumerate(index.sentences) for _ in s.clauses], dtype=np.int64)
    vectors = embedder.embed(sentence_texts + clause_texts + [c.text for c, _ in checkable])
    n_sentences, n_clauses = len(sentence_texts), len(clause_texts)
    sentence_vectors = np.asarray(vectors[:n_sentences])
    clause_vectors = np.asarray(vectors[n_sentences : n_sentences + n_clauses])
    claim_vectors = np.asarray(vectors[n_sentences + n_clauses :])
    similarities = claim_vectors @ sentence_vectors.T  # claims x sentences
    if n_clauses:
        by_clause = claim_vectors @ clause_vectors.T
        for row in range(len(claim_vectors)):  # a sentence is as similar as its most similar clause
            np.maximum.at(similarities[row], clause_owner, by_clause[row])
    checks = [
        check_claim(claim, fact, claim_vectors[i], similarities[i], index, sentence_vectors, evidence_k)
        for i, (claim, fact) in enumerate(checkable)
    ]
    return AnswerCheck(checks, set_aside, index)


def check_answer(
    answer: str,
    documents: Sequence[str],
    embedder: Embedder,
    evidence_k: int = EVIDENCE_K,
    max_claims: int = 64,
) -> AnswerCheck:
    """Every claim of ``answer`` with its evidence and features."""
    claims, set_aside = split_claims(answer)
    if len(claims) > max_claims:  # bound the cost of pathological answers; the rest is reported, not scored
        set_aside += [Segment(c.text, c.start, c.end) for c in claims[max_claims:]]
        claims = claims[:max_claims]
    result = check_claims(claims, documents, embedder, evidence_k, answer)
    result.set_aside = set_aside + result.set_aside
    return result
