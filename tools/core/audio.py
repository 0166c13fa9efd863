"""The Audio type and its file I/O.

Audio is float32 samples shaped ``(channels, n)`` (mono is ``(1, n)``) plus ``sample_rate``. It is
validated once, on construction, and its samples are read-only: every edit makes a new Audio.

Files: wav/flac/ogg/aiff (and what else libsndfile knows) through soundfile; mp3, m4a, aac, opus,
webm and the audio of video files through the ffmpeg program. Writes are atomic (temp file + rename).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from tools.core.errors import AudioInputError, SetupError, ToolArgumentError, ToolError

MIN_SAMPLE_RATE_HZ = 1_000
MAX_SAMPLE_RATE_HZ = 768_000

# Formats soundfile writes itself; everything else goes through ffmpeg.
_SOUNDFILE_WRITE = {
    ".wav": ("WAV", "FLOAT"),
    ".flac": ("FLAC", "PCM_24"),
    ".ogg": ("OGG", "VORBIS"),
    ".aiff": ("AIFF", "PCM_24"),
    ".aif": ("AIFF", "PCM_24"),
}
_FFMPEG_WRITE = {
    ".mp3": ["-f", "mp3", "-c:a", "libmp3lame", "-b:a", "192k"],
    ".m4a": ["-f", "ipod", "-c:a", "aac", "-b:a", "192k"],
    ".opus": ["-f", "opus", "-c:a", "libopus", "-b:a", "128k"],
}
_DECODE_ERROR = re.compile(r"Error while decoding|Invalid data found|corrupt|Header missing", re.I)
_MAX_CHANNELS = {".mp3": 2}
_DECLARED_DATA = re.compile(r"^(?:data|SSND) : (\d+) \(should be (\d+)\)", re.MULTILINE)
WRITABLE_EXTENSIONS = tuple(sorted({*_SOUNDFILE_WRITE, *_FFMPEG_WRITE}))


def first_non_finite(samples: np.ndarray, *, block: int = 1 << 20) -> int | None:
    """Index (along time) of the first NaN or infinite sample, or None; checks block by block."""
    for start in range(0, samples.shape[-1], block):
        bad = ~np.isfinite(samples[..., start:start + block])
        if bad.any():
            return start + int(np.argwhere(bad)[0][-1])
    return None


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

    def sample_index(self, time_s: float) -> int:
        """The sample index nearest ``time_s``, clamped to ``[0, num_samples]``."""
        return int(min(max(round(time_s * self.sample_rate), 0), self.num_samples))


# ----------------------------------------------------------------------------- conversions


def resample(audio: Audio, *, sample_rate_hz: int) -> Audio:
    """Resample with a polyphase anti-aliasing filter (scipy ``resample_poly``)."""
    if not MIN_SAMPLE_RATE_HZ <= sample_rate_hz <= MAX_SAMPLE_RATE_HZ:
        raise ToolArgumentError(
            f"sample_rate_hz={sample_rate_hz} must be from {MIN_SAMPLE_RATE_HZ} to "
            f"{MAX_SAMPLE_RATE_HZ} Hz"
        )
    if sample_rate_hz == audio.sample_rate:
        return audio
    divisor = gcd(int(sample_rate_hz), audio.sample_rate)
    up, down = int(sample_rate_hz) // divisor, audio.sample_rate // divisor
    out = resample_poly(audio.samples, up, down, axis=-1).astype(np.float32)
    return Audio(out, int(sample_rate_hz))


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


# ----------------------------------------------------------------------------- reading


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise AudioInputError(f"{path}: no such file")
    if path.is_dir():
        raise AudioInputError(f"{path}: is a directory, not an audio file")
    if not os.access(path, os.R_OK):
        raise AudioInputError(f"{path}: permission denied")
    if path.stat().st_size == 0:
        raise AudioInputError(f"{path}: empty file (0 bytes)")


def _finish(samples: np.ndarray, sample_rate: int, path: Path) -> Audio:
    if samples.shape[-1] == 0:
        raise AudioInputError(f"{path}: no audio in the file (0 samples)")
    first = first_non_finite(samples)
    if first is not None:
        raise AudioInputError(
            f"{path}: contains NaN or infinite samples (first at {first / sample_rate:.3f} s)"
        )
    try:
        return Audio(np.ascontiguousarray(samples, dtype=np.float32), int(sample_rate))
    except ValueError as exc:  # e.g. a sample rate outside what Audio accepts
        raise AudioInputError(f"{path}: unsupported audio ({exc})") from None


def _looks_like_mpeg(path: Path) -> bool:
    """MP3 (ID3 tag or MPEG frame sync) and ADTS AAC: decoded by ffmpeg, never by libsndfile,
    whose mpg123 backend writes warnings straight to stderr."""
    with open(path, "rb") as handle:
        head = handle.read(3)
    return head == b"ID3" or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0)


_IO_BLOCK_FRAMES = 1 << 20


def read_frames(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Read a libsndfile file straight into a ``(channels, n)`` float32 array, block by block
    (no interleaved copy of the whole file). Returns the array and the sample rate."""
    with sf.SoundFile(str(path)) as handle:
        frames = handle.frames
        out = np.empty((handle.channels, frames), dtype=np.float32)
        done = 0
        while done < frames:
            block = handle.read(min(_IO_BLOCK_FRAMES, frames - done), dtype="float32", always_2d=True)
            if block.shape[0] == 0:
                break
            out[:, done:done + block.shape[0]] = block.T
            done += block.shape[0]
        return out[:, :done], handle.samplerate


