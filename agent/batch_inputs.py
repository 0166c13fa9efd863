"""Which files a batch processes and where each output goes.

Inputs are files, folders (searched recursively for audio, hidden files and folders skipped) or
glob patterns (``**`` allowed). Each found file keeps its path relative to where it was named:
its folder for a folder argument, the part before the first wildcard for a glob, its parent for
a file. That relative path is the job's key in the manifest and the output's name under OUTDIR,
so ``batch season1/ -o out/`` writes ``out/ep01/host.wav`` for ``season1/ep01/host.wav``.

For presets that edit several files together (an interview episode: one file per speaker), the
files are grouped by their folder: one job per folder, named after it.

Standard library only: the CLI imports this module to build its parser.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from pathlib import Path

from tools.core.errors import AudioInputError

AUDIO_EXTENSIONS = frozenset({
    ".wav", ".wave", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".aif", ".aiff",
    ".aifc", ".caf", ".w64", ".rf64", ".wma", ".mp4", ".m4v", ".mov", ".mkv", ".webm",
})
WRITABLE = (".wav", ".flac", ".ogg", ".aiff", ".aif", ".mp3", ".m4a", ".opus")
_GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class Job:
    """One unit of work: its key (relative name), its input files and its output paths."""

    key: str
    inputs: tuple[Path, ...]
    outputs: tuple[Path, ...] = field(default=())

    @property
    def first(self) -> Path:
        return self.inputs[0]


def _hidden(path: Path, base: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(base).parts)


def _scan(folder: Path, exclude: Path | None) -> list[Path]:
    found = []
    for root, dirs, files in os.walk(folder, followlinks=False):
        here = Path(root)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")
                         and (exclude is None or (here / d).resolve() != exclude))
        found.extend(here / name for name in sorted(files)
                     if not name.startswith(".") and Path(name).suffix.lower() in AUDIO_EXTENSIONS)
    return found


def _glob_base(pattern: str) -> Path:
    parts = Path(pattern).parts
    literal = []
    for part in parts:
        if _GLOB_CHARS & set(part):
            break
        literal.append(part)
    return Path(*literal) if literal else Path(".")


def find_inputs(specs: list[str], *, outdir: Path) -> list[tuple[Path, Path]]:
    """``(file, relative name)`` for every input, in the order given (folders sorted).

    Raises AudioInputError (a usage problem) for a name that matches nothing, and for two inputs
    that would write the same output.
    """
    exclude = outdir.resolve() if outdir.exists() else None
    pairs: list[tuple[Path, Path]] = []
    for spec in specs:
        path = Path(spec)
        if _GLOB_CHARS & set(spec) and not path.exists():
            base = _glob_base(spec)
            matches = sorted(Path(m) for m in glob.glob(spec, recursive=True))
            files = [m for m in matches if m.is_file() and not _hidden(m, base)
                     and (exclude is None or exclude not in m.resolve().parents)]
            if not files:
                raise AudioInputError(f"{spec}: the pattern matches no file")
            pairs.extend((m, m.relative_to(base)) for m in files)
        elif path.is_dir():
            files = _scan(path, exclude)
            if not files:
                raise AudioInputError(f"{spec}: no audio files in this folder (looked for "
                                      f"{', '.join(sorted(AUDIO_EXTENSIONS)[:6])}, ...)")
            pairs.extend((f, f.relative_to(path)) for f in files)
        elif path.exists() or path.is_symlink():
            pairs.append((path, Path(path.name)))  # a named file is tried whatever it is
        else:
            raise AudioInputError(f"{spec}: no such file or folder")
    seen: dict[Path, Path] = {}
    unique = []
    for file, rel in pairs:
        resolved = file.resolve()
        if resolved in seen:
            continue  # named twice (a folder and a file in it): once is enough
        seen[resolved] = rel
        unique.append((file, rel))
    names: dict[str, Path] = {}
    for file, rel in unique:
        key = rel.with_suffix("").as_posix()
        if key in names:
            raise AudioInputError(f"{file} and {names[key]} would write the same output "
                                  f"({rel.with_suffix('')}.*); name their folders instead")
        names[key] = file
    return unique


def output_suffix(source: Path, fmt: str | None) -> str:
    """The output's extension: ``--format`` if given, else the input's when echo-agent can write
    it, else .wav (a video or a format only readable)."""
    if fmt:
        return fmt if fmt.startswith(".") else f".{fmt}"
    suffix = source.suffix.lower()
    return suffix if suffix in WRITABLE else ".wav"


def file_jobs(pairs: list[tuple[Path, Path]], outdir: Path, *, fmt: str | None,
              stems: tuple[str, ...] | None = None) -> list[Job]:
    """One job per file. ``stems``: the job writes one file per stem in a folder named after
    the input (``OUTDIR/<rel>/<stem>.<ext>``, as demucs lays them out)."""
    jobs = []
    for file, rel in pairs:
        suffix = output_suffix(file, fmt)
        if stems:
            folder = outdir / rel.with_suffix("")
            outputs = tuple(folder / f"{stem}{suffix}" for stem in stems)
        else:
            outputs = (outdir / rel.with_suffix(suffix),)
        jobs.append(Job(rel.as_posix(), (file,), outputs))
    return jobs


def episode_jobs(pairs: list[tuple[Path, Path]], outdir: Path, *, fmt: str | None) -> list[Job]:
    """One job per folder of inputs (an episode, one file per speaker), written as
    ``OUTDIR/<folder>.<ext>``; files named directly form one episode named after their folder."""
    groups: dict[Path, list[Path]] = {}
    for file, rel in pairs:
        parent = rel.parent if rel.parent != Path(".") else Path(file.resolve().parent.name)
        groups.setdefault(parent, []).append(file)
    jobs = []
    for parent, files in groups.items():
        suffix = output_suffix(files[0], fmt)
        jobs.append(Job(parent.as_posix(), tuple(files), (outdir / f"{parent.as_posix()}{suffix}",)))
    return jobs


def check_outputs(jobs: list[Job]) -> None:
    """Refuse a batch whose outputs would overwrite one of its inputs."""
    inputs = {p.resolve(): p for job in jobs for p in job.inputs}
    for job in jobs:
        for out in job.outputs:
            if out.resolve() in inputs:
                raise AudioInputError(f"{out}: the output would overwrite the input "
                                      f"{inputs[out.resolve()]}; choose another -o folder")
