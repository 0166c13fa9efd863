"""Music-under-speech detection and separation only where needed (``remove_music_bed``).

Mixes are built at runtime (nothing of the corpus goes into the repository): corpus speech,
level-matched and joined with 0.3-0.9 s pauses into 60 s, with a music excerpt under a middle
stretch (0.5 s fades, ``music_db`` below the speech's RMS) and noise (white at 30 / 15 dB SNR, or
a real corpus noise at 20 dB). Splits, fixed before the detector was tuned:

- dev: LibriSpeech 198-209-0000 and 3436-172162-0000 and the first 12 disfluency clips; the
  ragtime, the waltz, Vibe Ace and the drum-bass loop (``general/``).
- held-out: LibriSpeech 5703-47212-0000, ``noisy-speech-48k`` clean speech and jfk; the
  Hungarian Dance, the Sugar Plum Fairy, Let's Go Fishin' and the MUSDB preview's accompaniment
  (drums + bass + other).

Per split: detection precision / recall by time (10 ms grid), and on the white-noise 30 dB mixes
through the tool itself (Spleeter 2-stem): SI-SDR of the output against the clean speech in the
true music stretch, before and after, and the share of the music-free time left bit-identical.
"""

from __future__ import annotations

import glob
from math import gcd

import numpy as np

from evals.corpus import corpus_path, corpus_root

RATE = 16_000
DEV_MUSIC = ("442789__lena-orsa__happy-music-pistachio-ice-cream-ragtime.hq.ogg",
             "147793__setuniman__sweet-waltz-0i-22mi.hq.ogg", "Kevin_MacLeod_-_Vibe_Ace.hq.ogg",
             "admiralbob77_-_Choice_-_Drum-bass.hq.ogg")
HELD_MUSIC = ("Hungarian_Dance_number_5_-_Allegro_in_F_sharp_minor_(string_orchestra).hq.ogg",
              "Kevin_MacLeod_-_P_I_Tchaikovsky_Dance_of_the_Sugar_Plum_Fairy.hq.ogg",
              "Karissa_Hobbs_-_Lets_Go_Fishin.hq.ogg", "musdb")
CONDITIONS = (("white", 30.0), ("white", 15.0), ("real", 20.0))


