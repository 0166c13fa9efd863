"""Writing audio files block by block, atomically, in the format and bit depth a person expects.

The extension picks the container. The sample format follows, in order: ``bit_depth`` when given
(16, 24, 32 or float); else the input's own (16-bit in, 16-bit out; float in, float out where the
container holds it); else 24-bit PCM; audio that came from no file keeps float where it can. Lossy inputs (mp3, ogg, ...) give 16-bit PCM. Reducing to 16
bits adds TPDF dither (triangular, 2 LSB peak to peak) as sox does at 16 bits and below, to the
samples that are off the 16-bit grid: untouched samples of a 16-bit input are written exactly. 24 and 32
bits are rounded. Samples beyond full scale are clipped in integer formats and counted, so the
caller can say so; float keeps the headroom. mp3, m4a and opus are encoded by ffmpeg from a pipe,
at ``bitrate`` (default 192k, opus 128k).

A write goes to a temporary sibling, is fsynced and renamed over the target: a crash or Ctrl-C
leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from tools.core.audio_read import LOSSY_FORMATS, require_ffmpeg
from tools.core.errors import AudioInputError, ToolArgumentError, ToolError
from tools.core.streams import prefetch

_SOUNDFILE_WRITE = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".aiff": "AIFF", ".aif": "AIFF"}
_FFMPEG_WRITE = {
    ".mp3": (["-f", "mp3", "-c:a", "libmp3lame"], "192k"),
    ".m4a": (["-f", "ipod", "-c:a", "aac"], "192k"),
    ".opus": (["-f", "opus", "-c:a", "libopus"], "128k"),
}
_MAX_CHANNELS = {".mp3": 2}
_MIN_KBPS, _MAX_KBPS = 8, {".mp3": 320, ".opus": 510}
WRITABLE_EXTENSIONS = tuple(sorted({*_SOUNDFILE_WRITE, *_FFMPEG_WRITE}))
BIT_DEPTHS = ("16", "24", "32", "float")
_BY_DEPTH = {"16": "PCM_16", "24": "PCM_24", "32": "PCM_32", "float": "FLOAT"}
_CONTAINER_SUBTYPES = {"WAV": {"PCM_16", "PCM_24", "PCM_32", "FLOAT"},
                       "AIFF": {"PCM_16", "PCM_24", "PCM_32", "FLOAT"},
                       "FLAC": {"PCM_16", "PCM_24"}, "OGG": {"VORBIS"}}
_SCALE = {"PCM_16": 2.0**15, "PCM_24": 2.0**23, "PCM_32": 2.0**31}
_RF64_BYTES = 2**32 - 2**20


@dataclass(frozen=True)
class WriteReport:
    path: Path
    subtype: str  # the sample format written ("PCM_16", "FLOAT", "mp3 192k", ...)
    clipped_samples: int = 0


def atomic_path(path: Path) -> Path:
    """A temporary sibling of ``path``, to be renamed over it once complete."""
    return path.with_name(f".{path.name}.{os.getpid()}.partial")


def fsync_and_replace(tmp: Path, path: Path) -> None:
    with open(tmp, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def check_format(path: Path, *, bit_depth: str | None = None, bitrate: str | None = None) -> None:
    """Refuse a bit depth or bitrate the output format cannot take, before any work is done."""
    ext = path.suffix.lower()
    if ext in _SOUNDFILE_WRITE:
        if bitrate is not None:
            raise ToolArgumentError(f"bitrate={bitrate}: only .mp3, .m4a and .opus take a "
                                    f"bitrate; {ext} is written without one")
        if bit_depth is not None:
            choose_subtype(ext, bit_depth=bit_depth)
    elif ext in _FFMPEG_WRITE and bit_depth is not None:
        raise ToolArgumentError(f"bit_depth={bit_depth}: {ext} is lossy and has no bit "
                                "depth; give a bitrate instead (e.g. 192k)")
    if bitrate is not None and ext in _FFMPEG_WRITE:
        if not _MIN_KBPS <= _kbps(bitrate) <= _MAX_KBPS.get(ext, 512):
            raise ToolArgumentError(f"bitrate={bitrate}: expected kilobits per second, e.g. "
                                    f"128k, from {_MIN_KBPS} to {_MAX_KBPS.get(ext, 512)}k for {ext}")


def _kbps(bitrate: str) -> float:
    """Kilobits per second of "128k", "128 kbps", "96000" (bits), or 0 when it is none of these."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(k?)(?:bps|b/s|b)?", bitrate.strip().lower())
    return float(m.group(1)) / (1 if m.group(2) else 1000) if m else 0.0


