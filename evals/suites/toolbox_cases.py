"""Measurements for the ``toolbox`` suite: one function per tool family, each returning rows.

Every row has ``set`` (the family), ``split`` ("dev" or "held-out" for corpus recordings,
"synthetic" otherwise), ``case`` and the numbers a producer checks.
"""

from __future__ import annotations

import time
import tracemalloc

import numpy as np
import pyloudnorm
from scipy.signal import fftconvolve, lfilter, resample_poly

from evals.metrics import si_sdr_db
from tools.add_reverb import add_reverb
from tools.algorithms.pitch import f0_ratio, median_f0
from tools.algorithms.room import estimate_rt60, schroeder_rt60, synthetic_ir
from tools.algorithms.streaming import collect
from tools.change_tempo import change_tempo
from tools.compress import compress
from tools.core.audio import Audio
from tools.dereverb import dereverb
from tools.equalize import equalize
from tools.match_room import match_room
from tools.remove_hum import remove_hum, remove_hum_blocks
from tools.shift_pitch import shift_pitch


def _dnsmos():
    try:
        from tools.models.dnsmos import dnsmos

        dnsmos(np.random.default_rng(0).standard_normal(16_000 * 2) * 0.01, 16_000)
        return dnsmos
    except Exception:  # not installed here: the column is left out
        return None


# ----------------------------------------------------------------------------- time and pitch


def pyin_median_f0(x: np.ndarray, rate: int) -> float:
    """Median f0 (Hz) over the frames pYIN judges voiced (librosa's ``pyin``, Mauch & Dixon 2014:
    YIN candidates and an HMM over pitch and voicing), 60-500 Hz, 10 ms hop.

    The eval's reference tracker: plain YIN (:func:`tools.algorithms.pitch.median_f0`) takes the
    first dip under a threshold in each frame on its own, so which frames count as voiced, and at
    which octave, moves with small changes of the waveform; pYIN's voicing is decided over time.
    librosa comes with the ``models`` extra (speechmos needs it); NaN when it is missing."""
    try:
        import librosa
    except ImportError:
        return float("nan")
    frame = 2 * int(0.032 * rate)
    f0, voiced, _ = librosa.pyin(np.asarray(x, np.float32).reshape(-1), fmin=60.0, fmax=500.0,
                                 sr=rate, frame_length=frame, hop_length=int(0.01 * rate))
    chosen = f0[voiced & np.isfinite(f0)]
    return float(np.median(chosen)) if chosen.size else float("nan")


def tempo_pitch_rows(files: dict[str, tuple[str, Audio]]) -> list[dict]:
    rows = []
    for name, (split, audio) in files.items():
        x = audio.samples.mean(axis=0, keepdims=True)
        mono = Audio(np.ascontiguousarray(x), audio.sample_rate)
        f0 = median_f0(x, audio.sample_rate)
        f0_pyin = pyin_median_f0(x, audio.sample_rate)
        for ratio in (0.8, 1.1, 1.25):
            out = change_tempo(mono, tempo_ratio=ratio)
            rows.append({"set": "tempo", "split": split, "case": f"{name} x{ratio:g}", "ratio": ratio,
                         "duration ratio error %": round(100 * (out.num_samples * ratio / x.shape[-1] - 1), 3),
                         "median f0 change % (pYIN)": round(100 * (pyin_median_f0(out.samples, audio.sample_rate) / f0_pyin - 1), 2),
                         "median f0 change % (YIN)": round(100 * (median_f0(out.samples, audio.sample_rate) / f0 - 1), 2),
                         "framewise f0 ratio": round(f0_ratio(x, out.samples, audio.sample_rate), 4)})
        for semitones in (-1.0, 2.0, -5.0):
            out = shift_pitch(mono, semitones=semitones)
            want = 2 ** (semitones / 12)
            got = f0_ratio(x, out.samples, audio.sample_rate)
            rows.append({"set": "pitch", "split": split, "case": f"{name} {semitones:+g} st",
                         "f0 ratio": round(got, 4), "asked": round(want, 4),
                         "error %": round(100 * (got / want - 1), 2),
                         "duration ratio": round(out.num_samples / x.shape[-1], 5)})
    return rows


# ----------------------------------------------------------------------------- EQ