def _load(path) -> np.ndarray:
    import soundfile as sf
    from scipy.signal import resample_poly

    x, rate = sf.read(str(path), dtype="float32", always_2d=True)
    mono = x.mean(axis=1)
    if rate != RATE:
        g = gcd(RATE, rate)
        mono = resample_poly(mono, RATE // g, rate // g)
    return mono.astype(np.float32)


def _speech_files(split: str) -> list:
    if split == "dev":
        return [corpus_path("general", "198-209-0000.hq.ogg"),
                corpus_path("general", "3436-172162-0000.hq.ogg"),
                *sorted(glob.glob(str(corpus_root() / "disfluency" / "mfa_*.flac")))[:12]]
    return [corpus_path("general", "5703-47212-0000.hq.ogg"),
            corpus_path("noisy-speech-48k", "clean_freesound_33711.wav"),
            corpus_path("speech-reference", "jfk.flac")]


def _music(name: str) -> np.ndarray:
    if name == "musdb":
        return sum(_load(corpus_path("music-stems", f"{s}.wav")) for s in ("drums", "bass",
                                                                             "other"))
    return _load(corpus_path("general", name))


def make_mix(split: str, k: int, *, noise: str, snr_db: float, seconds: float = 60.0,
             music_db: float = -12.0, seed: int = 0):
    """``(mixture, speech, (start_s, end_s) of the music)``, mono 16 kHz."""
    rng = np.random.default_rng(seed + k)
    files = list(_speech_files(split))
    rng.shuffle(files)
    parts, total, n = [], 0, int(seconds * RATE)
    clips = [_load(f) for f in files]
    while total < n:
        for clip in clips:
            parts += [clip * (0.1 / (np.sqrt(np.mean(clip**2)) + 1e-9)),
                      np.zeros(int(rng.uniform(0.3, 0.9) * RATE), np.float32)]
            total += len(parts[-2]) + len(parts[-1])
    speech = np.concatenate(parts)[:n].astype(np.float32)
    music = _music((DEV_MUSIC if split == "dev" else HELD_MUSIC)[k])
    music = np.tile(music, -(-n // len(music)))[:n]
    a, b = int(rng.uniform(0.15, 0.35) * n), int(rng.uniform(0.6, 0.85) * n)
    bed = music[a:b] * (10 ** (music_db / 20) * np.sqrt(np.mean(speech**2))
                        / (np.sqrt(np.mean(music[a:b] ** 2)) + 1e-9))
    fade = RATE // 2
    bed[:fade] *= np.linspace(0, 1, fade)
    bed[-fade:] *= np.linspace(1, 0, fade)
    if noise == "white":
        hiss = rng.normal(0, 1, n)
    else:
        source = _load(corpus_path("noise", f"noise{(k + 2 * (split != 'dev')) % 5 + 1}.wav"))
        hiss = np.tile(source, -(-n // len(source)))[:n]
    hiss *= np.sqrt(np.mean(speech**2)) * 10 ** (-snr_db / 20) / (np.sqrt(np.mean(hiss**2)) + 1e-12)
    mixture = speech + hiss
    mixture[a:b] += bed
    return mixture.astype(np.float32), speech, (a / RATE, b / RATE)


def _grid(regions, seconds: float) -> np.ndarray:
    t = np.arange(0, seconds, 0.01)
    on = np.zeros(len(t), bool)
    for lo, hi in regions:
        on |= (t >= lo) & (t < hi)
    return on


def detection(split: str) -> list[dict]:
    """Precision / recall by time per noise condition and over all of them."""
    from tools.algorithms.music_detect import music_regions

    counts: dict[str, list[int]] = {}
    for k in range(4):
        for noise, snr in CONDITIONS:
            x, _, truth = make_mix(split, k, noise=noise, snr_db=snr)
            seconds = len(x) / RATE
            found, real = _grid(music_regions(x[None], RATE), seconds), _grid([truth], seconds)
            for key in (f"{noise} {snr:g} dB", "all"):
                c = counts.setdefault(key, [0, 0, 0])
                c[0] += int(np.sum(found & real))
                c[1] += int(np.sum(found & ~real))
                c[2] += int(np.sum(~found & real))
    return [{"split": split, "noise": key, "mixes": 4 if key != "all" else 4 * len(CONDITIONS),
             "precision": round(tp / max(tp + fp, 1), 3), "recall": round(tp / max(tp + fn, 1), 3)}
            for key, (tp, fp, fn) in counts.items()]


def separation(split: str, *, mixes: int = 4) -> dict:
    """The tool on the white-noise 30 dB mixes: SI-SDR in the music stretch, bytes kept."""
    import tempfile

    from evals.metrics import si_sdr_db
    from tools.core.audio import Audio
    from tools.core.session import Session
    from tools.registry import validate_call
    from tools.remove_music_bed import TOOL

    before, after, kept, free = [], [], 0, 0
    for k in range(mixes):
        x, speech, (a_s, b_s) = make_mix(split, k, noise="white", snr_db=30.0)
        with tempfile.TemporaryDirectory() as tmp, Session.create(tmp) as session:
            session.add_track("show", Audio(x[None], RATE))
            _, args = validate_call("remove_music_bed", {}, tools=(TOOL,))
            TOOL.run(session, args)
            y = session.audio("show").samples[0]
        a, b = int(a_s * RATE), int(b_s * RATE)
        before.append(si_sdr_db(speech[a:b], x[a:b]))
        after.append(si_sdr_db(speech[a:b], y[a:b]))
        outside = np.ones(len(x), bool)
        outside[a:b] = False
        free += int(outside.sum())
        kept += int(np.sum((y == x) & outside))
    return {"split": split, "mixes": mixes,
            "si_sdr_music_in_db": round(float(np.mean(before)), 2),
            "si_sdr_music_out_db": round(float(np.mean(after)), 2),
            "si_sdr_gain_db": round(float(np.mean(after) - np.mean(before)), 2),
            "music_free_bit_identical": round(kept / max(free, 1), 3)}
