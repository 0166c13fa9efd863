"""The ``clean`` and ``render`` pipelines: Descript-style disfluency clean-up of a whole file.

``clean_file``: open the input in a scratch session (read where it is when it is PCM), transcribe (Whisper when its model is here, else pocketsphinx; or none),
detect, write the cut report (JSON) and an Audacity label track, render the cuts, optionally
denoise and normalise loudness, export atomically. ``render_report``: re-render a reviewed report,
with the cuts a person switched off (``"enabled": false``) left in, after checking that the input
file is the one the report was made from (SHA-256 of its bytes).

Both work window by window on the session's track (:mod:`agent.workspace`): the transcriber, the
10 ms frame features and the seam search read windows, the cuts are committed as an edit list
that shares the kept blocks (:func:`tools.core.tool.commit_pieces`), denoise and loudness run as
the streaming session tools, and the export writes block by block. Memory is bounded by a window
and the per-frame features, not by the length of the recording.

Report (``REPORT_VERSION`` 1)::

    {"version": 1, "tool": "echo-agent clean",
     "input": {"path", "sha256", "duration_s", "sample_rate", "channels"},
     "settings": {"level", "kinds", "max_pause_s", "keep_pause_s", "denoise", "loudness_lufs"},
     "transcript": {"backend", "fallback", "note"},
     "cuts": [{"start_s", "end_s", "kind", "text", "confidence", "source", "enabled",
               "fill_s", "saved_s", "pause_s"?}, ...],  # input time
     "saved_s": seconds the enabled cuts save, "output": {"path", "duration_s"}}

Each cut's ``start_s``..``end_s`` is the span it removes, so the enabled spans add up to
``saved_s``; a shortened pause also gives ``pause_s`` (the whole pause) and ``fill_s`` (the room
tone left in its place). Version-1 reports (the pause as ``start_s``..``end_s``) render as before.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.workspace import ScratchSession, check_output, export, open_input
from tools.algorithms.disfluency import check_level
from tools.algorithms.render_cuts import (
    Cut,
    cut_from_record,
    cut_record,
    plan_render,
    render_pieces,
)
from tools.algorithms.transcript import Transcript
from tools.core import audio as audio_io
from tools.core.errors import AudioInputError, SetupError, ToolArgumentError
from tools.core.session import Session
from tools.core.tool import ToolArgs, commit_pieces
from tools.remove_disfluencies import describe_backend, find_cuts, summarize

REPORT_VERSION = 2  # 2: start_s/end_s are the span removed; a shortened pause adds pause_s
TRANSCRIPT_BACKENDS = ("auto", "whisper", "pocketsphinx", "none")
Progress = Callable[[str, float, float], None]


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_text(path: Path, text: str) -> None:
    tmp = audio_io.atomic_path(path)
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def transcribe_for_clean(audio: Any, backend: str, *, model_dir: str | None = None,
                         progress: Progress | None = None) -> tuple[Transcript | None, str]:
    """A transcript by ``backend`` ("auto": Whisper when its model is on this machine, never
    downloading, else pocketsphinx; "none": no transcript) and a line saying which engine ran."""
    if backend not in TRANSCRIPT_BACKENDS:
        raise ToolArgumentError(f"transcript={backend!r}; expected one of: {', '.join(TRANSCRIPT_BACKENDS)}")
    if backend == "none":
        return None, "no transcript (asked for none): acoustic detection only"
    try:
        from tools.transcribe import pick_transcriber, transcribe
    except ImportError:
        return None, "no transcription backend is installed: acoustic detection only"
    transcriber, notes = pick_transcriber({}, backend=backend, model_dir=model_dir, download=False)
    report = (lambda done, total: progress("transcribe", done, total)) if progress else None
    transcript = transcribe(audio, transcriber=transcriber, progress=report)
    line = describe_backend(transcript)
    if notes:
        line += f" ({notes[0]})"
    return transcript, line


def audacity_labels(cuts: list[Cut]) -> str:
    """An Audacity label track: ``start<TAB>end<TAB>label`` per cut, in input time; switched-off
    cuts are marked "(off)" so a reviewer sees what was left in."""
    lines = []
    for cut in cuts:
        flag = "" if cut.enabled else " (off)"
        text = f": {cut.text}" if cut.text and not cut.text.startswith("(") else ""
        label = f"{cut.kind}{text} [{cut.confidence:.2f} {cut.source}]{flag}".replace("\t", " ")
        start_s, end_s = cut.removed_s  # what is taken out (the middle of a shortened pause)
        lines.append(f"{start_s:.6f}\t{end_s:.6f}\t{label}")
    return "\n".join(lines) + ("\n" if lines else "")


class _CleanArgs(ToolArgs):
    """What the cut step records in the scratch session's journal."""

    level: str
    cuts: int


