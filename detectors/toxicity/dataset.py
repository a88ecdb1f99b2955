"""The Davidson et al. tweet corpus (``../shared/data/toxicity/labeled_data.csv``) and the split issue 7 fixes.

``class``: 0 = hate speech, 1 = offensive language, 2 = neither (majority of the coders). The split is
``train_test_split(test_size=0.2, stratify=class, random_state=0)``; the 20% part is the test set and is only ever
scored, never used to fit or to choose anything. Hyper-parameters and thresholds are chosen on a development part
carved from the 80% with the same function (``DEV_SIZE``, seeded).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from detectors.data import shared_data

DATA_FILE = "toxicity/labeled_data.csv"
HATE, OFFENSIVE, NEITHER = 0, 1, 2
TEST_SIZE = 0.2
DEV_SIZE = 0.2  # of the 80%
SEED = 0


@dataclass(frozen=True)
class Corpus:
    texts: list[str]
    classes: npt.NDArray[np.int64]

    def subset(self, index: npt.NDArray[np.int64]) -> Corpus:
        return Corpus([self.texts[i] for i in index], self.classes[index])

    @property
    def toxic(self) -> npt.NDArray[np.int64]:
        """1 for hate or offensive, 0 for neither."""
        toxic: npt.NDArray[np.int64] = (self.classes != NEITHER).astype(np.int64)
        return toxic

    @property
    def hate(self) -> npt.NDArray[np.int64]:
        hate: npt.NDArray[np.int64] = (self.classes == HATE).astype(np.int64)
        return hate


def load_corpus(path: Path | None = None) -> Corpus:
    # A real CSV parser: 917 tweets have newlines inside quoted fields.
    with (path or shared_data(DATA_FILE)).open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return Corpus([row["tweet"] for row in rows], np.array([int(row["class"]) for row in rows], dtype=np.int64))


@dataclass(frozen=True)
class Split:
    train: npt.NDArray[np.int64]  # 80% minus dev: fits the heads
    dev: npt.NDArray[np.int64]  # carved from the 80%: chooses hyper-parameters and thresholds
    test: npt.NDArray[np.int64]  # the 20%: reported only


def split(corpus: Corpus) -> Split:
    from sklearn.model_selection import train_test_split

    index = np.arange(len(corpus.texts))
    rest, test = train_test_split(index, test_size=TEST_SIZE, stratify=corpus.classes, random_state=SEED)
    train, dev = train_test_split(rest, test_size=DEV_SIZE, stratify=corpus.classes[rest], random_state=SEED)
    return Split(np.asarray(train), np.asarray(dev), np.asarray(test))
