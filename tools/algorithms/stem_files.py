"""Sound files for :func:`tools.separate.separate_file`: the input read from disk window by window,
and several stem files written together, block by block, in the input's sample format.

The sample format follows :func:`tools.core.audio_write.choose_subtype` with the input's origin (a
16-bit WAV gives 16-bit stems with TPDF dither, a float WAV float stems, FLAC 24-bit by default),
as ``echo-agent`` exports do. :func:`tools.core.audio_write.write_blocks` writes one stream to one
file; separation yields every stem of a chunk at once, so this module keeps one libsndfile handle
per stem and uses the same quantizer, atomic rename and RF64 rule.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from tools.core.audio import load
from tools.core.audio_read import open_input
from tools.core.audio_write import atomic_path, choose_subtype, fsync_and_replace, quantize

_RF64_BYTES = 2**32 - 2**20
_WIDTH = {"FLOAT": 4, "PCM_32": 4, "PCM_24": 3, "PCM_16": 2}


class FileSignal:
    """A sound file seen as a read-only ``(channels, n)`` float32 array (slicing reads from disk)."""

    def __init__(self, path: Path) -> None:
        self._file = sf.SoundFile(str(path))
        self.shape = (self._file.channels, self._file.frames)
        self.ndim = 2
        self.sample_rate = int(self._file.samplerate)

    def __getitem__(self, key: tuple[Any, slice]) -> np.ndarray:
        span = key[-1]
        lo, hi, _ = span.indices(self.shape[1])
        self._file.seek(lo)
        return self._file.read(max(hi - lo, 0), dtype="float32", always_2d=True).T

    def close(self) -> None:
        self._file.close()


def open_signal(path: Path) -> tuple[Any, int, dict]:
    """``(signal, sample_rate, origin)``: WAV/FLAC/AIFF/OGG streamed from disk; anything else (mp3,
    m4a, video) decoded in memory. ``origin`` is the input's format and subtype."""
    source = open_input(path)  # one-line errors for missing, empty, corrupt files
    if source.format != "ffmpeg" and source.frames > 0:
        signal = FileSignal(path)
        return signal, signal.sample_rate, source.origin
    audio = load(path)
    return audio.samples, audio.sample_rate, source.origin


class StemWriter:
    """Write stems side by side: ``write(parts)`` appends one float32 ``(channels, m)`` block to each
    target, ``commit()`` renames the finished files into place; ``close()`` without ``commit``
    removes the partial files. ``clipped`` counts samples past full scale in integer formats."""

    def __init__(self, targets: list[Path], *, sample_rate: int, channels: int, frames: int,
                 origin: dict | None) -> None:
        ext = targets[0].suffix.lower()
        self.subtype = choose_subtype(ext, origin=origin)
        container = "FLAC" if ext == ".flac" else "WAV"
        if container == "WAV" and frames * channels * _WIDTH[self.subtype] >= _RF64_BYTES:
            container = "RF64"
        self.targets = list(targets)
        self.temps = [atomic_path(path) for path in self.targets]
        self.clipped = 0
        self._at = 0
        self._files = [sf.SoundFile(str(temp), "w", samplerate=sample_rate, channels=channels,
                                    format=container, subtype=self.subtype)
                       for temp in self.temps]

    def write(self, parts: list[np.ndarray] | np.ndarray) -> None:
        for handle, part in zip(self._files, parts, strict=True):
            if self.subtype == "FLOAT":
                handle.write(np.ascontiguousarray(part.T, dtype=np.float32))
            else:
                data, count = quantize(np.asarray(part, dtype=np.float32), self.subtype,
                                       start=self._at)
                handle.write(data)
                self.clipped += count
        self._at += parts[0].shape[1]

    def commit(self) -> None:
        for handle in self._files:
            handle.close()
        for temp, path in zip(self.temps, self.targets, strict=True):
            fsync_and_replace(temp, path)

    def close(self) -> None:
        for handle in self._files:
            handle.close()
        for temp in self.temps:
            temp.unlink(missing_ok=True)