def _render(session: Session, track: str, cuts: list[Cut], *, level: str) -> None:
    """Commit ``track`` without the enabled ``cuts``: kept stretches by reference, new samples
    only at the seams."""
    view = session.track(track)
    plan = plan_render(view, cuts)
    if plan.seams:
        enabled = sum(c.enabled for c in cuts)
        commit_pieces(session, track, render_pieces(view, plan), tool="clean",
                      args=_CleanArgs(level=level, cuts=enabled), summary=f"{enabled} cuts")


def _finish(session: Session, track: str, *, denoise: bool, loudness_lufs: float | None
            ) -> list[str]:
    """Denoise and normalise ``track`` in the session (streaming tools); the notes to show."""
    notes = []
    if denoise:
        try:
            from tools import denoise as denoise_tool
        except ImportError:
            notes.append("denoise is unavailable in this installation (tools/denoise.py missing)")
        else:
            done = denoise_tool.TOOL.run(session, denoise_tool.Args(track=track))
            notes.append(done.text.rsplit(" (track ", 1)[0])  # the summary, not the track line
    if loudness_lufs is not None:
        from tools import normalize_loudness as loudness_tool

        done = loudness_tool.TOOL.run(session, loudness_tool.Args(target_lufs=loudness_lufs,
                                                                  track=track))
        notes.append(f"loudness {done.data['output_lufs']:.1f} LUFS (target {loudness_lufs:g})")
    return notes


