"""The offline planner: common English editing requests to the tool calls an LLM would make.

Deterministic and rule-based (:mod:`agent.phrases` reads the numbers, times and clauses). A request is
planned whole or refused whole: if any clause is not understood, asks for a tool that does not exist
yet, or gives arguments a tool refuses, :class:`NotUnderstood` says so and nothing is planned.

Conventions (the same as the LLM prompt's):

- A time such as "0:05" or "from 2 to 4 seconds" is a position in the track as it was before the
  request; later calls of a chain get it moved by the earlier cuts, trims and inserted silences.
  "The first/last N seconds" and "the end" are of the track as it is at that point of the chain.
- Vague amounts are refused ("louder", "fade it out"), except "a little/a bit/slightly", which is 3 dB.
  "By half"/"half as loud" is -6 dB, "twice as loud" +6 dB; "16 LUFS" means -16 LUFS.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from agent import rules_edit
from agent.phrases import (
    Clause,
    Refusal,
    Span,
    fmt_s,
    normalize,
    split_clauses,
    tokenize,
)
from agent.rules_audio import EXAMPLES as AUDIO_EXAMPLES
from agent.rules_audio import RULES as AUDIO_RULES
from agent.rules_toolbox import EXAMPLES as TOOLBOX_EXAMPLES
from agent.rules_toolbox import RULES as TOOLBOX_RULES
from agent.targets import parse_target
from tools.core.errors import EchoError, ToolArgumentError
from tools.registry import validate_call

EXAMPLES: dict[str, tuple[str, ...]] = {
    "info": ("how long is it?", "how loud is it?"),
    "cut": ("cut from 0:02 to 0:04", "remove the last 3 seconds", "delete everything after 1:30"),
    "trim": ("keep only the first 10 seconds", "trim it to 0:03 - 0:08"),
    "gain": ("make it 3 dB louder", "turn it down by half", "make it a little quieter"),
    "fade": ("fade in over 2 s", "fade out the last 3 seconds", "fade in and out over 1 s"),
    "normalize_loudness": ("normalize to -16 LUFS", "make it podcast loudness",
                           "normalize for streaming with a true peak of -2 dB"),
    "insert_silence": ("add 2 seconds of silence at the start", "insert a 1 s pause at 0:05"),
    "convert": ("make it mono", "convert to 48 kHz"),
    "undo": ("undo", "undo the last 2 edits"),
    "redo": ("redo",),
    **AUDIO_EXAMPLES,
    **TOOLBOX_EXAMPLES,
}
CAPABILITIES = (
    "Without an LLM I understand requests like these (chain them with 'and', 'then' or commas):\n"
    + "".join(f"  {tool:<21}" + " / ".join(f"'{e}'" for e in examples) + "\n"
              for tool, examples in EXAMPLES.items())
    + "Times: 1:23, 1m20s, 90 s, 1500 ms, 'the first/last 10 seconds' (positions in the track as it "
    "was before the request). Loudness: -16 LUFS, podcast (-16), streaming (-14), broadcast (-23)."
)


@dataclass(frozen=True)
class PlannedCall:
    tool: str
    args: dict[str, Any]


class NotUnderstood(EchoError):
    """A request the planner cannot turn into calls; ``reason`` (the message) says why, as one
    sentence. Where to find what it can do is the caller's to add (``/help`` in the chat,
    ``echo-agent tools`` on the command line): :data:`CAPABILITIES` is the whole list."""

    exit_code = 1

    def __init__(self, reason: str) -> None:
        reason = reason.strip()
        if reason and reason[-1] not in ".?!":
            reason += "."
        super().__init__(reason)
        self.reason = reason


def _refuse(clause: Clause, why: str) -> NotUnderstood:
    return NotUnderstood(f"Cannot do '{clause.source}': {why}")


# ----------------------------------------------------------------------------- plan state


def _duration_after(d: float | None, edit: tuple[str, float, float | None]) -> float | None:
    """The duration after a cut (a..b), trim (keep a..b) or insert (b seconds at a); b None = end."""
    kind, a, b = edit
    if kind == "insert":
        new = None if d is None else d + b
    elif kind == "trim":
        new = None if b is None and d is None else (d if b is None else b) - a
    else:
        new = a if b is None else None if d is None else d - (b - a)
    return None if new is None else round(new, 6)


class _State:
    """The calls so far, the track's duration after them, and the timeline edits they make."""

    def __init__(self, duration_s: float | None) -> None:
        self.calls: list[PlannedCall] = []
        self.duration_s = duration_s
        self.edits: list[tuple[str, float, float | None]] = []  # (kind, a, b) on the then-current track
        self.done: list[tuple[float | None, list]] = []
        self.undone: list[tuple[float | None, list]] = []

    def add(self, clause: Clause, tool: str, args: dict[str, Any], *,
            edit: tuple[str, float, float | None] | None = None) -> None:
        try:
            validate_call(tool, args)
        except ToolArgumentError as exc:
            raise _refuse(clause, str(exc)) from None
        self.calls.append(PlannedCall(tool, args))
        if tool in ("undo", "redo"):
            source, target = (self.done, self.undone) if tool == "undo" else (self.undone, self.done)
            target.append((self.duration_s, list(self.edits)))
            self.duration_s, self.edits = source.pop() if source else (None, [])
            return
        if tool != "info":
            self.done.append((self.duration_s, list(self.edits)))
            self.undone.clear()
        if edit is not None:
            self.edits.append(edit)
            self.duration_s = _duration_after(self.duration_s, edit)

    def merge_last(self, before: int) -> None:
        """One call for "the clicks and pops" or "the ums and the pauses": when the calls from
        index ``before`` on are one call of the same tool as the one before them, they become one
        (the arguments of the one that says more, when the other says nothing different, or the
        union of remove_disfluencies' kinds)."""
        if before < 1 or len(self.calls) != before + 1:
            return
        first, second = self.calls[before - 1], self.calls[before]
        if first.tool != second.tool:
            return
        rest_a = {k: v for k, v in first.args.items() if k != "kinds"}
        rest_b = {k: v for k, v in second.args.items() if k != "kinds"}
        if all(first.args.get(k) == v for k, v in second.args.items()):
            merged = first  # "remove the clicks gently and the pops": one gentle pass
        elif all(second.args.get(k) == v for k, v in first.args.items()):
            merged = second  # "remove the clicks and pops gently"
        elif first.tool == "remove_disfluencies" and rest_a == rest_b:
            kinds = sorted(set(first.args.get("kinds", [])) | set(second.args.get("kinds", [])))
            merged = PlannedCall(first.tool, {**rest_a, "kinds": kinds})
        else:
            return
        self.calls[before - 1:] = [merged]
        if merged.tool not in ("info", "undo", "redo"):
            self.done.pop()

    def need_duration(self, clause: Clause) -> float:
        if self.duration_s is None:
            raise _refuse(clause, "this needs the track's duration, which is not known here")
        return self.duration_s

    def to_now(self, clause: Clause, t: float, *, point: bool = False) -> float:
        """A time of the track before the request, moved by the edits planned so far."""
        for kind, a, b in self.edits:
            if kind == "insert":
                t = t + b if t >= a else t
                continue
            end = math.inf if b is None else b
            outside = (a < t < end) if kind == "cut" else not (a <= t <= end)
            if outside and point:
                raise _refuse(clause, f"{fmt_s(t)} is in a part removed earlier in this request")
            if kind == "trim":
                t = min(max(t, a), end) - a
            elif t >= end:
                t -= end - a
            elif t > a:
                t = a
        return round(t, 6)

    def resolve(self, clause: Clause, span: Span) -> tuple[float, float | None]:
        """``span`` as (start_s, end_s or None) on the track as it is now, checked against it."""
        d = self.duration_s
        if span.anchor == "absolute":
            if span.end_s is not None and span.end_s <= span.start_s:
                raise _refuse(clause, f"the end ({fmt_s(span.end_s)}) is not after the start "
                                      f"({fmt_s(span.start_s)})")
            start = self.to_now(clause, span.start_s)
            end = None if span.end_s is None else self.to_now(clause, span.end_s)
            if end is not None and end <= start:
                raise _refuse(clause, "that part was already removed earlier in this request")
        else:
            length = span.length_s or 0.0
            if length <= 0:
                raise _refuse(clause, "the length must be more than 0 seconds")
            if span.anchor in ("last", "before_last"):
                d = self.need_duration(clause)
                if length > d + 1e-6:
                    raise _refuse(clause, f"the track is only {fmt_s(round(d, 3))} long")
            if span.anchor in ("first", "first_after"):
                start, end = (0.0, length) if span.anchor == "first" else (length, None)
            else:
                start, end = (max(d - length, 0.0), None) if span.anchor == "last" else (0.0, d - length)
            start, end = round(start, 6), None if end is None else round(end, 6)
        if d is not None and start >= d:
            raise _refuse(clause, f"{fmt_s(start)} is at or after the end of the track ({fmt_s(round(d, 3))})")
        if d is not None and end is not None and end > d + 0.05:
            raise _refuse(clause, f"{fmt_s(end)} is after the end of the track ({fmt_s(round(d, 3))})")
        return start, end


