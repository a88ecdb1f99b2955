"""The offline checker's scoring head and the answer-level aggregation.

Per claim: support = logistic(w · features + b), a probability that the claim is supported, with the weights fitted
by ``python -m detectors.faithfulness.train`` on perturbations we generate ourselves (see MODEL_CARD.md) and applied
here in numpy.

Per answer: the claims' supports are combined by a weighted power mean with a negative exponent,

    support = (Σ wᵢ · sᵢ^p / Σ wᵢ)^(1/p),   p < 0,

with wᵢ the claim's number of content words and numbers. Why: one invented sentence makes an answer unfaithful, so
the combination must sit near the weakest claim (p → -∞ is the minimum), yet a short, low-content clause should not
outweigh several long, well-supported ones the way a plain minimum lets it. The arithmetic mean (p = 1) would let
three supported sentences hide a fabricated fourth. p is chosen on the development answers by train.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

WEIGHTS_DIR = Path(__file__).parent / "weights"
DEFAULT_HEAD = WEIGHTS_DIR / "offline_head.npz"
_FLOOR = 1e-3  # supports are floored so that a negative power stays finite


@dataclass(frozen=True)
class OfflineHead:
    feature_names: tuple[str, ...]
    coefficients: npt.NDArray[np.float64]
    intercept: float
    mean: npt.NDArray[np.float64]  # feature standardisation fitted with the weights
    scale: npt.NDArray[np.float64]
    power: float  # the aggregation exponent p (negative)

    def support(self, features: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Probability that each row's claim is supported by the context."""
        z = ((features - self.mean) / self.scale) @ self.coefficients + self.intercept
        result: npt.NDArray[np.float64] = 1.0 / (1.0 + np.exp(-z))
        return result

    def save(self, path: Path) -> None:
        np.savez(
            path,
            feature_names=np.array(self.feature_names),
            coefficients=self.coefficients,
            intercept=np.array(self.intercept),
            mean=self.mean,
            scale=self.scale,
            power=np.array(self.power),
        )

    @classmethod
    def load(cls, path: Path = DEFAULT_HEAD) -> OfflineHead:
        with np.load(path, allow_pickle=False) as data:
            return cls(
                feature_names=tuple(str(name) for name in data["feature_names"]),
                coefficients=np.asarray(data["coefficients"], dtype=np.float64),
                intercept=float(data["intercept"]),
                mean=np.asarray(data["mean"], dtype=np.float64),
                scale=np.asarray(data["scale"], dtype=np.float64),
                power=float(data["power"]),
            )


def aggregate(supports: Sequence[float], weights: Sequence[float], power: float) -> float:
    """Weighted power mean of claim supports (see the module docstring)."""
    if not supports:
        return 1.0
    s = np.clip(np.asarray(supports, dtype=np.float64), _FLOOR, 1.0)
    w = np.maximum(np.asarray(weights, dtype=np.float64), 1.0)
    if np.isinf(power):
        return float(s.min())
    return float(np.clip((np.sum(w * s**power) / np.sum(w)) ** (1.0 / power), 0.0, 1.0))
