"""Where sessions live, how inputs come in and outputs go out, safely."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from tools.core import audio as audio_io
from tools.core.audio import MAX_SAMPLE_RATE_HZ, MIN_SAMPLE_RATE_HZ
from tools.core.audio_read import open_input as open_audio_file
from tools.core.audio_write import WriteReport, write_blocks
from tools.core.errors import AudioInputError, SessionError
from tools.core.session import Session, unique_track_name
from tools.core.streams import prefetch


def data_dir() -> Path:
    """echo-agent's per-user data folder (``$ECHO_AGENT_HOME`` or the XDG data folder)."""
    explicit = os.environ.get("ECHO_AGENT_HOME")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "echo-agent"


def new_session_dir(label: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    root = data_dir() / "sessions"
    root.mkdir(parents=True, exist_ok=True)  # made here, empty: two in one second never collide
    return Path(tempfile.mkdtemp(prefix=f"{stamp}-{label}-{os.getpid()}-", dir=root))


def open_input(session: Session, path: str | os.PathLike, *, name: str | None = None) -> str:
    """Bring an audio file into ``session`` as a new current track; returns the track name.

    The file is streamed into the session's blocks as it is read (bounded memory, any length). A
    one-command session (``session.inputs_in_place``) reads an uncompressed PCM file where it is
    instead, as a DAW does: no copy, and the file is checked for changes whenever it is read.
    """
    path = Path(path)
    source = open_audio_file(path)
    if not MIN_SAMPLE_RATE_HZ <= source.sample_rate <= MAX_SAMPLE_RATE_HZ:
        raise AudioInputError(f"{path}: unsupported audio (sample_rate={source.sample_rate} must "
                              f"be from {MIN_SAMPLE_RATE_HZ} to {MAX_SAMPLE_RATE_HZ} Hz)")
    track = unique_track_name(session, name or path.stem)
    if session.inputs_in_place and source.readable_in_place:
        version = session.in_place(path)
        session.add_track(track, version, source=str(path), origin=source.origin)
        return track
    builder = session.builder(sample_rate=source.sample_rate, channels=source.channels)
    total = source.frames or 0
    try:
        for block in prefetch(source.blocks()):
            builder.append(block)
            if total > 30 * source.sample_rate * 60:  # a bar only for long files (> 30 min)
                session.progress(f"reading {path.name}", builder.num_samples, total)
    except BaseException:
        session.discard_pending()
        raise
    session.add_track(track, builder, source=str(path), origin=source.origin)
    return track


VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi")


def check_output(output: str | os.PathLike, *, inputs: list[Path], overwrite: bool) -> Path:
    """Refuse outputs that would lose data: an input file, or an existing file without --overwrite."""
    output = Path(output)
    for source in inputs:
        if output.exists() and source.exists() and output.resolve() == source.resolve():
            raise AudioInputError(f"{output}: refusing to overwrite the input file; choose another output")
    if output.is_dir():
        raise AudioInputError(f"{output}: is a directory; give an output file name")
    if output.exists() and not overwrite:
        raise AudioInputError(f"{output}: exists already; pass --overwrite (-y) to replace it")
    if output.suffix.lower() in VIDEO_EXTENSIONS:
        raise AudioInputError(
            f"{output}: echo-agent writes audio, not video; write .m4a (AAC) or .wav; an edit that "
            f"keeps the timing goes back under the picture with ffmpeg -i VIDEO -i AUDIO -map 0:v "
            f"-map 1:a -c:v copy OUT{output.suffix.lower()}")
    if output.suffix.lower() not in audio_io.WRITABLE_EXTENSIONS:
        raise AudioInputError(
            f"{output}: unknown output format {output.suffix or '(none)'!r}; expected one of: "
            + ", ".join(audio_io.WRITABLE_EXTENSIONS)
        )
    if not output.parent.resolve().is_dir():
        raise AudioInputError(f"{output.parent}: output folder does not exist")
    return output


def export_note(report: WriteReport) -> str | None:
    """A line for stderr when the export clipped samples; None otherwise."""
    if not report.clipped_samples:
        return None
    return (f"{report.clipped_samples} samples went past full scale and were clipped in the "
            f"{report.subtype} output; normalize_loudness (a true-peak limiter) or "
            "--bit-depth float avoids it")


def export(session: Session, output: str | os.PathLike, *, track: str | None = None,
           bit_depth: str | None = None, bitrate: str | None = None) -> WriteReport:
    """Write the track's latest version to ``output`` atomically, block by block, keeping the
    input's format and bit depth unless ``bit_depth`` / ``bitrate`` say otherwise."""
    view = session.track(track)
    total = view.num_samples
    long = total > 30 * 60 * view.sample_rate

    def blocks():
        for start, block in view.blocks():
            yield block
            if long:
                session.progress(f"writing {Path(output).name}", start + block.shape[1], total)

    return write_blocks(output, blocks(), sample_rate=view.sample_rate, channels=view.channels,
                        frames=total, bit_depth=bit_depth, bitrate=bitrate,
                        origin=session.origin(track))


class ScratchSession:
    """A session for one command: in ``root`` if given (kept), else a temporary one removed on exit."""

    def __init__(self, root: str | os.PathLike | None, *, label: str, progress=None) -> None:
        self.keep = root is not None
        self.root = Path(root) if root is not None else new_session_dir(label)
        self.progress = progress
        self.session: Session | None = None

    def __enter__(self) -> Session:
        if self.keep and (self.root / "journal.jsonl").exists():
            raise SessionError(f"{self.root}: a session exists there already; use a new folder")
        self.session = Session.create(self.root, progress=self.progress)
        # gone when the command ends: no copy of the input, no fsync of what is written
        self.session.inputs_in_place = not self.keep
        self.session.durable = self.keep
        return self.session

    def __exit__(self, *exc: object) -> None:
        if self.session is not None:
            self.session.close()
        if not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)