# ----------------------------------------------------------------------------- rules

_NOT_YET = (
    (r"\bplosives?\b", "plosive repair is not available yet"),
    (r"\bmute\b|^silence (?:from |between |<)|\breplace\b.*\bsilence\b",
     "muting part of the track is not available yet"),
    (r"\b(?:on|in|of|for|to) track\b|\btrack (?:<n\d+>|[a-z0-9])\b|\b(?:other|second|both|all) tracks?\b",
     "the offline planner edits the current track only; choosing a track is not available here"),
    (r"\b(?:reverse|reversed|backwards|pan|panned|panning|loop|repeat|merge|split|overlay|"
     r"concatenate|crossfade|distort\w*|auto ?tune|chorus|flanger|phaser|vocoder)\b",
     "that effect is not available yet"),
    (r"\b(?:mp3|wav|wave|flac|ogg|m4a|aac|opus|aiff?|webm)\b|<n\d+> ?bits?\b|\bbit depth\b|"
     r"\bsave\b|\bexport\b", "file format and bit depth are chosen when you save, not by an edit: "
                             "by the output file's name (.flac, .mp3, ...) and --bit-depth or "
                             "--bitrate"),
)

# words of the effects the toolbox has (agent/rules_toolbox.py), for a clause its rules did not parse
_TOOLBOX_WORDS = (
    (r"\b(?:tempo|faster|slower|speed\w*|slow)\b", "change_tempo"),
    (r"\bpitch\w*|\bsemitones?\b|\boctaves?\b", "shift_pitch"),
    (r"\breverb\w*|\bhall\b", "add_reverb"),
    (r"\becho\w*|\bdelay\b", "add_echo"),
    (r"\b(?:eq|equali[sz]\w*|treble|bass|highs|lows|mids|brighter|darker|muffled|boomy)\b",
     "equalize"),
    (r"\bcompress\w*", "compress"),
    (r"\bde ?ess\w*|\bsibilan\w*", "deess"),
    (r"\bgate\b", "gate"),
    (r"\bhum\b|\bbuzz\b", "remove_hum"),
)