def write_frames(path: str | os.PathLike, samples: np.ndarray, sample_rate: int, *, format: str,
                 subtype: str) -> None:
    """Write ``(channels, n)`` samples with libsndfile, block by block (bounded extra memory)."""
    with sf.SoundFile(str(path), "w", sample_rate, samples.shape[0], format=format,
                      subtype=subtype) as handle:
        for start in range(0, samples.shape[1], _IO_BLOCK_FRAMES):
            handle.write(np.ascontiguousarray(samples[:, start:start + _IO_BLOCK_FRAMES].T))


def _read_soundfile(path: Path) -> Audio | None:
    """Read with libsndfile; None when it does not recognise the format."""
    if _looks_like_mpeg(path):
        return None
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError):
        return None
    if info.format in ("MPEG", "MP3") or info.samplerate <= 0:
        return None  # let ffmpeg decode compressed formats with full container support
    try:
        data, rate = read_frames(path)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioInputError(f"{path}: corrupt or truncated {info.format} file ({exc})") from None
    expected = info.frames
    declared = _DECLARED_DATA.search(info.extra_info or "")
    if declared and 0 < int(declared[1]) < 0xFFFFFFFF and int(declared[2]) < int(declared[1]):
        raise AudioInputError(
            f"{path}: truncated file: the header promises {int(declared[1])} bytes of audio "
            f"but only {int(declared[2])} are there"
        )
    if expected > 0 and data.shape[1] < expected:
        raise AudioInputError(
            f"{path}: truncated file: the header promises {expected / rate:.3f} s "
            f"but only {data.shape[1] / rate:.3f} s is there"
        )
    return _finish(data, rate, path)


def _require_ffmpeg() -> str:
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise SetupError(
            "ffmpeg is not installed but is needed for this format; install it "
            "(Debian/Ubuntu: apt-get install ffmpeg; macOS: brew install ffmpeg)"
        )
    return exe


def _probe(path: Path) -> tuple[int, int]:
    exe = shutil.which("ffprobe")
    if exe is None:
        _require_ffmpeg()
        raise SetupError("ffprobe (part of ffmpeg) is missing; reinstall ffmpeg")
    proc = subprocess.run(
        [exe, "-v", "error", "-select_streams", "a:0", "-show_entries",
         "stream=sample_rate,channels", "-of", "json", str(path)],
        capture_output=True, text=True, check=False,
    )
    streams = json.loads(proc.stdout or "{}").get("streams") or []
    if proc.returncode != 0 or not streams:
        raise AudioInputError(f"{path}: not an audio file (no audio stream found)")
    return int(streams[0]["sample_rate"]), int(streams[0]["channels"])