EQ_CASES = (
    ("high-pass 100 Hz 48 dB/oct", {"highpass_hz": 100, "slope_db_per_octave": 48},
     {100: -3.01, 1000: 0.0, 50: None}),
    ("remove rumble (80 Hz)", {"preset": "remove_rumble"}, {80: -3.01, 1000: 0.0}),
    ("low-pass 3 kHz", {"lowpass_hz": 3000}, {3000: -3.01, 300: 0.0}),
    ("peak +6 dB at 1 kHz q 2", {"bands": [("peak", 1000.0, 6.0, 2.0)]}, {1000: 6.0, 100: 0.0}),
    ("peak -4 dB at 300 Hz (less muddy)", {"preset": "less_muddy"}, {300: -4.0}),
    ("high shelf +4 dB at 5 kHz (brighten)", {"preset": "brighten"}, {5000: 2.0, 200: 0.0}),
    ("low shelf -4 dB at 180 Hz (less boomy)", {"preset": "less_boomy"}, {180: -2.0, 3000: 0.0}),
    ("telephone", {"preset": "telephone"}, {1500: 4.0}),
)


def eq_rows(rates=(16_000, 44_100, 48_000)) -> list[dict]:
    rows = []
    for rate in rates:
        x = np.zeros((1, 4 * rate), np.float32)
        x[0, 0] = 1.0
        for name, kwargs, expect in EQ_CASES:
            y = equalize(Audio(x, rate), **kwargs).samples[0]
            spectrum = np.abs(np.fft.rfft(y))
            grid = np.fft.rfftfreq(y.size, 1 / rate)
            measured = {f: 20 * np.log10(np.interp(f, grid, spectrum)) for f in expect}
            errors = [abs(measured[f] - want) for f, want in expect.items() if want is not None]
            rows.append({"set": "eq", "split": "synthetic", "case": f"{name} @ {rate} Hz",
                         "asked": ", ".join(f"{f} Hz {w:+.1f}" for f, w in expect.items() if w is not None),
                         "measured": ", ".join(f"{f} Hz {measured[f]:+.2f}" for f in expect),
                         "max error dB": round(max(errors), 3)})
    return rows


# ----------------------------------------------------------------------------- hum


def _level_at(x: np.ndarray, f: float, rate: int) -> float:
    """Amplitude of the tone at ``f`` Hz in ``x``, by a Hann-windowed Fourier sum over all of it.

    The window matters: with a rectangular one, the speech's own partials a few hertz away leak
    into the sum at -13 dB and more (sidelobes), and that floor, not the hum, is what a 30 dB drop
    then measures (jfk, 400 Hz: 29.6 dB rectangular, 41.8 dB Hann, the notch itself 59 dB)."""
    t = np.arange(x.size) / rate
    w = np.hanning(x.size)
    return abs(np.sum(w * x * np.exp(-2j * np.pi * f * t))) / w.sum()


def hum_rows(files: dict[str, tuple[str, Audio]]) -> list[dict]:
    rows = []
    for name, (split, audio) in files.items():
        x = audio.samples.mean(axis=0).astype(np.float64)
        rate = audio.sample_rate
        t = np.arange(x.size) / rate
        for f0 in (50.0, 60.0):
            hum = sum(0.02 * 0.8 ** (k - 1) * np.sin(2 * np.pi * f0 * k * t + k) for k in range(1, 9))
            y = x + hum
            out, found = remove_hum(Audio.from_array(y.astype(np.float32), rate))
            o = out.samples[0].astype(np.float64)
            drops = [20 * np.log10(_level_at(y, k * f0, rate) / _level_at(o, k * f0, rate))
                     for k in range(1, 9)]
            alone = collect(remove_hum_blocks(hum[None].astype(np.float32), rate, found), 1)[0]
            notch = [20 * np.log10(_level_at(hum, k * f0, rate) / _level_at(alone, k * f0, rate))
                     for k in range(1, 9)]
            rows.append({"set": "hum", "split": split, "case": f"{name} {f0:g} Hz",
                         "found Hz": round(found.fundamental_hz, 3),
                         "min harmonic drop dB": round(min(drops), 1),
                         "hum alone, min drop dB": round(min(notch), 1),
                         "SI-SDR in": round(si_sdr_db(x[None], y[None]), 1),
                         "SI-SDR out": round(si_sdr_db(x[None], o[None]), 1)})
    return rows


# ----------------------------------------------------------------------------- rooms