def check_target(path: Path, *, channels: int) -> str:
    """Refuse an unknown extension, a missing folder or too many channels; returns the extension."""
    ext = path.suffix.lower()
    if ext not in _SOUNDFILE_WRITE and ext not in _FFMPEG_WRITE:
        raise ToolArgumentError(
            f"output {path.name!r}: unknown extension {ext or '(none)'!r}; "
            f"expected one of: {', '.join(WRITABLE_EXTENSIONS)}"
        )
    if not path.parent.is_dir():
        raise AudioInputError(f"{path.parent}: output folder does not exist")
    if channels > _MAX_CHANNELS.get(ext, channels):
        raise ToolArgumentError(
            f"output {path.name!r}: {ext} holds at most {_MAX_CHANNELS[ext]} channels, the audio "
            f"has {channels}; convert it first or choose .wav, .flac, .ogg, .opus or .m4a"
        )
    return ext


def choose_subtype(ext: str, *, bit_depth: str | None = None,
                   origin: dict | None = None) -> str:
    """The libsndfile subtype to write for ``ext`` (see the module docstring for the rule)."""
    container = _SOUNDFILE_WRITE[ext]
    allowed = _CONTAINER_SUBTYPES[container]
    if container == "OGG":
        if bit_depth is not None:
            raise ToolArgumentError(f"bit_depth={bit_depth}: .ogg is Vorbis (lossy) and has no "
                                    "bit depth; choose .wav, .flac or .aiff")
        return "VORBIS"
    if bit_depth is not None:
        if str(bit_depth) not in _BY_DEPTH:
            raise ToolArgumentError(f"bit_depth={bit_depth}; expected one of: {', '.join(BIT_DEPTHS)}")
        subtype = _BY_DEPTH[str(bit_depth)]
        if subtype not in allowed:
            raise ToolArgumentError(f"bit_depth={bit_depth}: {ext} holds "
                                    f"{', '.join(sorted(allowed))}; choose another")
        return subtype
    if not origin:  # made by a tool, from no file: keep float where the container holds it
        return "FLOAT" if "FLOAT" in allowed else "PCM_24"
    source = origin.get("subtype", "")
    if (origin or {}).get("format") in LOSSY_FORMATS or source in ("VORBIS", "OPUS", "MPEG_LAYER_III"):
        return "PCM_16"
    if source in ("PCM_S8", "PCM_U8", "PCM_16", "ULAW", "ALAW", "DPCM_16"):
        return "PCM_16"
    if source in ("FLOAT", "DOUBLE"):
        return "FLOAT" if "FLOAT" in allowed else "PCM_24"
    if source == "PCM_32":
        return "PCM_32" if "PCM_32" in allowed else "PCM_24"
    return "PCM_24"


_DITHER_TILE = 1 << 16


def tpdf_noise(start: int, shape: tuple[int, int]) -> np.ndarray:
    """Triangular dither (-1..1 LSB) for interleaved frames ``start..start + shape[0]``: a function
    of the frame's position alone (each :data:`_DITHER_TILE` frames from their own seed), so the
    same samples give the same file however the writing was chunked (one process or a batch
    worker, any block size)."""
    frames, channels = shape
    first, last = start // _DITHER_TILE, (start + max(frames, 1) - 1) // _DITHER_TILE
    tiles = []
    for tile in range(first, last + 1):
        rng = np.random.default_rng([tile, channels])
        noise = rng.random((_DITHER_TILE, channels), dtype=np.float32)
        noise -= rng.random((_DITHER_TILE, channels), dtype=np.float32)
        tiles.append(noise)
    offset = start - first * _DITHER_TILE
    return np.concatenate(tiles)[offset:offset + frames]


def quantize(block: np.ndarray, subtype: str, *, start: int = 0) -> tuple[np.ndarray, int]:
    """``(channels, m)`` float -> interleaved ``(m, channels)`` integer samples as libsndfile
    writes them for ``subtype`` (int16 for PCM_16, int32 otherwise, left-aligned), and how many
    were clipped. Works in float32 (scaling by a power of two is exact there) in place, one
    interleaved buffer per block. The result is C-ordered (interleaved in memory), made so by the
    integer conversion: libsndfile is given a (frames, channels) array in the other order
    otherwise, and soundfile's copy of it made writing a 24-bit WAV 2x slower."""
    scale = _SCALE[subtype]
    high = min(scale - 1, 2147483520.0)  # the largest float32 below 2**31 for PCM_32
    scaled = np.multiply(block.T, np.float32(scale), dtype=np.float32)  # transposes as it goes
    if subtype == "PCM_16":
        rounded = np.rint(scaled)
        off_grid = scaled != rounded
        if off_grid.any():  # TPDF dither for the samples off the 16-bit grid, then round
            noise = tpdf_noise(start, scaled.shape)
            noise *= off_grid  # samples already on the grid (untouched 16-bit) stay exact
            scaled += noise
            rounded = np.rint(scaled, out=scaled)
    else:
        rounded = np.rint(scaled, out=scaled)
    clipped = 0
    if rounded.size and (rounded.max() > high or rounded.min() < -scale):
        clipped = int(np.count_nonzero(rounded > high) + np.count_nonzero(rounded < -scale))
        np.clip(rounded, -scale, high, out=rounded)
    if subtype == "PCM_16":
        return rounded.astype(np.int16, order="C"), clipped
    out = rounded.astype(np.int32, order="C")
    if subtype == "PCM_24":
        out <<= 8
    return out, clipped


