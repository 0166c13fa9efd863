"""Gap inpainting on real recordings, for the ``repair`` suite (see :mod:`evals.suites.repair`).

Gaps cut into *active* audio at random positions (fixed seed), every channel; per gap the SNR and
the log-spectral distance inside it for silence, linear interpolation, the one-shot least-squares
AR baseline of ``../shared/FACTS.md`` (:func:`lsar_baseline`), AR alone and ``inpaint_gap``.

PLCMOS on speech (:func:`plcmos_rows`): PLCMOS v2 judges concealment in a whole recording, as
listeners rated packet loss in calls, so one gap in a long file barely moves it. So each excerpt
(the first 8 s) gets one gap per second of the same length in active speech, every gap is filled
by the same method (in turn, later gaps seeing the earlier fills, as a user repairing a damaged
file would), and the whole excerpt is scored; SNR and LSD are per gap. A refused gap stays silent.
The clean excerpt and the gaps left silent bound the range.
"""

from __future__ import annotations

import numpy as np

from evals.corpus import corpus_root
from evals.metrics import log_spectral_distance_db, snr_db
from tools.algorithms import ar
from tools.core.audio import load
from tools.core.errors import ToolError
from tools.inpaint import fill_span

GAPS_MS = (5, 10, 20, 50, 100, 250)
SHORT_GAP_MS = 50
MAX_SECONDS = 45.0
BASELINE_ORDER, BASELINE_CONTEXT = 256, 2048
# ../shared/FACTS.md, one-shot least-squares AR, SNR in the gap (dB): speech (jfk) and music (MUSDB)
FACTS_BASELINE_SNR = {"speech": {5: 9.6, 10: 6.9, 20: 5.9, 50: 1.3, 100: -0.2},
                      "music": {5: 2.0, 10: 4.3, 20: 3.4, 50: 2.1, 100: 0.5}}
SEED = 20240611


def load_excerpt(relative: str, seconds: float = MAX_SECONDS) -> tuple[np.ndarray, int]:
    """The first ``seconds`` of a corpus file as float64 ``(channels, n)``, and its rate."""
    audio = load(corpus_root() / relative)
    return audio.samples[:, : int(seconds * audio.sample_rate)].astype(np.float64), audio.sample_rate