def _read_ffmpeg(path: Path) -> Audio:
    exe = _require_ffmpeg()
    rate, channels = _probe(path)
    proc = subprocess.run(
        [exe, "-v", "error", "-nostdin", "-i", str(path), "-map", "0:a:0", "-vn",
         "-f", "f32le", "-acodec", "pcm_f32le", "-"],
        capture_output=True, check=False,
    )
    reason = proc.stderr.decode(errors="replace").strip().splitlines()
    if proc.returncode != 0:
        detail = reason[-1] if reason else "ffmpeg failed"
        raise AudioInputError(f"{path}: cannot decode ({detail})")
    broken = [line for line in reason if _DECODE_ERROR.search(line)]
    if broken:  # ffmpeg skips damaged frames and still exits 0
        detail = re.sub(r"^\[[^\]]*\]\s*", "", broken[0].strip())  # drop "[mp3float @ 0x...]"
        raise AudioInputError(f"{path}: corrupt audio data ({detail})")
    data = np.frombuffer(proc.stdout, dtype=np.float32)
    usable = data.size - data.size % channels
    return _finish(data[:usable].reshape(-1, channels).T, rate, path)


def load(path: str | os.PathLike) -> Audio:
    """Read an audio file (or the first audio stream of a video file) as float32 Audio.

    Raises :class:`AudioInputError` with one line for anything unusable: missing, a directory,
    unreadable, empty, not audio, truncated, corrupt, or containing NaN samples.
    """
    path = Path(path)
    _check_readable(path)
    audio = _read_soundfile(path)
    if audio is None:
        audio = _read_ffmpeg(path)
    return audio


# ----------------------------------------------------------------------------- writing


def atomic_path(path: Path) -> Path:
    """A temporary sibling of ``path``, to be renamed over it once complete."""
    return path.with_name(f".{path.name}.{os.getpid()}.partial")


def _fsync_and_replace(tmp: Path, path: Path) -> None:
    with open(tmp, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def save(audio: Audio, path: str | os.PathLike, *, subtype: str | None = None) -> Path:
    """Write ``audio`` to ``path`` atomically; the format follows the extension.

    WAV is written as 32-bit float by default (lossless for Audio, never clips), FLAC and AIFF as
    24-bit, OGG as Vorbis; mp3, m4a and opus go through ffmpeg. Returns the path written.
    """
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in _SOUNDFILE_WRITE and ext not in _FFMPEG_WRITE:
        raise ToolArgumentError(
            f"output {path.name!r}: unknown extension {ext or '(none)'!r}; "
            f"expected one of: {', '.join(WRITABLE_EXTENSIONS)}"
        )
    if not path.parent.is_dir():
        raise AudioInputError(f"{path.parent}: output folder does not exist")
    if audio.channels > _MAX_CHANNELS.get(ext, audio.channels):
        raise ToolArgumentError(
            f"output {path.name!r}: {ext} holds at most {_MAX_CHANNELS[ext]} channels, the audio "
            f"has {audio.channels}; convert it first or choose .wav, .flac, .ogg, .opus or .m4a"
        )
    tmp = atomic_path(path)
    try:
        if ext in _SOUNDFILE_WRITE:
            fmt, default_subtype = _SOUNDFILE_WRITE[ext]
            big = audio.samples.nbytes >= 2**31 and fmt == "WAV"
            try:
                write_frames(tmp, audio.samples, audio.sample_rate,
                             format="RF64" if big else fmt, subtype=subtype or default_subtype)
            except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
                raise ToolError(
                    f"{path}: cannot write {fmt} with {audio.channels} channels at "
                    f"{audio.sample_rate} Hz ({str(exc).replace(str(tmp), 'file')})"
                ) from None
        else:
            _write_ffmpeg(audio, tmp, _FFMPEG_WRITE[ext], target=path)
        _fsync_and_replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _write_ffmpeg(audio: Audio, tmp: Path, codec_args: list[str], *, target: Path) -> None:
    exe = _require_ffmpeg()
    proc = subprocess.run(
        [exe, "-v", "error", "-nostdin", "-y", "-f", "f32le", "-ar", str(audio.sample_rate),
         "-ac", str(audio.channels), "-i", "-", *codec_args, str(tmp)],
        input=np.ascontiguousarray(audio.samples.T).tobytes(), capture_output=True, check=False,
    )
    if proc.returncode != 0:
        detail = proc.stderr.decode(errors="replace").strip().splitlines()
        last = detail[-1].replace(str(tmp), target.name) if detail else "?"
        raise ToolError(f"{target}: ffmpeg could not encode ({last})")
