"""The Audio type, conversions, and whole-file load/save for short clips.

Audio is float32 samples shaped ``(channels, n)`` (mono is ``(1, n)``) plus ``sample_rate``. It is
validated once, on construction, and its samples are read-only: every edit makes a new Audio. It
reads like a session's :class:`~tools.core.versions.TrackView` (``read(lo, hi)``, ``shape``,
``view[..., lo:hi]``), so a function written over a window reader takes either.

Files are read and written block by block by :mod:`tools.core.audio_read` and
:mod:`tools.core.audio_write`; :func:`load` and :func:`save` here are their whole-file forms.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tools.core.audio_read import first_non_finite, open_input
from tools.core.audio_write import WRITABLE_EXTENSIONS, WriteReport, atomic_path, write_blocks
from tools.core.errors import AudioInputError, ToolArgumentError
from tools.core.resample import resampled_blocks

__all__ = ["Audio", "WRITABLE_EXTENSIONS", "WriteReport", "atomic_path", "first_non_finite",
           "load", "resample", "save", "to_channels"]

MIN_SAMPLE_RATE_HZ = 1_000
MAX_SAMPLE_RATE_HZ = 768_000

@dataclass(frozen=True, eq=False)
class Audio:
    """Immutable audio: ``samples`` float32 of shape ``(channels, n)``, ``sample_rate`` in Hz."""

    samples: np.ndarray
    sample_rate: int

    def __post_init__(self) -> None:
        samples = self.samples
        if not isinstance(samples, np.ndarray):
            raise TypeError(f"samples must be a numpy array, got {type(samples).__name__}")
        if samples.ndim != 2:
            raise ValueError(f"samples must be shaped (channels, n), got shape {samples.shape}")
        if samples.shape[0] < 1:
            raise ValueError("samples must have at least one channel")
        if samples.dtype != np.float32:
            raise ValueError(f"samples must be float32, got {samples.dtype}")
        rate = self.sample_rate
        if not isinstance(rate, (int, np.integer)) or not (
            MIN_SAMPLE_RATE_HZ <= rate <= MAX_SAMPLE_RATE_HZ
        ):
            raise ValueError(
                f"sample_rate={rate!r} must be an integer from {MIN_SAMPLE_RATE_HZ} to "
                f"{MAX_SAMPLE_RATE_HZ} Hz"
            )
        first = first_non_finite(samples)
        if first is not None:
            raise ValueError(f"samples contain NaN or infinite values (first at {first / rate:.3f} s)")
        if samples.flags.writeable:
            # Freeze an array that owns its memory (no copy; the caller's later writes then fail);
            # copy a writable view, whose owner could still change the samples behind our back.
            if samples.base is not None:
                samples = samples.copy()
            samples.flags.writeable = False
            object.__setattr__(self, "samples", samples)
        object.__setattr__(self, "sample_rate", int(rate))

    @classmethod
    def from_array(cls, samples: np.ndarray, sample_rate: int) -> Audio:
        """Build Audio from ``(n,)`` (mono) or ``(channels, n)`` data of any float or int dtype."""
        array = np.asarray(samples)
        if array.ndim == 1:
            array = array[np.newaxis, :]
        if np.issubdtype(array.dtype, np.integer):
            scale = float(np.iinfo(array.dtype).max) + 1.0
            array = array.astype(np.float32) / np.float32(scale)
        return cls(np.ascontiguousarray(array, dtype=np.float32), int(sample_rate))

    @property
    def channels(self) -> int:
        return int(self.samples.shape[0])

    @property
    def num_samples(self) -> int:
        return int(self.samples.shape[1])

    @property
    def duration_s(self) -> float:
        return self.num_samples / self.sample_rate

    def replace(self, samples: np.ndarray) -> Audio:
        """A new Audio at the same rate with ``samples`` (any float array shaped (channels, n))."""
        return Audio(np.ascontiguousarray(samples, dtype=np.float32), self.sample_rate)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.channels, self.num_samples)

    def read(self, start: int, stop: int) -> np.ndarray:
        """Samples ``start:stop`` (clamped to the track), read-only float32 ``(channels, m)``."""
        return self.samples[:, max(int(start), 0):max(int(stop), 0)]

    def __getitem__(self, key):
        return self.samples[key]

    def sample_index(self, time_s: float) -> int:
        """The sample index nearest ``time_s``, clamped to ``[0, num_samples]``."""
        return int(min(max(round(time_s * self.sample_rate), 0), self.num_samples))


# ----------------------------------------------------------------------------- conversions


def resample(audio: Audio, *, sample_rate_hz: int) -> Audio:
    """Resample with a polyphase anti-aliasing filter (scipy ``resample_poly``, in chunks)."""
    if not MIN_SAMPLE_RATE_HZ <= sample_rate_hz <= MAX_SAMPLE_RATE_HZ:
        raise ToolArgumentError(
            f"sample_rate_hz={sample_rate_hz} must be from {MIN_SAMPLE_RATE_HZ} to "
            f"{MAX_SAMPLE_RATE_HZ} Hz"
        )
    if sample_rate_hz == audio.sample_rate:
        return audio
    blocks = list(resampled_blocks(audio, audio.sample_rate, int(sample_rate_hz)))
    return Audio(np.concatenate(blocks, axis=1), int(sample_rate_hz))


def to_channels(audio: Audio, *, channels: int) -> Audio:
    """Mix down to mono (mean of channels), or copy mono out to ``channels`` channels."""
    if channels < 1:
        raise ToolArgumentError(f"channels={channels} must be at least 1")
    if channels == audio.channels:
        return audio
    if channels == 1:
        return audio.replace(audio.samples.mean(axis=0, keepdims=True))
    if audio.channels == 1:
        return audio.replace(np.repeat(audio.samples, channels, axis=0))
    raise ToolArgumentError(
        f"channels={channels}: cannot map {audio.channels} channels to {channels}; "
        "allowed: 1 (mix down) or any count from mono"
    )


# ----------------------------------------------------------------------------- files


def load(path: str | os.PathLike) -> Audio:
    """Read a whole audio file (or the first audio stream of a video file) as float32 Audio.

    Raises :class:`AudioInputError` with one line for anything unusable: missing, a directory,
    unreadable, empty, not audio, truncated, corrupt, or containing NaN samples.
    """
    source = open_input(path)
    samples = source.read_all()
    try:
        return Audio(np.ascontiguousarray(samples, dtype=np.float32), source.sample_rate)
    except ValueError as exc:  # e.g. a sample rate outside what Audio accepts
        raise AudioInputError(f"{source.path}: unsupported audio ({exc})") from None


def save(audio: Audio, path: str | os.PathLike, *, subtype: str | None = None,
         bit_depth: str | None = None, bitrate: str | None = None,
         origin: dict | None = None) -> Path:
    """Write ``audio`` to ``path`` atomically; the format follows the extension, the sample format
    the rule of :mod:`tools.core.audio_write` (float WAV for audio from no file). Returns the path."""
    block = 1 << 20
    blocks = (audio.samples[:, at:at + block] for at in range(0, audio.num_samples, block))
    write_blocks(path, blocks, sample_rate=audio.sample_rate, channels=audio.channels,
                 frames=audio.num_samples, subtype=subtype, bit_depth=bit_depth,
                 bitrate=bitrate, origin=origin)
    return Path(path)