def _not_understood(c: Clause) -> str:
    """The refusal of a clause no rule took: with how to say it when it names a toolbox effect."""
    for pattern, tool in _TOOLBOX_WORDS:
        if c.search(pattern):
            examples = TOOLBOX_EXAMPLES[tool]
            say = " or ".join(dict.fromkeys(f"'{e}'" for e in (examples[0], examples[-1])))
            return f"I did not understand '{c.source}'; for {tool} say e.g. {say}."
    return f"I did not understand '{c.source}'."


def _not_yet(c: Clause, st: _State) -> str | None:
    if c.search(r"^(?:don'?t|do not|never|no need to|stop)\b"):
        raise NotUnderstood(f"I did not understand '{c.source}' (a request not to do something).")
    for pattern, why in _NOT_YET:
        if c.search(pattern):
            raise _refuse(c, why)
    target = parse_target(Clause(c.text, c.phrase))
    if target and target.stem:
        raise _refuse(c, f"to change the {target.stem} alone, first say 'extract the "
                         f"{target.stem}', then edit that track")
    if target:
        raise _refuse(c, f"editing by words ('{target.text}') is not available offline; "
                         f"'find the word {target.text}' shows where it is, then cut that span")
    return None


def _history(c: Clause, st: _State) -> str | None:
    one = (r"(undo|redo)(?: (?:that|it|this|(?:the |my )?(?:last|previous) "
           r"(?:edit|change|step|action|one|thing)))?")
    many = r"(undo|redo)(?: the)?(?: last)? <n(\d+)> (?:edits|changes|steps|actions|times)"
    back = (r"(?:go|step) back(?: <n(\d+)> steps?)?|take (?:that|it) back|roll (?:that|it) back|"
            r"revert(?: that| it| the last (?:edit|change))?")
    if m := re.fullmatch(one, c.text):
        tool, count = m.group(1), 1
    elif m := re.fullmatch(many, c.text):
        tool, count = m.group(1), c.take(m.group(2)).value
    elif m := re.fullmatch(back, c.text):
        tool, count = "undo", c.take(m.group(1)).value if m.group(1) else 1
    else:
        return None
    if count != int(count) or not 1 <= count <= 20:
        raise _refuse(c, f"the number of steps must be a whole number from 1 to 20, got {count:g}")
    for _ in range(int(count)):
        st.add(c, tool, {})
    return tool


