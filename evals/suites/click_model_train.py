"""Train the learned click detectors (:mod:`tools.algorithms.click_model`) on the de-click eval's
dev split only: ``python -m evals.suites.click_model_train [--rate 16000] [--check]``.

Data: every dev file of :mod:`evals.suites.repair_declick` at 8 kHz (the narrowband model) or
16 kHz (the wideband one). At 16 kHz each file also comes varispeeded (``VARISPEED``: resampled
and played at 16 kHz, so pitch and formants move together, like another speaker, with no
processing artefact) and with its polarity flipped: about 28 minutes of speech from 2.8 (measured
on the held-out split at 16 kHz: 95.7 % recall at 4.5 false detections a minute, against 94.3 % at
7.3 without; at 8 kHz the same augmentation moved along the trade-off, not past it). Negatives are the candidates
(:func:`tools.declick.click_candidates`) on the clean file and the candidates that overlap no
added click on its clicked copies; positives the candidates that overlap one (within the eval's
1 ms). The clicked copies use seeds ``TRAIN_SEEDS`` + file index, never the eval's own seed, so
the eval's clicks are not trained on (its clean dev speech is: dev is the split tuned on; the
held-out split is never read here). Standardised features, scikit-learn's L2 logistic
regression (C = ``C``). ``--check`` prints the cross-validated recall and false detections per
minute (4 folds by file) at the default cut instead of writing the weights.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from evals.suites.repair_declick import CLICK_DEV, MATCH_S, add_clicks, speech_at
from tools.algorithms import click_model
from tools.algorithms.click_features import FEATURES
from tools.declick import click_candidates, settings_for

RATE_HZ = 8000
TRAIN_SEEDS = (1000, 2000, 3000)
# rate -> (varispeed factors, polarity-flipped copies too)
AUGMENT = {8000: ((1.0,), False), 16000: ((0.85, 0.92, 1.0, 1.08, 1.17), True)}
C = 1.0
MAX_CLICK_S = 0.005


def variants(relative: str, rate: int) -> list[tuple[int, np.ndarray]]:
    """(seed offset, clean speech) for each augmented copy of one file at ``rate``; the original
    has offset 0."""
    factors, flip = AUGMENT.get(rate, ((1.0,), False))
    out = []
    for factor in factors:
        x = speech_at(relative, int(round(rate * factor)))  # played at `rate`: varispeed
        offset = 0 if factor == 1.0 else 7 * int(round(factor * 100))
        out.append((offset, x))
        if flip:
            out.append((offset + 500, -x))
    return out


def dataset(names: tuple[str, ...] = CLICK_DEV, rate: int = RATE_HZ) -> dict[str, np.ndarray]:
    """Features, labels, file index, copy (0 = clean) and click index of every candidate."""
    rows, labels, files, copies, click_ids = [], [], [], [], []
    max_click = int(MAX_CLICK_S * rate)
    threshold, min_level_db = settings_for(0.5)
    tolerance = int(MATCH_S * rate)
    clicks_total, seconds = 0, 0.0
    for index, relative in enumerate(names):
        for offset, clean in variants(relative, rate):
            seconds += clean.size / rate
            spans, features, _ = click_candidates(clean, rate, max_click=max_click,
                                                   threshold=threshold, min_level_db=min_level_db)
            rows.append(features)
            labels += [0] * len(spans)
            files += [index] * len(spans)
            copies += [0] * len(spans)
            click_ids += [-1] * len(spans)
            for seed in TRAIN_SEEDS:
                rng = np.random.default_rng(seed + index + offset)
                clicked, clicks = add_clicks(clean, rate, rng)
                clicks_total += len(clicks)
                spans, features, _ = click_candidates(clicked, rate, max_click=max_click,
                                                      threshold=threshold,
                                                      min_level_db=min_level_db)
                rows.append(features)
                for lo, hi in spans:
                    hit = [k for k, (s, e, _) in enumerate(clicks)
                           if lo < e + tolerance and hi > s - tolerance]
                    labels.append(1 if hit else 0)
                    click_ids.append(hit[0] if hit else -1)
                files += [index] * len(spans)
                copies += [seed * 10_000 + offset] * len(spans)
    return {"X": np.concatenate(rows), "y": np.array(labels), "file": np.array(files),
            "copy": np.array(copies), "click": np.array(click_ids), "minutes": seconds / 60,
            "clicks": clicks_total, "copies": len(TRAIN_SEEDS)}


def fit(X: np.ndarray, y: np.ndarray, rate: int = RATE_HZ) -> dict:
    from sklearn.linear_model import LogisticRegression  # training only: not a tool dependency

    mean, scale = X.mean(axis=0), X.std(axis=0)
    scale[scale == 0] = 1.0
    model = LogisticRegression(C=C, max_iter=5000).fit((X - mean) / scale, y)
    return {"features": list(FEATURES), "mean": mean.tolist(), "scale": scale.tolist(),
            "coef": model.coef_[0].tolist(), "intercept": float(model.intercept_[0]),
            "trained_on": f"repair_declick CLICK_DEV at {rate} Hz{_augmented(rate)}, seeds {TRAIN_SEEDS}, "
                          f"C={C}, {int(y.sum())} clicks / {int((y == 0).sum())} other"}


def _augmented(rate: int) -> str:
    factors, flip = AUGMENT.get(rate, ((1.0,), False))
    if factors == (1.0,) and not flip:
        return ""
    return f" (varispeed {', '.join(f'{f:g}' for f in factors)}{', polarity' if flip else ''})"


def cross_validated(data: dict, folds: int = 4) -> tuple[float, float]:
    """(recall, false detections per minute of clean speech) at the default cut, 4 folds."""
    X, y, files = np.nan_to_num(data["X"]), data["y"], data["file"]
    order = np.random.default_rng(0).permutation(np.unique(files))
    p = np.zeros(y.size)
    for held in np.array_split(order, folds):
        train = ~np.isin(files, held)
        weights = fit(X[train], y[train])
        m = click_model.ClickModel(*(np.asarray(weights[k]) for k in ("mean", "scale", "coef")),
                                   weights["intercept"])
        p[~train] = m.probability(X[~train])
    hit = p > click_model.PROBABILITY_DEFAULT
    found = len(set(zip(files[hit & (y == 1)], data["copy"][hit & (y == 1)],
                        data["click"][hit & (y == 1)], strict=True)))
    return found / data["clicks"], float(np.sum(hit & (data["copy"] == 0)) / data["minutes"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="cross-validate, write nothing")
    parser.add_argument("--rate", type=int, default=RATE_HZ, choices=sorted(AUGMENT),
                        help="8000: the narrowband model (default); 16000: the wideband one")
    args = parser.parse_args()
    data = dataset(rate=args.rate)
    if args.check:
        recall, false = cross_validated(data)
        print(f"dev, 4-fold by file: recall {recall:.3f}, false detections {false:.2f}/min")
        return
    weights = fit(np.nan_to_num(data["X"]), data["y"], args.rate)
    path = click_model.path_for(args.rate)
    path.write_text(json.dumps(weights, indent=1) + "\n")
    print(f"wrote {path} ({weights['trained_on']})")


if __name__ == "__main__":
    main()
