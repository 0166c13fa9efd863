"""Speech for the ``asr`` suite: the corpus sets with their references, and a long noisy recording.

Sets (each an :class:`Item` list):

- ``speech-reference``: jfk.flac (mono mix) and each channel of stereo_diarization.wav, with the
  texts faster-whisper's own tests expect (``expected_transcripts.tsv``);
- ``disfluency-dev`` / ``disfluency-held-out``: the disfluency corpus with its verbatim
  ``reference_transcripts.tsv``, split exactly as :mod:`evals.suites.disfluency` does
  (:data:`~evals.suites.disfluency.DEV_FILES` are the files looked at while designing);
- ``general``: the LibriSpeech utterances in ``general/``. Their ``.txt`` files hold only book,
  reader and licence (librosa's data repo ships no transcript), so they have no reference: they
  count for loops and speed, not for WER.

:func:`long_recording` builds 10+ minutes of speech from all of these: clips in a seeded order
(no two neighbours with the same text, so the references do not repeat across a join), 0.4-1.5 s
pauses, every clip at the same speech level, and one real noise from ``noise/`` looped under
everything at a seeded 10-15 dB SNR (speech power over the clips, noise power over the whole).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from evals.corpus import corpus_path
from evals.suites.disfluency import DEV_FILES, QUICK_FILES
from tools.core.audio import Audio, load, resample, to_channels

RATE_HZ = 16_000
SPEECH_RMS = 0.05  # every clip of the long recording at this level (about -26 dBFS)
PAUSE_S = (0.4, 1.5)
SNR_DB = (10.0, 15.0)
NOISES = ("noise1.wav", "noise2.wav", "noise3.wav", "noise4.wav", "noise5.wav")


@dataclass(frozen=True)
class Item:
    """One recording to transcribe: ``reference`` is None where no text is known."""

    name: str
    set: str
    audio: Audio
    reference: str | None


@dataclass(frozen=True)
class Placement:
    """Where an item sits in the long recording."""

    name: str
    start_s: float
    end_s: float
    reference: str | None


def _mono16k(audio: Audio) -> Audio:
    return resample(to_channels(audio, channels=1), sample_rate_hz=RATE_HZ)


def speech_reference() -> list[Item]:
    folder = corpus_path("speech-reference")
    rows = list(csv.reader((folder / "expected_transcripts.tsv").open(encoding="utf-8"),
                           delimiter="\t"))[1:]
    texts = {(r[0], r[1]): r[2].strip() for r in rows if len(r) >= 3}
    items = [Item("jfk", "speech-reference", _mono16k(load(folder / "jfk.flac")),
                  texts[("jfk.flac", "mono")])]
    stereo = load(folder / "stereo_diarization.wav")
    for index, side in enumerate(("left", "right")):
        channel = Audio.from_array(stereo.samples[index], stereo.sample_rate)
        items.append(Item(f"stereo_{side}", "speech-reference", _mono16k(channel),
                          texts[("stereo_diarization.wav", side)]))
    return items


def disfluency(*, quick: bool = False) -> list[Item]:
    folder = corpus_path("disfluency")
    texts = {}
    for line in (folder / "reference_transcripts.tsv").read_text(encoding="utf-8").splitlines():
        name, _, text = line.partition("\t")
        if name.strip() and text.strip():
            texts[name.strip()] = text.strip()
    names = sorted(n for n in texts if (folder / f"{n}.flac").is_file())
    if quick:
        names = [n for n in names if n in QUICK_FILES]
    return [Item(n, "disfluency-dev" if n in DEV_FILES else "disfluency-held-out",
                 _mono16k(load(folder / f"{n}.flac")), texts[n]) for n in names]


def general(*, quick: bool = False) -> list[Item]:
    """The LibriSpeech utterances (names like ``198-209-0000``), without references."""
    folder = corpus_path("general")
    paths = sorted(p for p in folder.glob("*.hq.ogg") if p.name.split(".")[0].replace("-", "").isdigit())
    return [Item(p.name.split(".")[0], "general", _mono16k(load(p)), None)
            for p in paths[:1 if quick else None]]


def _clash(order: list[Item], previous: Item | None) -> bool:
    before = [previous, *order[:-1]]
    return any(b is not None and b.reference is not None and b.reference == item.reference
               for b, item in zip(before, order, strict=True))


def _order(items: list[Item], rng: np.random.Generator, previous: Item | None,
           tries: int = 200) -> list[Item]:
    """A seeded shuffle in which no item has the same reference as the one before it (the first
    of ``tries`` shuffles that has none; the last one tried if none does)."""
    for _ in range(tries):
        order = [items[i] for i in rng.permutation(len(items))]
        if not _clash(order, previous):
            break
    return order


def _level(x: np.ndarray) -> np.ndarray:
    rms = float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))
    return x * (SPEECH_RMS / rms) if rms > 0 else x


def long_recording(items: list[Item], *, seed: int, min_duration_s: float,
                   ) -> tuple[Audio, list[Placement], dict[str, float | str]]:
    """``(audio, placements, facts)``: ``items`` in seeded orders, pass after pass, until the recording
    runs at least ``min_duration_s``; pauses between clips; a corpus noise mixed in (see the module
    docstring). ``facts``: noise file, SNR in dB, duration."""
    rng = np.random.default_rng(seed)
    pieces: list[np.ndarray] = []
    placements: list[Placement] = []
    at = 0
    speech_power, speech_samples = 0.0, 0
    previous: Item | None = None
    pieces.append(np.zeros(int(0.5 * RATE_HZ), np.float32))
    at += pieces[-1].size
    while at < min_duration_s * RATE_HZ:
        for item in _order(items, rng, previous):
            if at >= min_duration_s * RATE_HZ:
                break
            x = _level(item.audio.samples[0].astype(np.float32))
            pieces.append(x)
            placements.append(Placement(item.name, at / RATE_HZ, (at + x.size) / RATE_HZ,
                                        item.reference))
            speech_power += float(np.sum(x.astype(np.float64) ** 2))
            speech_samples += x.size
            at += x.size
            pause = np.zeros(int(rng.uniform(*PAUSE_S) * RATE_HZ), np.float32)
            pieces.append(pause)
            at += pause.size
            previous = item
    speech = np.concatenate(pieces)
    noise_name = str(rng.choice(NOISES))
    noise = _mono16k(load(corpus_path("noise", noise_name))).samples[0].astype(np.float64)
    noise = np.tile(noise, int(np.ceil(speech.size / noise.size)))[:speech.size]
    snr_db = float(rng.uniform(*SNR_DB))
    wanted_power = speech_power / speech_samples / 10 ** (snr_db / 10)
    noise *= np.sqrt(wanted_power / np.mean(noise ** 2))
    mix = speech + noise
    peak = float(np.abs(mix).max())
    if peak > 0.99:
        mix *= 0.99 / peak
    facts = {"noise": noise_name, "snr_db": round(snr_db, 2),
             "duration_s": round(mix.size / RATE_HZ, 2), "clips": len(placements)}
    return Audio.from_array(mix.astype(np.float32), RATE_HZ), placements, facts


def words_by_placement(words: list[tuple[str, float, float]], placements: list[Placement],
                       ) -> list[list[str]]:
    """The hypothesis words (text, start_s, end_s) of each placement: a word belongs to the clip
    its middle falls in, the pauses split halfway between neighbouring clips."""
    bounds = [(a.end_s + b.start_s) / 2 for a, b in pairwise(placements)]
    out: list[list[str]] = [[] for _ in placements]
    for text, start_s, end_s in words:
        middle = (start_s + end_s) / 2
        out[int(np.searchsorted(bounds, middle))].append(text)
    return out

