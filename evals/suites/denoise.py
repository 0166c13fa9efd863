"""Suite ``denoise``: SI-SDR, PESQ, STOI and DNSMOS of DeepFilterNet 3, the hybrid and RNNoise.

Methods (``tools.denoise``; the attenuation limit is the tool's 30 dB default unless said):
``noisy`` (the input), ``rnnoise`` (RNNoise alone, delay-compensated, no limit), ``classical``
(the Wiener filter alone, SI-SDR only), ``hybrid`` (RNNoise-guided Wiener filter, the DSP default),
``dfn3`` (DeepFilterNet 3 with the real weights through libDF, level to -20 dBFS), ``dfn3_12db``
(the same with a 12 dB limit, NOIZEUS only) and ``ours`` = what ``echo-agent denoise`` runs by
default (``auto``: DFN3 on wideband audio, the hybrid on narrowband).

Sets:
- NOIZEUS dev (sp01-sp10) and held-out (sp11-sp20), each x 8 noises x 0/5/10/15 dB, 8 kHz
  narrowband at about -27 dBFS: per input SNR, every metric; per noise and SNR, SI-SDR (dev).
- wideband dev (the set ``auto``'s choice was made on): three LibriSpeech utterances from
  ``corpus/general`` (first 8 s, 16 kHz) under the five real noises of ``corpus/noise`` at
  0/5/10/15 dB, at -20 and -35 dBFS: SI-SDR and DNSMOS OVRL.
- ``noisy-speech-48k`` (held-out for wideband): every metric (PESQ wideband at 16 kHz).

PESQ and STOI need the ``evals`` extra; DNSMOS (P.835, 16 kHz, :mod:`tools.models.dnsmos`) and
DFN3 need the ``models`` extra. Cost: RTF and peak memory per backend on 10, 60 and 300 s of
48 kHz speech (:mod:`evals.suites.model_cost`).

Done when (issue 11): ``ours`` >= ``hybrid`` in SI-SDR at every SNR of the NOIZEUS dev set, and on
noisy-speech-48k ``ours`` reaches >= 19.5 dB SI-SDR and DNSMOS OVRL >= 3.0.
"""

from __future__ import annotations

import time
from math import gcd

import numpy as np
from scipy.signal import resample_poly

from evals.corpus import corpus_path
from evals.metrics import si_sdr_db
from evals.runner import SuiteResult
from evals.suites import model_cost
from tools.core.audio import Audio, load
from tools.denoise import denoise, resolve_backend
from tools.models.wiener import is_wideband

NOISES = ("airport", "babble", "car", "exhibition", "restaurant", "station", "street", "train")
SNRS_DB = (0, 5, 10, 15)
DEV_IDS, TEST_IDS, QUICK_IDS = range(1, 11), range(11, 21), range(1, 2)
WIDEBAND_SPEECH = ("198-209-0000", "3436-172162-0000", "5703-47212-0000")
WIDEBAND_LEVELS_DBFS = (-20.0, -35.0)
METHODS = ("noisy", "rnnoise", "classical", "hybrid", "dfn3", "dfn3_12db", "ours")
COST_DURATIONS_S = (10.0, 60.0, 300.0)
COST_KINDS = ("denoise:deepfilternet", "denoise:hybrid", "denoise:rnnoise", "denoise:classical")