def _rooms(rate: int, corpus_rir: np.ndarray, corpus_rate: int) -> dict[str, np.ndarray]:
    """Impulse responses with the direct sound first: the corpus one and two synthetic rooms."""
    rooms = {"corpus RIR (0.79 s)": resample_poly(corpus_rir, rate, corpus_rate)
             if rate != corpus_rate else corpus_rir}
    for decay in (0.6, 1.0):
        ir = np.zeros(int(1.3 * decay * rate) + 64)
        ir[32] = 1.0
        tail = synthetic_ir(rate, decay_s=decay, seed=21)[0]
        ir[33:33 + tail.size - 1] += tail[1:]
        rooms[f"synthetic {decay:g} s"] = ir
    return rooms


def dereverb_rows(files: dict[str, tuple[str, Audio]], corpus_rir: np.ndarray,
                  corpus_rate: int) -> list[dict]:
    score = _dnsmos()
    rows = []
    for name, (split, audio) in files.items():
        x = audio.samples.mean(axis=0).astype(np.float64)
        rate = audio.sample_rate
        for room, ir in _rooms(rate, corpus_rir, corpus_rate).items():
            d = int(np.argmax(np.abs(ir)))
            y = fftconvolve(x, ir)[:x.size + d]
            ref = np.concatenate([np.zeros(d), x]) * ir[d]
            out, settings = dereverb(Audio.from_array(y.astype(np.float32), rate))
            o = out.samples[0]
            row = {"set": "dereverb", "split": split, "case": f"{name}, {room}",
                   "SI-SDR in": round(si_sdr_db(ref[None], y[None]), 2),
                   "SI-SDR out": round(si_sdr_db(ref[None], o[None]), 2),
                   "gain dB": round(si_sdr_db(ref[None], o[None]) - si_sdr_db(ref[None], y[None]), 2),
                   "decay est s": round(settings.decay_s, 2)}
            if score is not None:
                row["DNSMOS OVRL in"] = round(score(y, rate).ovrl, 2)
                row["DNSMOS OVRL out"] = round(score(o, rate).ovrl, 2)
                row["DNSMOS OVRL dry"] = round(score(x, rate).ovrl, 2)
            rows.append(row)
    return rows