def clean_file(input_path: str | os.PathLike, output_path: str | os.PathLike, *,
               level: str = "normal", report_path: str | os.PathLike | None = None,
               labels_path: str | os.PathLike | None = None, denoise: bool = False,
               loudness_lufs: float | None = None, transcript: str | Transcript = "auto",
               kinds: list[str] | None = None, max_pause_s: float | None = None,
               keep_pause_s: float | None = None, overwrite: bool = False,
               model_dir: str | None = None, progress: Progress | None = None) -> dict[str, Any]:
    """``echo-agent clean IN -o OUT``: remove fillers, repeats, false starts and dead air.

    ``transcript``: a backend name (:data:`TRANSCRIPT_BACKENDS`) or a ready :class:`Transcript`.
    Returns the report (also written to ``report_path`` if given) plus ``"notes"``: lines for the
    person (transcript backend, denoise and loudness results). The input is never modified.
    """
    rules = check_level(level)
    if loudness_lufs is not None and not -70 <= loudness_lufs <= -5:
        raise ToolArgumentError(f"loudness={loudness_lufs:g} LUFS must be from -70 to -5")
    longest = rules.max_pause_s if max_pause_s is None else max_pause_s
    keep = rules.keep_pause_s if keep_pause_s is None else keep_pause_s
    if not 0.1 <= keep <= longest:
        raise ToolArgumentError(f"keep_pause_s={keep:g} must be from 0.1 s to max_pause_s={longest:g} s")
    source = Path(input_path)
    output = check_output(output_path, inputs=[source], overwrite=overwrite)
    for extra in (report_path, labels_path):
        if extra is not None and Path(extra).resolve() in (source.resolve(), output.resolve()):
            raise AudioInputError(f"{extra}: would overwrite the input or the output; choose another name")
    sha = file_sha256(source)
    with ScratchSession(None, label="clean", progress=progress) as session:
        track = open_input(session, source)
        view = session.track(track)
        if isinstance(transcript, Transcript):  # given by the caller (e.g. aligned to a known text)
            found_transcript, backend_line = transcript, describe_backend(transcript)
        else:
            found_transcript, backend_line = transcribe_for_clean(view, transcript,
                                                                  model_dir=model_dir,
                                                                  progress=progress)
        cuts, found = find_cuts(view, found_transcript, level=level, kinds=kinds,
                                max_pause_s=longest, keep_pause_s=keep,
                                progress=(lambda d, t: progress("detect", d, t)) if progress
                                else None)
        report: dict[str, Any] = {
            "version": REPORT_VERSION,
            "tool": "echo-agent clean",
            "input": {"path": str(source.resolve()), "sha256": sha, "duration_s": view.duration_s,
                      "sample_rate": view.sample_rate, "channels": view.channels},
            "settings": {"level": level, "kinds": kinds, "max_pause_s": longest,
                         "keep_pause_s": keep, "denoise": denoise, "loudness_lufs": loudness_lufs},
            "transcript": {"backend": found_transcript.backend if found_transcript else None,
                           "fallback": bool(found_transcript and "sphinx" in found_transcript.backend),
                           "note": backend_line},
            "cuts": [cut_record(c) for c in cuts],
            "saved_s": round(sum(c.saved_s for c in cuts if c.enabled), 3),
            "summary": summarize(cuts, found),
        }
        if labels_path is not None:
            _write_text(Path(labels_path), audacity_labels(cuts))
        _render(session, track, cuts, level=level)
        notes = _finish(session, track, denoise=denoise, loudness_lufs=loudness_lufs)
        export(session, output, track=track)
        report["output"] = {"path": str(output.resolve()),
                            "duration_s": session.track(track).duration_s}
    if report_path is not None:
        _write_text(Path(report_path), json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    return {**report, "notes": [backend_line, *notes]}


def load_report(report_path: str | os.PathLike) -> dict[str, Any]:
    path = Path(report_path)
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AudioInputError(f"{path}: no such report") from None
    except (OSError, ValueError) as exc:
        raise AudioInputError(f"{path}: not a readable JSON cut report ({exc})") from None
    if not isinstance(report, dict) or not isinstance(report.get("cuts"), list) or "input" not in report:
        raise AudioInputError(f"{path}: not an echo-agent cut report (no 'input' and 'cuts')")
    if report.get("version", REPORT_VERSION) > REPORT_VERSION:
        raise SetupError(f"{path}: report version {report['version']} is newer than this "
                         f"echo-agent understands ({REPORT_VERSION}); upgrade echo-agent")
    return report


def render_report(report_path: str | os.PathLike, output_path: str | os.PathLike, *,
                  input_path: str | os.PathLike | None = None, overwrite: bool = False,
                  denoise: bool | None = None, loudness_lufs: float | None = None,
                  progress: Progress | None = None) -> dict[str, Any]:
    """``echo-agent render cuts.json -o OUT``: apply a (reviewed) report's enabled cuts to the file
    it was made from. ``input_path`` points at the input if it moved; its SHA-256 must match.
    Denoise and loudness default to the report's settings."""
    report = load_report(report_path)
    recorded = report["input"]
    source = Path(input_path or recorded.get("path", ""))
    if not source.is_file():
        raise AudioInputError(f"{source}: the report's input file is not there; pass the input "
                              "file's new location")
    sha = file_sha256(source)
    if recorded.get("sha256") and sha != recorded["sha256"]:
        raise AudioInputError(f"{source}: this is not the file the report was made from (SHA-256 "
                              f"{sha[:12]}... differs from {str(recorded['sha256'])[:12]}...)")
    output = check_output(output_path, inputs=[source, Path(report_path)], overwrite=overwrite)
    cuts = [cut_from_record(r, i) for i, r in enumerate(report["cuts"])]
    settings = report.get("settings", {})
    denoise = bool(settings.get("denoise")) if denoise is None else denoise
    loudness = settings.get("loudness_lufs") if loudness_lufs is None else loudness_lufs
    with ScratchSession(None, label="render", progress=progress) as session:
        track = open_input(session, source)
        _render(session, track, cuts, level=str(settings.get("level", "normal")))
        notes = _finish(session, track, denoise=denoise, loudness_lufs=loudness)
        export(session, output, track=track)
        duration_s = session.track(track).duration_s
    enabled = [c for c in cuts if c.enabled]
    return {"input": str(source), "output": str(output), "duration_s": duration_s,
            "cuts": len(enabled), "cuts_off": len(cuts) - len(enabled),
            "saved_s": round(sum(c.saved_s for c in enabled), 3), "notes": notes}