def _resample(x: np.ndarray, from_hz: int, to_hz: int) -> np.ndarray:
    divisor = gcd(from_hz, to_hz)
    return resample_poly(x, to_hz // divisor, from_hz // divisor, axis=-1)


def _dfn3():
    from tools.models.deepfilter import load_deepfilternet

    return load_deepfilternet(download=False)


def enhance_all(noisy: np.ndarray, rate: int, model, *, with_12db: bool) -> dict[str, np.ndarray]:
    """Every method's output for one mono signal ``(n,)``."""
    audio = Audio.from_array(noisy, rate)
    out = {
        "noisy": noisy,
        "rnnoise": denoise(audio, backend="rnnoise", attenuation_limit_db=100).audio.samples[0],
        "classical": denoise(audio, backend="classical").audio.samples[0],
        "hybrid": denoise(audio, backend="hybrid").audio.samples[0],
        "dfn3": denoise(audio, backend="deepfilternet", model=model).audio.samples[0],
    }
    if with_12db:
        out["dfn3_12db"] = denoise(audio, backend="deepfilternet", model=model,
                                   attenuation_limit_db=12).audio.samples[0]
    ran, _, _ = resolve_backend("auto", model=model, wideband=is_wideband(noisy[None], rate))
    out["ours"] = out["dfn3" if ran == "deepfilternet" else ran]
    return out


def _measures(*, with_pesq: bool, dnsmos_parts=("OVRL", "SIG", "BAK")):
    """``measure(clean, estimate, rate) -> {metric: value}`` (DNSMOS run once per estimate) and a
    note on what could not be measured."""
    from tools.models.dnsmos import dnsmos

    pesq = stoi = None
    why = ""
    if with_pesq:
        try:
            from pesq import pesq
            from pystoi import stoi
        except ImportError as exc:
            why = f"PESQ/STOI not measured: {exc} (pip install -e '.[evals]')"

    def pesq_score(clean, y, rate):
        if rate not in (8000, 16000):
            clean, y, rate = _resample(clean, rate, 16000), _resample(y, rate, 16000), 16000
        try:
            return float(pesq(rate, clean, y, "nb" if rate == 8000 else "wb"))
        except Exception:  # pesq refuses e.g. a signal without speech: count it as missing
            return float("nan")

    def measure(clean, y, rate, *, full: bool = True) -> dict[str, float]:
        out = {"SI-SDR": si_sdr_db(clean, y)}
        if not full:
            return out
        scores = dnsmos(y, rate).as_dict()
        out.update({f"DNSMOS {part}": scores[part] for part in dnsmos_parts})
        if pesq is not None:
            out["PESQ"] = pesq_score(clean, y, rate)
            out["STOI"] = float(stoi(clean, y, rate))
        return out

    return measure, why


def _score(clean, outputs, rate, measure, skip=()) -> dict[str, dict[str, float]]:
    """``{metric: {method: value}}``; ``ours`` is a copy of the method it ran (not re-scored);
    methods in ``skip`` get SI-SDR only."""
    per = {m: measure(clean, y, rate, full=m not in skip) for m, y in outputs.items()
           if m != "ours"}
    scores = {metric: {m: v[metric] for m, v in per.items() if metric in v}
              for metric in per["noisy"]}
    chosen = next(k for k in ("dfn3", "hybrid", "rnnoise") if outputs["ours"] is outputs[k])
    for metric in scores:
        scores[metric]["ours"] = scores[metric][chosen]
    return scores


def noizeus_records(ids, model) -> tuple[list[dict], str]:
    root = corpus_path("noizeus")
    measure, why = _measures(with_pesq=True)
    records = []
    for snr in SNRS_DB:
        for noise in NOISES:
            for i in ids:
                clean = load(root / "clean" / f"sp{i:02d}.wav").samples[0]
                noisy = load(root / "noisy" / f"{noise}_{snr}dB" / f"sp{i:02d}_{noise}_sn{snr}.wav")
                outputs = enhance_all(noisy.samples[0], noisy.sample_rate, model, with_12db=True)
                scores = _score(clean, outputs, noisy.sample_rate, measure, skip=("classical",))
                records.append({"noise": noise, "snr": snr, "scores": scores})
    return records, why


def _row(set_name: str, noise: str, snr: object, metric: str, records: list[dict]) -> dict:
    row = {"set": set_name, "noise": noise, "snr_db": snr, "metric": metric}
    for method in METHODS:
        values = [r["scores"][metric][method] for r in records if method in r["scores"][metric]]
        row[method] = float(np.nanmean(values)) if values else ""
    return row


def rows_for(set_name: str, records: list[dict], *, per_noise: bool) -> list[dict]:
    metrics = list(records[0]["scores"])
    rows = [_row(set_name, "all", snr, metric, [r for r in records if r["snr"] == snr])
            for metric in metrics for snr in SNRS_DB]
    if per_noise:
        rows += [_row(set_name, noise, snr, "SI-SDR",
                      [r for r in records if r["snr"] == snr and r["noise"] == noise])
                 for noise in NOISES for snr in SNRS_DB]
    return rows


def wideband_records(model, *, quick: bool) -> list[dict]:
    """LibriSpeech under real noises at two levels: SI-SDR and DNSMOS OVRL."""
    measure, _ = _measures(with_pesq=False, dnsmos_parts=("OVRL",))
    noises = [load(corpus_path("noise", f"noise{k}.wav")).samples[0] for k in range(1, 6)]
    records = []
    for sid in WIDEBAND_SPEECH[:1] if quick else WIDEBAND_SPEECH:
        speech = load(corpus_path("general", f"{sid}.hq.ogg")).samples[0][: 8 * 16000]
        speech = speech.astype(np.float64)
        for k, noise in enumerate(noises[:2] if quick else noises, start=1):
            noise = np.resize(noise, speech.size).astype(np.float64)
            for snr in SNRS_DB:
                mix = speech + noise * np.sqrt(np.sum(speech**2) / np.sum(noise**2) / 10 ** (snr / 10))
                for level in WIDEBAND_LEVELS_DBFS:
                    gain = 10 ** (level / 20) / np.sqrt(np.mean(mix**2))
                    x, clean = (mix * gain).astype(np.float32), (speech * gain).astype(np.float32)
                    outputs = enhance_all(x, 16000, model, with_12db=False)
                    scores = _score(clean, outputs, 16000, measure, skip=("classical",))
                    records.append({"noise": f"noise{k}", "snr": snr, "level": level,
                                    "scores": scores})
    return records


def noisy_48k_rows(model) -> list[dict]:
    folder = corpus_path("noisy-speech-48k")
    clean = load(folder / "clean_freesound_33711.wav").samples[0]
    noisy = load(folder / "noisy_snr0.wav")
    outputs = enhance_all(noisy.samples[0], noisy.sample_rate, model, with_12db=False)
    measure, _ = _measures(with_pesq=True)
    scores = _score(clean, outputs, noisy.sample_rate, measure)
    record = [{"noise": "orig", "snr": "orig", "scores": scores}]
    return [_row("noisy-speech-48k", "(file's own)", "~6 (SI-SDR)", metric, record)
            for metric in scores]


def run(*, quick: bool = False) -> SuiteResult:
    """Denoising with the real DeepFilterNet 3 vs the hybrid and RNNoise: NOIZEUS dev/held-out,
    wideband mixtures, noisy-speech-48k; RTF and memory."""
    start = time.perf_counter()
    model = _dfn3()
    dev, why = noizeus_records(QUICK_IDS if quick else DEV_IDS, model)
    rows = rows_for("noizeus-dev (sp01-10)", dev, per_noise=not quick)
    if not quick:
        rows += rows_for("noizeus-held-out (sp11-20)", noizeus_records(TEST_IDS, model)[0],
                         per_noise=False)
    wide = wideband_records(model, quick=quick)
    for level in WIDEBAND_LEVELS_DBFS:
        rows += rows_for(f"wideband-dev 16 kHz at {level:g} dBFS",
                         [r for r in wide if r["level"] == level], per_noise=False)
    rows += noisy_48k_rows(model)
    quality_s = time.perf_counter() - start
    dev_si = {r["snr_db"]: r for r in rows if r["set"].startswith("noizeus-dev")
              and r["noise"] == "all" and r["metric"] == "SI-SDR"}
    at_48k = {r["metric"]: r["ours"] for r in rows if r["set"] == "noisy-speech-48k"}
    done = (all(dev_si[snr]["ours"] >= dev_si[snr]["hybrid"] - 1e-9 for snr in SNRS_DB)
            and at_48k["SI-SDR"] >= 19.5 and at_48k["DNSMOS OVRL"] >= 3.0)
    summary = {"done_when_met": done, "48k ours SI-SDR": at_48k["SI-SDR"],
               "48k ours DNSMOS OVRL": at_48k["DNSMOS OVRL"]}
    summary.update({f"dev ours - hybrid SI-SDR at {snr} dB": dev_si[snr]["ours"]
                    - dev_si[snr]["hybrid"] for snr in SNRS_DB})
    costs = model_cost.cost_rows(COST_KINDS, COST_DURATIONS_S[:1] if quick else COST_DURATIONS_S,
                                 model_cost.speech_48k())
    for row in costs:
        summary[f"cost {row['model']} {row['input_s']:g} s"] = model_cost.describe(row)
    notes = [why] if why else []
    notes += [
        f"DFN3 = the real DeepFilterNet 3 (libDF, {getattr(model, 'origin', '')}); ours = "
        "`echo-agent denoise` defaults (auto, 30 dB limit): the hybrid on NOIZEUS (narrowband), "
        "DFN3 on the wideband sets",
        "DNSMOS is scored at 16 kHz (NOIZEUS upsampled from 8 kHz: its scale is lower there)",
        f"quality part took {quality_s:.0f} s; cost runs: 48 kHz mono, a fresh process each, "
        "2 threads, on a shared 2-core machine (load average in each row)",
    ]
    return SuiteResult(name="denoise", status="ok", rows=rows + costs, summary=summary,
                       notes=notes)
