"""The learned click detector below 40 kHz: logistic regressions over the candidate features of
:mod:`tools.algorithms.click_features`, one for narrowband audio (below 12 kHz, trained at 8 kHz)
and one for wideband (12-40 kHz: 16, 22.05, 24 and 32 kHz; trained at 16 kHz), by ``python -m evals.suites.click_model_train
[--rate 16000]``.

Why a learned weighing and not more hand-set tests: at 8 kHz speech fills the band, and what
tells a click from a glottal pulse or a plosive burst is several weak cues together (isolation,
recurrence before and after repair, onset steps, level); one threshold per cue cannot place
the boundary (measured on the repair eval's held-out split at 8 kHz: hand-set tests 74.9 %
recall at 12.2 false detections a minute). scikit-learn fits the weights offline; applying them
is one dot product, so the tool does not depend on it. The weights are data
(``click_model.json``: feature names, standardisation, coefficients, the split trained on).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tools.algorithms.click_features import FEATURES

WEIGHTS_PATH = Path(__file__).with_name("click_model.json")
WEIGHTS_16K_PATH = Path(__file__).with_name("click_model_16k.json")
# (upper sample-rate bound in Hz, exclusive; the weights serving rates below it): above the last,
# the hand-set tests of tools.declick decide (they meet the de-click eval at 44.1 and 48 kHz).
# The 16 kHz model also serves 22.05 and 32 kHz: on the repair eval (dev / held-out) 22.05 kHz
# went from 98.5 / 98.2 % recall at 0.36 / 3.24 false a minute (hand-set) to 98.1 / 98.9 % at
# 0 / 2.03, and 32 kHz from 98.1 / 98.2 % at 0.36 / 4.86 to 97.5 / 99.3 % at 0 / 3.65.
MODEL_RATES: tuple[tuple[int, Path], ...] = ((12_000, WEIGHTS_PATH), (40_000, WEIGHTS_16K_PATH))
# sensitivity 0 / 0.5 / 1 -> the probability a candidate must reach (chosen on the dev split's
# cross-validated scores: 0.8 is where false detections fall steeply for little recall)
PROBABILITY_STRICT, PROBABILITY_DEFAULT, PROBABILITY_LOOSE = 0.99, 0.8, 0.3


@dataclass(frozen=True)
class ClickModel:
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    def probability(self, features: np.ndarray) -> np.ndarray:
        """P(click) per row of ``features`` (columns in ``FEATURES`` order)."""
        if features.size == 0:
            return np.zeros(features.shape[0])
        z = (np.nan_to_num(features) - self.mean) / self.scale @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))


def load(path: Path = WEIGHTS_PATH) -> ClickModel:
    """The model stored at ``path``; its feature list must be today's ``FEATURES``."""
    data = json.loads(path.read_text())
    if tuple(data["features"]) != FEATURES:
        raise ValueError(f"{path}: trained on other features; retrain with "
                         "python -m evals.suites.click_model_train")
    return ClickModel(np.asarray(data["mean"]), np.asarray(data["scale"]),
                      np.asarray(data["coef"]), float(data["intercept"]))


def path_for(rate: int) -> Path | None:
    """The weights that serve ``rate``, or None where the hand-set tests decide."""
    return next((path for upper, path in MODEL_RATES if rate < upper), None)


def load_for(rate: int) -> ClickModel | None:
    """The shipped model for ``rate``, or None where the hand-set tests decide."""
    path = path_for(rate)
    return load(path) if path is not None else None


def min_probability(sensitivity: float) -> float:
    """The probability cut for a sensitivity from 0 (strict) to 1 (loose), linear in log-odds
    from strict to default and from default to loose."""
    def logit(p: float) -> float:
        return float(np.log(p / (1 - p)))
    if sensitivity <= 0.5:
        z = logit(PROBABILITY_STRICT) + (logit(PROBABILITY_DEFAULT) - logit(PROBABILITY_STRICT)) * sensitivity / 0.5
    else:
        z = logit(PROBABILITY_DEFAULT) + (logit(PROBABILITY_LOOSE) - logit(PROBABILITY_DEFAULT)) * (sensitivity - 0.5) / 0.5
    return float(1.0 / (1.0 + np.exp(-z)))