def lsar_baseline(x: np.ndarray, start: int, count: int) -> np.ndarray:
    """The one-shot least-squares AR baseline of FACTS.md, per channel of ``x`` (channels, n).

    The classic LSAR interpolation (Janssen et al. 1986) without its iteration: the
    ``BASELINE_CONTEXT`` (2048) samples on each side of the gap; one AR model of order
    ``min(256, context // 2)`` fitted to both by ordinary least squares (covariance method, rows
    wholly inside one side; :func:`tools.algorithms.ar.fit_ar_joint`, whose -60 dB diagonal loading only keeps
    the normal equations solvable on band-limited files); then the gap samples that minimise the
    model's residual energy over every row touching the gap, in one solve. On jfk.flac this
    reproduces FACTS.md's speech column within the spread of gap positions (measured: 10.8/3.3/1.8
    dB at 10/20/50 ms on 6 gaps, 9.6/5.8/0.3 on 8; FACTS.md 6.9/5.9/1.3). Forward extrapolation
    alone (the reading of an earlier version of this suite) scored 2-4 dB lower than FACTS.md.
    """
    out = []
    for channel in x:
        left = channel[max(start - BASELINE_CONTEXT, 0) : start]
        right = channel[start + count : start + count + BASELINE_CONTEXT]
        order = min(BASELINE_ORDER, left.size // 2, right.size // 2)
        model = ar.fit_ar_joint([left, right], order)
        out.append(ar.solve_two_sided(left, right, count, model, None))
    return np.array(out)


def active_positions(x: np.ndarray, rate: int, length: int, count: int,
                     rng: np.random.Generator) -> list[int]:
    """Up to ``count`` gap starts whose gap RMS is within 20 dB of the loud parts (95th
    percentile of 20 ms frame RMS), 0.5 s from the ends, gaps 0.5 s apart."""
    mono = x.mean(axis=0)
    frame = int(0.02 * rate)
    frames = mono[: mono.size // frame * frame].reshape(-1, frame)
    loud = float(np.percentile(np.sqrt(np.mean(frames**2, axis=1)), 95))
    margin = int(0.5 * rate)
    chosen: list[int] = []
    for _ in range(200 * count):
        if len(chosen) == count or mono.size - 2 * margin - length <= 0:
            break
        start = int(rng.integers(margin, mono.size - margin - length))
        rms = float(np.sqrt(np.mean(mono[start : start + length] ** 2)))
        if rms >= loud * 0.1 and all(abs(start - c) > length + margin for c in chosen):
            chosen.append(start)
    return sorted(chosen)


def _gap_scores(x: np.ndarray, rate: int, start: int, length: int) -> dict[str, dict]:
    """Fill one gap by every method; per method the SNR and LSD inside the gap."""
    stop = start + length
    reference = x[:, start:stop]
    damaged = x.copy()
    damaged[:, start:stop] = 0.0  # what the gap held is gone: no method may look at it
    fills: dict[str, np.ndarray | None] = {
        "silence": np.zeros_like(reference),
        "linear": np.array([np.linspace(c[start - 1], c[stop], length + 2)[1:-1] for c in x]),
        "lsar_baseline": lsar_baseline(damaged, start, length),
    }
    methods = {"ar": "ar", "ours": "auto"} if length / rate <= 0.1 else {"ours": "auto"}
    used = ""
    for name, method in methods.items():
        try:
            fill = fill_span(damaged, start, stop, rate, method=method)
        except ToolError:
            fills[name] = None
            continue
        fills[name] = fill.apply(damaged)[:, start:stop]
        if name == "ours":
            used = fill.method
    scores = {}
    for name, fill in fills.items():
        if fill is None:
            scores[name] = None
            continue
        scores[name] = {"snr": snr_db(reference, fill),
                        "lsd": log_spectral_distance_db(reference, fill, rate)}
    scores["_method"] = used
    return scores


def inpainting_rows(files: dict[str, tuple[str, ...]], per_file: int) -> list[dict]:
    rows = []
    for category, names in files.items():
        per_gap: dict[int, list[dict]] = {g: [] for g in GAPS_MS}
        for relative in names:
            x, rate = load_excerpt(relative)
            rng = np.random.default_rng(SEED)
            for gap_ms in GAPS_MS:
                length = int(round(gap_ms * 1e-3 * rate))
                for start in active_positions(x, rate, length, per_file, rng):
                    per_gap[gap_ms].append(_gap_scores(x, rate, start, length))
        for gap_ms, results in per_gap.items():
            rows.append(_summarise(category, gap_ms, results))
    return rows


def _summarise(category: str, gap_ms: int, results: list[dict]) -> dict:
    metric = "snr" if gap_ms <= SHORT_GAP_MS else "lsd"
    row: dict = {"set": "inpaint", "case": f"{category} {gap_ms} ms", "n": len(results),
                 "metric": "SNR in gap, dB" if metric == "snr" else "LSD in gap, dB (lower better)"}
    for name in ("silence", "linear", "lsar_baseline", "ar", "ours"):
        values = [r[name][metric] for r in results if r.get(name) is not None]
        row["input" if name == "silence" else name] = float(np.mean(values)) if values else ""
    if metric == "snr":
        row["FACTS.md"] = FACTS_BASELINE_SNR.get(category, {}).get(gap_ms, "")
        row["delta"] = row["ours"] - row["lsar_baseline"]
    else:
        row["delta"] = row["linear"] - row["ours"]
    refused = sum(1 for r in results if r.get("ours") is None)
    methods = [r["_method"] for r in results if r["_method"]]
    detail = ", ".join(f"{m} {methods.count(m)}" for m in sorted(set(methods)))
    if metric == "lsd":
        ours_snr = [r["ours"]["snr"] for r in results if r.get("ours")]
        detail += f"; ours SNR {np.mean(ours_snr):.1f} dB" if ours_snr else ""
    row["detail"] = detail + (f"; refused {refused}" if refused else "")
    return row


# ----------------------------------------------------------------------------- PLCMOS on speech

# The split was fixed before any tuning: dev tunes the default methods, held-out only checks them.
# disfluency/: the clips of at least 4.5 s, alternately (alphabetical) dev and held-out.
SPEECH_DEV = ("speech-reference/jfk.flac", "general/198-209-0000.hq.ogg", *(
    f"disfluency/mfa_{n}.flac" for n in ("affectation", "creaky", "exaggerated", "laughter",
                                         "longstop", "the", "uhuh", "unk")))
SPEECH_HELD_OUT = ("speech-reference/stereo_diarization.wav", "general/3436-172162-0000.hq.ogg",
                   "general/5703-47212-0000.hq.ogg", *(
    f"disfluency/mfa_{n}.flac" for n in ("breaths", "cutoff", "her", "long", "putty", "uh", "um",
                                         "whatscalled")))
PLCMOS_GAPS_MS = (20, 50, 100, 150, 250)
PLCMOS_SECONDS = 8.0
GAP_EVERY_S = 1.0  # one gap per second of excerpt, in active speech
AR_LIMIT_MS = 100  # tools.inpaint.AR_MAX_S
PLCMOS_METHODS = ("silence", "lsar_baseline", "ar", "ar_pitch", "periodic", "similarity",
                  "room_tone", "auto")


def _fill_all(damaged: np.ndarray, rate: int, starts: list[int], length: int,
              method: str) -> tuple[np.ndarray, int, list[str]]:
    """Every gap of ``damaged`` filled in turn by ``method``; a refused gap stays silent (what
    the user is left with). Returns the audio, the number refused and the methods used."""
    out, refused, used = damaged.copy(), 0, []
    for start in starts:
        if method == "silence":
            continue
        if method == "lsar_baseline":
            out[:, start : start + length] = lsar_baseline(out, start, length)
            continue
        try:
            fill = fill_span(out, start, start + length, rate, method=method)
        except ToolError:
            refused += 1
            continue
        out[:, fill.start : fill.stop] = fill.samples
        used.append(fill.method)
    return out, refused, used


def _excerpt_scores(relative: str, gap_ms: int, methods: tuple[str, ...]) -> dict[str, dict]:
    from tools.models.dnsmos import plcmos

    x, rate = load_excerpt(relative, PLCMOS_SECONDS)
    length = int(round(gap_ms * 1e-3 * rate))
    count = max(int(x.shape[1] / rate / GAP_EVERY_S), 1)
    starts = active_positions(x, rate, length, count, np.random.default_rng(SEED + gap_ms))
    damaged = x.copy()
    for start in starts:
        damaged[:, start : start + length] = 0.0
    scores = {"clean": {"plcmos": plcmos(x, rate)}}
    for method in methods:
        if method == "ar" and gap_ms > AR_LIMIT_MS:
            continue
        filled, refused, used = _fill_all(damaged, rate, starts, length, method)
        gaps = [(x[:, s : s + length], filled[:, s : s + length]) for s in starts]
        scores[method] = {"plcmos": plcmos(filled, rate), "refused": refused, "used": used,
                          "gaps": len(starts),
                          "snr": float(np.mean([snr_db(a, b) for a, b in gaps])),
                          "lsd": float(np.mean([log_spectral_distance_db(a, b, rate)
                                                for a, b in gaps]))}
    return scores


def plcmos_rows(splits: dict[str, tuple[str, ...]], gaps_ms=PLCMOS_GAPS_MS,
                methods: tuple[str, ...] = PLCMOS_METHODS) -> list[dict]:
    """Per split and gap length, three rows (PLCMOS of the whole excerpt, SNR and LSD in the
    gaps, means over excerpts), one column per method; ``best`` = the method with the highest
    PLCMOS (the clean original left out)."""
    rows = []
    for split, names in splits.items():
        for gap_ms in gaps_ms:
            per = [_excerpt_scores(name, gap_ms, methods) for name in names]
            for metric, label in (("plcmos", "PLCMOS (1-5)"), ("snr", "SNR in gap, dB"),
                                  ("lsd", "LSD in gap, dB (lower better)")):
                row: dict = {"set": "inpaint speech", "case": f"{split} {gap_ms} ms",
                             "metric": label, "n": len(per)}
                for method in ("clean", *methods):
                    values = [p[method][metric] for p in per if metric in p.get(method, {})]
                    row[method] = float(np.mean(values)) if values else ""
                if metric == "plcmos":
                    ranked = [m for m in methods if row[m] != ""]
                    row["best"] = max(ranked, key=lambda m: row[m])
                    used = [u for p in per for u in p["auto"]["used"]]
                    refused = {m: sum(p[m]["refused"] for p in per if m in p) for m in methods}
                    row["detail"] = ("auto used " + ", ".join(
                        f"{m} {used.count(m)}" for m in sorted(set(used))) + "; refused (left "
                        "silent) " + ", ".join(f"{m} {k}" for m, k in refused.items() if k)
                        + f"; gaps {sum(p['auto']['gaps'] for p in per)}")
                rows.append(row)
    return rows
