"""What a person sees of a reply, in ``chat`` and in ``do``/``run``: each tool call as one short
line, the answer once, and the notes (fallbacks, the engine used) as one line each, once per session.

Tools report notes in ``ToolResult.data`` (``notes``: a list, ``note``, ``fallback``) and, for the
LLM's sake, often inside their text too ("Note: ..." lines, "(fallback: ...)"). Shown as is, a
fallback explanation runs to several wrapped lines after every call. So :class:`Presenter` takes the
notes out of the answer, cuts each to its first clause (the where-to-look and how-to-fix details
are what ``echo-agent models`` shows) and prints a note only the first time it comes up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from tools.core.messages import PEAK_WARNING

NOTE_CHARS = 110
_PARENS = re.compile(r"\s*\([^()]*\)")
_MODEL_WORDS = re.compile(r"whisper|deepfilternet|demucs|spleeter|weights|model", re.IGNORECASE)
# the engines a note can be about: a note naming only engines already noted says nothing new
_ENGINES = re.compile(r"whisper|pocketsphinx|deepfilternet|rnnoise|demucs|spleeter|llm", re.IGNORECASE)
_FALLBACK_OPEN = re.compile(r"\s*\(fallback: ")
_FALLBACK_CLAUSE = re.compile(r";\s*([^;]*\bfallback\b[^;]*)$")
_PEAK_WARNING = re.compile(re.escape(PEAK_WARNING).replace(re.escape("{peak_db:+.1f}"),
                                                           r"[+-][\d.]+"))
# "(demucs weights for 'htdemucs' are not on this machine, so Spleeter 2-stem ran)": a step's
# summary as history keeps it, without the data its note came from
_MISSING_GROUP = re.compile(r"\s*\(([^()]*\bnot on this machine\b[^()]*)\)")


def _data_notes(data: dict[str, Any]) -> list[str]:
    notes: list[str] = []
    for key in ("notes", "note", "fallback"):
        value = data.get(key)
        values = value if isinstance(value, (list, tuple)) else [value]
        notes += [v.strip() for v in values if isinstance(v, str) and v.strip()]
    return notes


def split_notes(text: str, data: dict[str, Any] | None = None) -> tuple[str, list[str]]:
    """``(answer, notes)``: ``text`` without its notes, and the notes in full (from ``data`` and
    from the text: "Note: ..." lines, a "(fallback: ...)" group, "(... not on this machine ...)"
    groups, a last "; ... fallback ..." clause)."""
    notes = _data_notes(data or {})
    for note in notes:  # the data's notes, wherever the text repeats them
        for wrapped in (f"\nNote: {note}", f" (fallback: {note})", f" ({note})", f"; {note}", note):
            text = text.replace(wrapped, "")
    lines = []
    for line in text.split("\n"):
        if line.startswith("Note: "):
            notes.append(line[len("Note: "):].strip())
        else:
            lines.append(line)
    text = "\n".join(lines)
    group = _fallback_group(text)
    if group:
        notes.append(text[group[0]:group[1]].strip().removeprefix("(").removesuffix(")"))
        text = text[:group[0]] + text[group[1]:]
    for m in reversed(list(_MISSING_GROUP.finditer(text))):
        notes.append(m.group(1).strip())
        text = text[:m.start()] + text[m.end():]
    m = _FALLBACK_CLAUSE.search(text)
    if m:
        notes.append(m.group(1).strip())
        text = text[:m.start()] + text[m.end():]
    return text.strip(), list(dict.fromkeys(notes))


def _fallback_group(text: str) -> tuple[int, int] | None:
    """Where the first "(fallback: ...)" group of ``text`` starts and ends (its own parentheses
    balanced, so a later step's "(track ...)" in a joined reply stays out of it)."""
    m = _FALLBACK_OPEN.search(text)
    if not m:
        return None
    depth = 0
    for i in range(m.end() - len("fallback: ") - 1, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return m.start(), i + 1
    return None


def one_line(note: str, *, limit: int = NOTE_CHARS) -> str:
    """A note cut to its first clause, without parentheses, at most ``limit`` characters."""
    text = re.sub(r"^fallback:\s*", "", " ".join(note.split()))
    while _PARENS.search(text):
        text = _PARENS.sub("", text)
    text = re.split(r";\s|\.\s|\sTo fix:", text, maxsplit=1)[0].rstrip(" .:,")
    if len(text) > limit:  # the last whole clause that fits, else the words that fit
        head = text[:limit]
        cut = max(head.rfind(": "), head.rfind(", "))
        text = head[:cut] if cut > limit // 3 else head[: limit - 3].rsplit(" ", 1)[0] + "..."
    return text


def call_line(record: Any, *, with_text: bool = False) -> str:
    """``  [ok] gain(gain_db=3.0)``; with ``with_text`` (an LLM agent, whose answer is its own
    words) the tool's answer follows on the same line, notes left out."""
    args = ", ".join(f"{k}={v!r}" for k, v in record.arguments.items() if v is not None)
    line = f"  [{'ok' if record.ok else 'failed'}] {record.name}({args})"
    if with_text and record.ok:
        text, _ = split_notes(record.text, record.data)
        first = text.split("\n", 1)[0]
        line += f": {first[:NOTE_CHARS * 2]}" if first else ""
    return line


@dataclass
class Presenter:
    """Remembers the notes shown in this session so that each is shown once: the same note, or
    one about engines that earlier notes named already ("transcript by pocketsphinx, the offline
    fallback" after "transcribed offline with pocketsphinx, far less accurate than Whisper")."""

    seen: set[str] = field(default_factory=set)
    engines: set[str] = field(default_factory=set)
    pointed: bool = False  # said where to get models

    def notes_of(self, records) -> list[str]:
        """The one-line notes of ``records`` not shown before (and now marked shown)."""
        fresh = []
        for record in records:
            for note in split_notes(record.text, record.data)[1]:
                short = one_line(note)
                named = {m.lower() for m in _ENGINES.findall(note)}
                if not short or short in self.seen or (named and named <= self.engines):
                    continue
                self.seen.add(short)
                self.engines |= named
                if not self.pointed and _MODEL_WORDS.search(short):
                    short += " ('echo-agent models' says how to install it)"
                    self.pointed = True
                fresh.append(short)
        return fresh

    def answer(self, text: str, records=()) -> str:
        """``text`` (a reply) without the notes of ``records`` (its calls) or its own."""
        stripped = text
        for record in records:
            for note in split_notes(record.text, record.data)[1]:
                stripped = split_notes(stripped, {"notes": [note]})[0]
        return split_notes(stripped)[0] or text.strip()

    def summary(self, text: str) -> str:
        """A history entry without its notes, or the warning that its peaks would clip (true of
        that step when it ran, not of the track now)."""
        return without_peak_warning(split_notes(text)[0] or text)


def without_peak_warning(text: str) -> str:
    """``text`` without a step's "peaks now reach ... will clip" warning: once the file is
    written, the export says whether it clipped."""
    return _PEAK_WARNING.sub("", text)