def reverb_rows(rates=(16_000, 48_000)) -> list[dict]:
    rows = []
    for rate in rates:
        x = np.zeros((1, rate // 2), np.float32)
        x[0, 100] = 1.0
        for decay in (0.3, 1.0, 2.5, 6.0):
            out, _ = add_reverb(Audio(x, rate), decay_s=decay, wet_db=0)
            wet = out.samples.copy()
            wet[0, 100] -= 1.0
            got = float(np.mean([schroeder_rt60(wet, rate, band_hz=b) for b in (500, 1000)]))
            rows.append({"set": "reverb", "split": "synthetic", "case": f"decay {decay:g} s @ {rate} Hz",
                         "measured T20 s": round(got, 3), "error %": round(100 * (got / decay - 1), 1)})
    return rows


def room_rows(files: dict[str, tuple[str, Audio]], corpus_rir: np.ndarray,
              corpus_rate: int) -> list[dict]:
    rows, names = [], list(files)
    for i, name in enumerate(names):
        split, audio = files[name]
        ref_split, ref_audio = files[names[(i + 1) % len(names)]]
        rate = audio.sample_rate
        x = audio.samples.mean(axis=0).astype(np.float64)
        r = resample_poly(ref_audio.samples.mean(axis=0), rate, ref_audio.sample_rate) \
            if ref_audio.sample_rate != rate else ref_audio.samples.mean(axis=0)
        for room, ir in _rooms(rate, corpus_rir, corpus_rate).items():
            reference = fftconvolve(r, ir)[:r.size]
            oracle = fftconvolve(x, ir)[:x.size]
            out, plan = match_room(Audio.from_array(x.astype(np.float32), rate),
                                   Audio.from_array(reference.astype(np.float32), rate))
            rows.append({"set": "match_room", "split": split, "case": f"{name} -> {room}",
                         "decay est dry": round(estimate_rt60(x[None], rate), 2),
                         "decay est out": round(estimate_rt60(out.samples, rate), 2),
                         "decay est oracle": round(estimate_rt60(oracle[None], rate), 2),
                         "wet dB": None if plan.wet_db is None else round(plan.wet_db, 1)})
    return rows


# ----------------------------------------------------------------------------- dynamics


def loudness_range_lu(x: np.ndarray, rate: int) -> float:
    """EBU Tech 3342 loudness range: short-term (3 s, 10 Hz) K-weighted loudness, gated at -70
    LUFS and 20 LU under the mean, 95th minus 10th percentile."""
    meter = pyloudnorm.Meter(rate)
    y = np.asarray(x, np.float64)
    for f in meter._filters.values():  # BS.1770's K-weighting, from pyloudnorm
        y = lfilter(f.b, f.a, y)
    window, hop = 3 * rate, rate // 10
    power = np.convolve(y ** 2, np.ones(window) / window, mode="valid")[::hop]
    short = -0.691 + 10 * np.log10(np.maximum(power, 1e-12))
    short = short[short > -70]
    if short.size < 2:
        return float("nan")
    gate = -0.691 + 10 * np.log10(np.mean(10 ** ((short + 0.691) / 10))) - 20
    short = short[short > gate]
    return float(np.percentile(short, 95) - np.percentile(short, 10))


def crest_db(x: np.ndarray) -> float:
    return float(20 * np.log10(np.abs(x).max() / np.sqrt(np.mean(np.square(x)))))


def compressor_rows(files: dict[str, tuple[str, Audio]]) -> list[dict]:
    rows = []
    for name, (split, audio) in files.items():
        x = audio.samples.mean(axis=0).astype(np.float32)
        rate = audio.sample_rate
        varied = x.copy()
        third = x.size // 3
        varied[third:2 * third] *= 0.3  # a quieter middle (-10.5 dB): a speaker who leaned back
        for preset in ("voice", "level_voice"):
            out, _ = compress(Audio(varied[None], rate), preset=preset)
            o = out.samples[0]
            rows.append({"set": "compressor", "split": split, "case": f"{name} ({preset})",
                         "LRA in LU": round(loudness_range_lu(varied, rate), 1),
                         "LRA out LU": round(loudness_range_lu(o, rate), 1),
                         "crest in dB": round(crest_db(varied), 1), "crest out dB": round(crest_db(o), 1),
                         "loudness change LU": round(pyloudnorm.Meter(rate).integrated_loudness(o.astype(np.float64))
                                                     - pyloudnorm.Meter(rate).integrated_loudness(varied.astype(np.float64)), 2)})
    return rows


# ----------------------------------------------------------------------------- speed and memory


def long_file_rows(audio: Audio, minutes: float) -> list[dict]:
    """Real-time factor and peak traced memory of each streamed tool over ``minutes`` of audio
    (the recording repeated), stereo, read through a window reader (the array itself)."""
    from tools.algorithms.hum import Hum
    from tools.compress import compress_blocks, plan_compression
    from tools.dereverb import dereverb_blocks, plan_dereverb
    from tools.equalize import equalize_blocks, for_rate, settings_from
    from tools.remove_hum import remove_hum_blocks
    from tools.shift_pitch import shift_pitch_blocks

    rate = audio.sample_rate
    base = audio.samples.mean(axis=0)
    reps = int(np.ceil(minutes * 60 * rate / base.size))
    long = np.tile(base, reps)[:int(minutes * 60 * rate)]
    source = np.stack([long, 0.8 * long]).astype(np.float32)
    seconds = source.shape[-1] / rate
    jobs = {
        "equalize (clear voice)": lambda: equalize_blocks(source, rate, for_rate(settings_from(preset="clear_voice"), rate)),
        "compress (level voice)": lambda: compress_blocks(source, rate, plan_compression(source, rate, preset="level_voice")),
        "remove_hum (50 Hz, 8)": lambda: remove_hum_blocks(source, rate, Hum(50.0, tuple(range(1, 9)), (0.0,) * 8, 30.0)),
        "shift_pitch (-1)": lambda: shift_pitch_blocks(source, rate, semitones=-1),
        "dereverb (medium)": lambda: dereverb_blocks(source, rate, plan_dereverb(source, rate, decay_s=0.6)),
    }
    rows = []
    for name, make in jobs.items():
        tracemalloc.start()
        start = time.perf_counter()
        total = 0
        for block in make():
            total += block.shape[-1]
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rows.append({"set": "long", "split": "synthetic", "case": f"{name}, {minutes:g} min stereo {rate} Hz",
                     "RTF": round(elapsed / seconds, 4), "peak traced MB": round(peak / 2**20, 1),
                     "track MB": round(source.nbytes / 2**20, 1), "samples out": total})
    return rows