def _rule(rule):
    """A rule of :mod:`agent.rules_audio` or :mod:`agent.rules_edit`, its Refusal turned into the
    planner's refusal."""

    def run(c: Clause, st: _State) -> str | None:
        try:
            return rule(c, st)
        except Refusal as exc:
            raise _refuse(c, str(exc)) from None

    run.__name__ = rule.__name__
    return run


_RULES = (_history, *map(_rule, TOOLBOX_RULES), *map(_rule, AUDIO_RULES), _rule(rules_edit.info), _not_yet,
          *map(_rule, rules_edit.RULES))
_INHERITED = ("cut", "fade")  # "cut 0:01 to 0:02 and 0:05 to 0:06", "fade in 2 s and out 3 s"
_CONTINUATION = r"^(?:from |between |the (?:first|last) |in\b|out\b|<[tn]\d+>)"
# "remove the clicks and pops", "remove the ums and the long pauses": a clause that names only
# what to remove takes the verb of the clause before it
_REMOVAL_VERB = (r"^(?:remove|get rid of|take out|cut out|fix|repair|reduce|clean up|delete|"
                 r"strip out|strip|tame|soften|eliminate|kill|lose)\b")


def _plan_clause(clause: Clause, st: _State) -> str | None:
    for rule in _RULES:
        verb = rule(clause, st)
        if verb:
            if leftover := clause.unused():
                raise _refuse(clause, "did not understand " + ", ".join(f"'{q.text}'" for q in leftover))
            return verb
    return None


def plan_request(request: str, *, duration_s: float | None = None) -> list[PlannedCall]:
    """The tool calls for ``request`` on a track of ``duration_s`` seconds (None if unknown).

    Raises :class:`NotUnderstood` (and plans nothing) when any part of it is not understood."""
    phrase = tokenize(normalize(request))
    clauses = split_clauses(phrase)
    if not clauses:
        raise NotUnderstood("The request is empty.")
    st = _State(duration_s)
    verb: str | None = None
    removal: str | None = None  # the removal verb of the clause before, as written
    for clause in clauses:
        planned = _plan_clause(clause, st)
        if planned is None and verb in _INHERITED and clause.search(_CONTINUATION):
            planned = _plan_clause(Clause(f"{verb} {clause.text}", phrase), st)
        if planned is None and removal:
            before = len(st.calls)
            planned = _plan_clause(Clause(f"{removal} {clause.text}", phrase), st)
            if planned is not None:
                st.merge_last(before)
        if planned is None:
            raise NotUnderstood(_not_understood(clause))
        verb = planned
        if m := clause.search(_REMOVAL_VERB):
            removal = m.group(0)
    return list(st.calls)
