"""Suite ``metrics``: the metric functions checked against known answers.

- ``sdr_db`` against every set in ``corpus/bsseval-regression`` (mir_eval's own regression vectors:
  ``refNN/*.wav`` and ``estNN/*.wav`` stacked in sorted order, expected scores in
  ``outputNN.json`` under ``"Sources"``), within ``BSS_TOLERANCE_DB``.
- ``si_sdr_db`` on synthetic cases whose answer is known exactly (no corpus needed).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from evals.corpus import CorpusMissing, corpus_path
from evals.metrics import sdr_db, si_sdr_db
from evals.runner import SuiteResult
from tools.core.audio import load

BSS_TOLERANCE_DB = 0.01  # mir_eval's own tests use an absolute tolerance of 1e-2
SI_SDR_TOLERANCE_DB = 1e-6
_KEYS = {"sdr_db": "Source to Distortion", "sir_db": "Source to Interference",
         "sar_db": "Source to Artifact"}


def _stack(folder: Path) -> np.ndarray:
    """The WAVs in ``folder``, sorted by name, each mixed to mono (the mean of its channels, as
    ``mir_eval.io.load_wav`` does: set 06 is stereo), stacked as ``(n_sources, n)``."""
    return np.vstack([load(path).samples.mean(axis=0) for path in sorted(folder.glob("*.wav"))])


def _max_abs_error(got: tuple[float, ...], expected: list[float]) -> float:
    """Max |got - expected|; equal infinities (a single source has SIR = inf) count as 0."""
    errors = [0.0 if g == e else abs(g - e) for g, e in zip(got, expected, strict=True)]
    return float(max(errors))


def bss_regression_rows(root: Path) -> list[dict]:
    rows = []
    for expected_path in sorted(root.glob("output*.json")):
        set_id = expected_path.stem.removeprefix("output")
        expected = json.loads(expected_path.read_text())["Sources"]
        scores = sdr_db(_stack(root / f"ref{set_id}"), _stack(root / f"est{set_id}"))
        errors = {key: _max_abs_error(getattr(scores, key), expected[name])
                  for key, name in _KEYS.items()}
        same_perm = list(scores.permutation) == list(expected["Source permutation"])
        worst = max(errors.values())
        rows.append({
            "case": f"bss_eval set {set_id}",
            "sources": len(scores.sdr_db),
            "mean_sdr_db": float(np.mean(scores.sdr_db)),
            "max_err_sdr_db": errors["sdr_db"],
            "max_err_sir_db": errors["sir_db"],
            "max_err_sar_db": errors["sar_db"],
            "permutation_ok": same_perm,
            "pass": same_perm and worst <= BSS_TOLERANCE_DB,
        })
    if not rows:
        raise CorpusMissing(root, detail="no outputNN.json files in it")
    return rows


def _orthogonal_noise(reference: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
    """Zero-mean noise orthogonal to the zero-mean ``reference`` with ``|r|^2 / |n|^2`` = snr_db."""
    r = reference - reference.mean()
    noise = rng.standard_normal(reference.shape)
    noise -= noise.mean()
    noise -= np.dot(noise, r) / np.dot(r, r) * r
    noise -= noise.mean()  # orthogonal to r and to the constant (r is zero-mean, so both hold)
    return noise * np.sqrt(np.dot(r, r) / np.dot(noise, noise) / 10 ** (snr_db / 10))


def si_sdr_rows() -> list[dict]:
    rng = np.random.default_rng(1234)
    rate = 16_000
    t = np.arange(2 * rate) / rate
    ref = 0.4 * np.sin(2 * np.pi * 220 * t) + 0.2 * np.sin(2 * np.pi * 1330 * t + 0.3)
    noisy10 = ref + _orthogonal_noise(ref, 10.0, rng)
    noisy0 = ref + _orthogonal_noise(ref, 0.0, rng)
    stereo_ref = np.vstack([ref, np.roll(ref, 37)])
    stereo_est = np.vstack([ref + _orthogonal_noise(ref, 5.0, rng),
                            np.roll(ref, 37) + _orthogonal_noise(np.roll(ref, 37), 15.0, rng)])
    cases = [
        ("reference + noise at 10 dB", ref, noisy10, 10.0),
        ("reference + noise at 0 dB", ref, noisy0, 0.0),
        ("same, estimate scaled by 0.25", ref, 0.25 * noisy10, 10.0),
        ("same, estimate scaled by -3", ref, -3.0 * noisy10, 10.0),
        ("same, DC offset +0.1 added", ref, noisy10 + 0.1, 10.0),
        ("stereo 5 dB and 15 dB: channel mean", stereo_ref, stereo_est, 10.0),
        ("identical", ref, ref, float("inf")),
        ("silent estimate", ref, np.zeros_like(ref), float("-inf")),
        ("silent reference", np.zeros_like(ref), noisy10, float("-inf")),
    ]
    rows = []
    for label, reference, estimate, expected in cases:
        got = si_sdr_db(reference, estimate)
        if np.isfinite(expected):
            error = abs(got - expected)
            ok = error <= SI_SDR_TOLERANCE_DB
        else:
            error, ok = 0.0 if got == expected else float("inf"), got == expected
        rows.append({"case": f"si_sdr: {label}", "expected_db": expected, "got_db": got,
                     "abs_err_db": error, "pass": ok})
    return rows


def run(*, quick: bool = False) -> SuiteResult:
    """sdr_db against mir_eval's BSS-eval regression vectors; si_sdr_db on exact synthetic cases."""
    notes = [f"BSS-eval tolerance {BSS_TOLERANCE_DB} dB (absolute, each of SDR/SIR/SAR); "
             f"SI-SDR tolerance {SI_SDR_TOLERANCE_DB:g} dB; synthetic noise is made exactly "
             "orthogonal to the reference so the expected SI-SDR is exact"]
    rows = si_sdr_rows()
    corpus_missing = None
    try:
        bss_rows = bss_regression_rows(corpus_path("bsseval-regression"))
        rows = bss_rows + rows
    except CorpusMissing as exc:
        corpus_missing = exc
        bss_rows = []
        notes.insert(0, f"skipped: {exc}; only the synthetic SI-SDR checks ran")
    failed = [row["case"] for row in rows if not row["pass"]]
    summary = {"checks": len(rows), "failed_checks": len(failed)}
    if bss_rows:
        summary["bss_sets"] = len(bss_rows)
        summary["bss_max_abs_err_db"] = max(
            max(r["max_err_sdr_db"], r["max_err_sir_db"], r["max_err_sar_db"]) for r in bss_rows)
    if failed:
        notes.append("failed: " + "; ".join(failed))
        status = "failed"
    else:
        status = "skipped" if corpus_missing else "ok"
    return SuiteResult(name="metrics", status=status, rows=rows, summary=summary, notes=notes)
