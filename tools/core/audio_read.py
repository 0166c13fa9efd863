"""Reading audio files block by block, with every check a person needs for a bad input.

:func:`open_input` looks at a file once (exists, readable, not empty, what format, truncated?) and
returns an :class:`InputFile` whose :meth:`InputFile.blocks` yields float32 ``(channels, m)``
blocks (int16 for 16-bit PCM, exact) in order, so a three-hour file is never in memory at once.
wav/flac/ogg/aiff (and what else libsndfile knows) are read with soundfile; mp3, m4a, aac, opus,
webm and the audio of video files are decoded by the ffmpeg program and read from its pipe.
Every problem is one :class:`AudioInputError` line: missing, a directory, unreadable, empty, not
audio, truncated, corrupt, or containing NaN samples.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from tools.core.errors import AudioInputError, SetupError

BLOCK_FRAMES = 1 << 17
_DECODE_ERROR = re.compile(r"Error while decoding|Invalid data found|corrupt|Header missing", re.I)
_DECLARED_DATA = re.compile(r"^(?:data|SSND) : (\d+) \(should be (\d+)\)", re.MULTILINE)
IN_PLACE_FORMATS = frozenset({"WAV", "WAVEX", "RF64", "AIFF", "W64"})
IN_PLACE_SUBTYPES = frozenset({"PCM_16", "PCM_24", "PCM_32"})
LOSSY_FORMATS = frozenset({"OGG", "MPEG", "MP3", "ffmpeg"})


def first_non_finite(samples: np.ndarray, *, block: int = 1 << 20) -> int | None:
    """Index (along time) of the first NaN or infinite sample, or None; checks block by block."""
    for start in range(0, samples.shape[-1], block):
        bad = ~np.isfinite(samples[..., start:start + block])
        if bad.any():
            return start + int(np.argwhere(bad)[0][-1])
    return None


@dataclass(frozen=True)
class InputFile:
    """An audio file checked and ready to stream. ``frames`` is 0 when unknown (ffmpeg)."""

    path: Path
    sample_rate: int
    channels: int
    frames: int
    format: str  # libsndfile's major format ("WAV", "FLAC", ...) or "ffmpeg"
    subtype: str  # "PCM_16", "PCM_24", "FLOAT", "VORBIS", ... or the ffmpeg codec name

    @property
    def readable_in_place(self) -> bool:
        """An uncompressed integer PCM file that can be read where it is, without a copy."""
        return self.format in IN_PLACE_FORMATS and self.subtype in IN_PLACE_SUBTYPES

    @property
    def origin(self) -> dict[str, str]:
        return {"format": self.format, "subtype": self.subtype}

    def blocks(self, frames: int = BLOCK_FRAMES) -> Iterator[np.ndarray]:
        if self.format == "ffmpeg":
            yield from _ffmpeg_blocks(self, frames)
        else:
            yield from _soundfile_blocks(self, frames)

    def read_all(self) -> np.ndarray:
        """The whole file as float32 ``(channels, n)`` (short files)."""
        parts = [b.astype(np.float32) / 32768 if b.dtype == np.int16 else b for b in self.blocks()]
        if not parts:
            raise AudioInputError(f"{self.path}: no audio in the file (0 samples)")
        return np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]


def check_readable(path: Path) -> None:
    if not path.exists():
        raise AudioInputError(f"{path}: no such file")
    if path.is_dir():
        raise AudioInputError(f"{path}: is a directory, not an audio file")
    if not os.access(path, os.R_OK):
        raise AudioInputError(f"{path}: permission denied")
    if path.stat().st_size == 0:
        raise AudioInputError(f"{path}: empty file (0 bytes)")


def _looks_like_mpeg(path: Path) -> bool:
    """MP3 (ID3 tag or MPEG frame sync) and ADTS AAC: decoded by ffmpeg, never by libsndfile,
    whose mpg123 backend writes warnings straight to stderr."""
    with open(path, "rb") as handle:
        head = handle.read(3)
    return head == b"ID3" or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0)


def open_input(path: str | os.PathLike) -> InputFile:
    """Check ``path`` and say how to stream it; raises AudioInputError (one line) if unusable."""
    path = Path(path)
    check_readable(path)
    found = _soundfile_input(path)
    return found if found is not None else _ffmpeg_input(path)


def _soundfile_input(path: Path) -> InputFile | None:
    if _looks_like_mpeg(path):
        return None
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError):
        return None
    if info.format in ("MPEG", "MP3") or info.samplerate <= 0:
        return None  # let ffmpeg decode compressed formats with full container support
    declared = _DECLARED_DATA.search(info.extra_info or "")
    if declared and 0 < int(declared[1]) < 0xFFFFFFFF and int(declared[2]) < int(declared[1]):
        raise AudioInputError(
            f"{path}: truncated file: the header promises {int(declared[1])} bytes of audio "
            f"but only {int(declared[2])} are there"
        )
    if info.frames == 0:
        raise AudioInputError(f"{path}: no audio in the file (0 samples)")
    return InputFile(path, int(info.samplerate), int(info.channels), int(info.frames),
                     info.format, info.subtype)


def _soundfile_blocks(source: InputFile, frames: int) -> Iterator[np.ndarray]:
    exact16 = source.subtype == "PCM_16"
    done = 0
    try:
        with sf.SoundFile(str(source.path)) as handle:
            while True:
                block = handle.read(frames, dtype="int16" if exact16 else "float32",
                                    always_2d=True)
                if block.shape[0] == 0:
                    break
                out = np.ascontiguousarray(block.T)
                if not exact16:
                    _check_finite(out, done, source)
                done += out.shape[1]
                yield out
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioInputError(f"{source.path}: corrupt or truncated {source.format} file "
                              f"({exc})") from None
    if done == 0:
        raise AudioInputError(f"{source.path}: no audio in the file (0 samples)")
    if source.frames > 0 and done < source.frames:
        rate = source.sample_rate
        raise AudioInputError(
            f"{source.path}: truncated file: the header promises {source.frames / rate:.3f} s "
            f"but only {done / rate:.3f} s is there"
        )


def _check_finite(block: np.ndarray, done: int, source: InputFile) -> None:
    first = first_non_finite(block)
    if first is not None:
        raise AudioInputError(f"{source.path}: contains NaN or infinite samples (first at "
                              f"{(done + first) / source.sample_rate:.3f} s)")


def require_ffmpeg() -> str:
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise SetupError(
            "ffmpeg is not installed but is needed for this format; install it "
            "(Debian/Ubuntu: apt-get install ffmpeg; macOS: brew install ffmpeg)"
        )
    return exe


def _ffmpeg_input(path: Path) -> InputFile:
    require_ffmpeg()
    exe = shutil.which("ffprobe")
    if exe is None:
        raise SetupError("ffprobe (part of ffmpeg) is missing; reinstall ffmpeg")
    proc = subprocess.run(
        [exe, "-v", "error", "-select_streams", "a:0", "-show_entries",
         "stream=sample_rate,channels,codec_name", "-of", "json", str(path)],
        capture_output=True, text=True, check=False,
    )
    streams = json.loads(proc.stdout or "{}").get("streams") or []
    if proc.returncode != 0 or not streams:
        raise AudioInputError(f"{path}: not an audio file (no audio stream found)")
    stream = streams[0]
    rate, channels = int(stream["sample_rate"]), int(stream["channels"])
    if not 1 <= channels:
        raise AudioInputError(f"{path}: not an audio file (no audio channels)")
    return InputFile(path, rate, channels, 0, "ffmpeg", str(stream.get("codec_name", "?")))


def _ffmpeg_blocks(source: InputFile, frames: int) -> Iterator[np.ndarray]:
    exe = require_ffmpeg()
    width = 4 * source.channels
    with tempfile.TemporaryFile() as errors:  # a file, not a pipe: ffmpeg never blocks on stderr
        proc = subprocess.Popen(
            [exe, "-v", "error", "-nostdin", "-i", str(source.path), "-map", "0:a:0", "-vn",
             "-f", "f32le", "-acodec", "pcm_f32le", "-"],
            stdout=subprocess.PIPE, stderr=errors,
        )
        done = 0
        try:
            while True:
                raw = proc.stdout.read(frames * width)
                if not raw:
                    break
                usable = len(raw) - len(raw) % width
                block = np.frombuffer(raw[:usable], dtype="<f4").reshape(-1, source.channels)
                out = np.ascontiguousarray(block.T)
                _check_finite(out, done, source)
                done += out.shape[1]
                yield out
            code = proc.wait()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
        errors.seek(0)
        reason = errors.read().decode(errors="replace").strip().splitlines()
    if code != 0:
        raise AudioInputError(f"{source.path}: cannot decode ({reason[-1] if reason else 'ffmpeg failed'})")
    broken = [line for line in reason if _DECODE_ERROR.search(line)]
    if broken:  # ffmpeg skips damaged frames and still exits 0
        detail = re.sub(r"^\[[^\]]*\]\s*", "", broken[0].strip())  # drop "[mp3float @ 0x...]"
        raise AudioInputError(f"{source.path}: corrupt audio data ({detail})")
    if done == 0:
        raise AudioInputError(f"{source.path}: no audio in the file (0 samples)")
