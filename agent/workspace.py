"""Where sessions live, how inputs come in and outputs go out, safely."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from tools.core import audio as audio_io
from tools.core.errors import AudioInputError, SessionError
from tools.core.session import Session, unique_track_name


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
    root.mkdir(parents=True, exist_ok=True)
    return root / f"{stamp}-{label}-{os.getpid()}"


def open_input(session: Session, path: str | os.PathLike, *, name: str | None = None) -> str:
    """Load an audio file into ``session`` as a new current track; returns the track name."""
    path = Path(path)
    audio = audio_io.load(path)
    track = unique_track_name(session, name or path.stem)
    session.add_track(track, audio, source=str(path))
    return track


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
    if output.suffix.lower() not in audio_io.WRITABLE_EXTENSIONS:
        raise AudioInputError(
            f"{output}: unknown output format {output.suffix or '(none)'!r}; expected one of: "
            + ", ".join(audio_io.WRITABLE_EXTENSIONS)
        )
    if not output.parent.resolve().is_dir():
        raise AudioInputError(f"{output.parent}: output folder does not exist")
    return output


def export(session: Session, output: str | os.PathLike, *, track: str | None = None) -> Path:
    """Write the track's latest version to ``output`` atomically."""
    return audio_io.save(session.audio(track), output)


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
        return self.session

    def __exit__(self, *exc: object) -> None:
        if self.session is not None:
            self.session.close()
        if not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)
