"""Suite ``judges``: do the no-reference judges (DNSMOS P.835, PLCMOS v2) rank what they should?

- DNSMOS SIG/BAK/OVRL of the NOIZEUS dev sentences (sp01-sp10), clean and under the 8 noises at
  each SNR: BAK and OVRL must rise with the SNR and the clean sentences must score highest.
- DNSMOS of ``noisy-speech-48k``: the clean speech, the noisy file, and the noisy file
  reverberated with the corpus' room impulse response (SIG should fall with reverb).
- PLCMOS v2 of the clean 48 kHz speech with 20/60/120 ms of every 500 ms zeroed (packet loss, no
  concealment): the score must fall as more is lost.
- Cost: RTF and peak memory of DNSMOS and PLCMOS on 10, 60 and 300 s (:mod:`evals.suites.model_cost`).

Both models come from the ``models`` extra (:mod:`tools.models.dnsmos`).
"""

from __future__ import annotations

import numpy as np
from scipy.signal import fftconvolve

from evals.corpus import corpus_path
from evals.runner import SuiteResult
from evals.suites import model_cost
from tools.core.audio import load

NOISES = ("airport", "babble", "car", "exhibition", "restaurant", "station", "street", "train")
SNRS_DB = (0, 5, 10, 15)
LOSS_MS = (0, 20, 60, 120)


def noizeus_rows(ids) -> list[dict]:
    from tools.models.dnsmos import dnsmos

    root = corpus_path("noizeus")
    groups: dict[str, list] = {"clean": [dnsmos(load(root / "clean" / f"sp{i:02d}.wav").samples,
                                                8000) for i in ids]}
    for snr in SNRS_DB:
        groups[f"{snr} dB"] = [dnsmos(load(root / "noisy" / f"{noise}_{snr}dB" /
                                           f"sp{i:02d}_{noise}_sn{snr}.wav").samples, 8000)
                               for noise in NOISES for i in ids]
    return [{"set": "noizeus-dev", "input": name, "files": len(scores),
             **{k: float(np.mean([getattr(s, k.lower()) for s in scores]))
                for k in ("SIG", "BAK", "OVRL")}} for name, scores in groups.items()]


def speech_48k_rows() -> list[dict]:
    from tools.models.dnsmos import dnsmos, plcmos

    folder = corpus_path("noisy-speech-48k")
    clean = load(folder / "clean_freesound_33711.wav").samples[0]
    noisy = load(folder / "noisy_snr0.wav").samples[0]
    rir = load(next(folder.glob("rir_*.wav"))).samples[0]
    wet = fftconvolve(clean, rir)[: clean.size]
    wet *= np.sqrt(np.mean(clean**2) / np.mean(wet**2))
    rows = [{"set": "noisy-speech-48k", "input": name, **dnsmos(x, 48000).as_dict()}
            for name, x in (("clean", clean), ("noisy", noisy), ("clean, reverberated", wet))]
    period = 24_000
    for loss in LOSS_MS:
        lost = clean.copy()
        width = int(loss * 48)
        for start in range(period // 2, lost.size - width, period):
            lost[start:start + width] = 0.0
        rows.append({"set": "noisy-speech-48k", "input": f"clean, {loss} ms lost every 0.5 s",
                     "PLCMOS": plcmos(lost, 48000)})
    return rows


def run(*, quick: bool = False) -> SuiteResult:
    """DNSMOS and PLCMOS on known-better and known-worse versions of the corpus speech."""
    rows = noizeus_rows(range(1, 3) if quick else range(1, 11)) + speech_48k_rows()
    noizeus = {r["input"]: r for r in rows if r["set"] == "noizeus-dev"}
    rising = all(noizeus[f"{a} dB"][k] < noizeus[f"{b} dB"][k] for k in ("BAK", "OVRL")
                 for a, b in zip(SNRS_DB, SNRS_DB[1:], strict=False))
    plc = [r["PLCMOS"] for r in rows if "PLCMOS" in r]
    by_name = {r["input"]: r for r in rows if r["set"] == "noisy-speech-48k"}
    summary = {
        "DNSMOS BAK/OVRL rise with SNR (NOIZEUS)": rising,
        "DNSMOS OVRL clean > every SNR (NOIZEUS)": all(
            noizeus["clean"]["OVRL"] > noizeus[f"{s} dB"]["OVRL"] for s in SNRS_DB),
        "DNSMOS OVRL 48k clean / noisy": f"{by_name['clean']['OVRL']:.2f} / "
                                          f"{by_name['noisy']['OVRL']:.2f}",
        "DNSMOS SIG falls with reverb": by_name["clean, reverberated"]["SIG"]
                                        < by_name["clean"]["SIG"],
        "PLCMOS falls with loss": all(a > b for a, b in zip(plc, plc[1:], strict=False)),
    }
    costs = model_cost.cost_rows(("dnsmos", "plcmos"), (10.0,) if quick else (10.0, 60.0, 300.0),
                                 model_cost.speech_48k())
    for row in costs:
        summary[f"cost {row['model']} {row['input_s']:g} s"] = model_cost.describe(row)
    ok = all(v for v in summary.values() if isinstance(v, bool))
    notes = ["DNSMOS at 16 kHz (NOIZEUS is 8 kHz, upsampled: narrowband speech scores lower SIG "
             "than wideband speech of the same quality)",
             "PLCMOS rater embeddings come from a seeded generator (repeatable scores)"]
    return SuiteResult(name="judges", status="ok" if ok else "failed", rows=rows + costs,
                       summary=summary, notes=notes)