def write_blocks(path: str | os.PathLike, blocks: Iterable[np.ndarray], *, sample_rate: int,
                 channels: int, frames: int | None = None, bit_depth: str | None = None,
                 bitrate: str | None = None, origin: dict | None = None,
                 subtype: str | None = None) -> WriteReport:
    """Write float32 ``(channels, m)`` ``blocks`` (in order) to ``path`` atomically.

    ``frames`` (the total, when known) lets a WAV over 4 GiB be written as RF64. ``subtype`` forces
    a libsndfile subtype (bypassing the choice rule). Returns what was written.
    """
    path = Path(path)
    ext = check_target(path, channels=channels)
    check_format(path, bit_depth=bit_depth, bitrate=bitrate)
    tmp = atomic_path(path)
    try:
        if ext in _SOUNDFILE_WRITE:
            subtype = subtype or choose_subtype(ext, bit_depth=bit_depth, origin=origin)
            report = _write_soundfile(tmp, blocks, ext, subtype, sample_rate, channels, frames,
                                      target=path)
        else:
            report = _write_ffmpeg(tmp, blocks, ext, sample_rate, channels, bitrate, target=path)
        fsync_and_replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return report


def _encoded(blocks: Iterable[np.ndarray], subtype: str) -> Iterator[tuple[np.ndarray, int]]:
    """Each float ``(channels, m)`` block as libsndfile writes it (interleaved; integers for a
    PCM subtype, see :func:`quantize`), with the count of samples clipped."""
    at = 0
    for block in blocks:
        if subtype in _SCALE:
            yield quantize(block, subtype, start=at)
        else:
            yield np.ascontiguousarray(block.T, dtype=np.float32), 0
        at += block.shape[1]


def _write_soundfile(tmp: Path, blocks: Iterable[np.ndarray], ext: str, subtype: str,
                     sample_rate: int, channels: int, frames: int | None, *,
                     target: Path) -> WriteReport:
    container = _SOUNDFILE_WRITE[ext]
    width = 4 if subtype in ("FLOAT", "PCM_32") else 3 if subtype == "PCM_24" else 2
    if container == "WAV" and frames is not None and frames * channels * width >= _RF64_BYTES:
        container = "RF64"
    clipped = 0
    # three stages in three threads (reading, quantizing, writing), each a block ahead of the
    # next: libsndfile, file I/O and numpy release the GIL, so the two cores share the work
    encoded = prefetch(_encoded(prefetch(blocks), subtype))
    try:
        with sf.SoundFile(str(tmp), "w", sample_rate, channels, format=container,
                          subtype=subtype) as handle:
            for data, count in encoded:
                handle.write(data)
                clipped += count
    except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
        raise ToolError(f"{target}: cannot write {container} {subtype} with {channels} channels "
                        f"at {sample_rate} Hz ({str(exc).replace(str(tmp), 'file')})") from None
    return WriteReport(target, subtype, clipped)


def _write_ffmpeg(tmp: Path, blocks: Iterable[np.ndarray], ext: str, sample_rate: int,
                  channels: int, bitrate: str | None, *, target: Path) -> WriteReport:
    exe = require_ffmpeg()
    codec_args, default_rate = _FFMPEG_WRITE[ext]
    rate = f"{_kbps(bitrate):g}k" if bitrate else default_rate
    blocks = prefetch(blocks)
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(
            [exe, "-v", "error", "-nostdin", "-y", "-f", "f32le", "-ar", str(sample_rate),
             "-ac", str(channels), "-i", "-", *codec_args, "-b:a", rate, str(tmp)],
            stdin=subprocess.PIPE, stderr=errors,
        )
        try:
            for block in blocks:
                proc.stdin.write(np.ascontiguousarray(block.T, dtype="<f4").tobytes())
            proc.stdin.close()
            code = proc.wait()
        except BrokenPipeError:
            code = proc.wait()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        errors.seek(0)
        detail = errors.read().decode(errors="replace").strip().splitlines()
    if code != 0:
        last = detail[-1].replace(str(tmp), target.name) if detail else "?"
        raise ToolError(f"{target}: ffmpeg could not encode ({last})")
    return WriteReport(target, f"{ext.lstrip('.')} {rate}")
