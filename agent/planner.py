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

from agent.phrases import (
    Clause,
    Span,
    T,
    find_span,
    normalize,
    parse_target,
    split_clauses,
    tokenize,
)
from agent.rules_audio import EXAMPLES as AUDIO_EXAMPLES
from agent.rules_audio import RULES as AUDIO_RULES
from agent.rules_audio import Refusal
from tools.errors import EchoError, ToolArgumentError
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
    """A request the planner cannot turn into calls; ``reason`` says why, the message adds what it can do."""

    exit_code = 1

    def __init__(self, reason: str) -> None:
        super().__init__(f"{reason}\n{CAPABILITIES}")
        self.reason = reason


def _refuse(clause: Clause, why: str) -> NotUnderstood:
    return NotUnderstood(f"Cannot do '{clause.source}': {why}")


def _fmt(seconds: float) -> str:
    return f"{seconds:g} s"


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
                raise _refuse(clause, f"{_fmt(t)} is in a part removed earlier in this request")
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
                raise _refuse(clause, f"the end ({_fmt(span.end_s)}) is not after the start "
                                      f"({_fmt(span.start_s)})")
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
                    raise _refuse(clause, f"the track is only {_fmt(round(d, 3))} long")
            if span.anchor in ("first", "first_after"):
                start, end = (0.0, length) if span.anchor == "first" else (length, None)
            else:
                start, end = (max(d - length, 0.0), None) if span.anchor == "last" else (0.0, d - length)
            start, end = round(start, 6), None if end is None else round(end, 6)
        if d is not None and start >= d:
            raise _refuse(clause, f"{_fmt(start)} is at or after the end of the track ({_fmt(round(d, 3))})")
        if d is not None and end is not None and end > d + 0.05:
            raise _refuse(clause, f"{_fmt(end)} is after the end of the track ({_fmt(round(d, 3))})")
        return start, end


# ----------------------------------------------------------------------------- rules

_NOT_YET = (
    (r"\bplosives?\b", "plosive repair is not available yet"),
    (r"\bmute\b|^silence (?:from |between |<)|\breplace\b.*\bsilence\b",
     "muting part of the track is not available yet"),
    (r"\b(?:on|in|of|for|to) track\b|\btrack (?:<n\d+>|[a-z0-9])\b|\b(?:other|second|both|all) tracks?\b",
     "the offline planner edits the current track only; choosing a track is not available here"),
    (r"\b(?:speed|slow|faster|slower|tempo|pitch|reverse|backwards|reverb|echo|delay|eq|equali[sz]\w*|"
     r"treble|compress\w*|de ?ess\w*|pan|loop|repeat|merge|split|overlay|concatenate|crossfade|"
     r"distort\w*|auto ?tune)\b", "that effect is not available yet"),
    (r"\b(?:mp3|wav|wave|flac|ogg|m4a|aac|opus|aiff?|webm)\b|<n\d+> ?bits?\b|\bbit depth\b|"
     r"\bsave\b|\bexport\b", "file format, bit depth and saving are chosen when you save the result "
                             "(by the output file name), not by an edit"),
)


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


_INFO = re.compile(
    r"(?:how (?:long|loud|big|many channels)|what(?: is|'s|s| are)? (?:the |its |it's )?(?:duration|"
    r"length|loudness|level|volume|sample ?rate|peak|true peak|lufs|format|channels?|stats|info)|"
    r"(?:show|give|tell|get)(?: me)?(?: the| some)? (?:info|information|details|stats|statistics|"
    r"duration|length|loudness|levels?)|(?:info|information|details|stats|statistics|measure|"
    r"analy[sz]e|describe|inspect|check)\b|is it (?:mono|stereo|clipping|too loud|loud enough))"
)


def _info(c: Clause, st: _State) -> str | None:
    if not _INFO.match(c.text):
        return None
    if not st.calls or st.calls[-1].tool != "info":  # "how long and how loud is it": one call
        st.add(c, "info", {})
    return "info"


_PRESETS = ((r"\bapple podcasts?\b|\bpodcasts?\b|\bapple music\b", -16.0),
            (r"\bbroadcast\w*|\bebu\b|\br ?128\b|\btv\b|\btelevision\b", -23.0),
            (r"\batsc\b|\ba ?85\b", -24.0),
            (r"\bstreaming\b|\bspotify\b|\byoutube\b|\btidal\b|\bdeezer\b|\bamazon music\b", -14.0))


def _normalize(c: Clause, st: _State) -> str | None:
    explicit = c.search(r"\bnormali[sz]\w*|<lufs\d+>|\blufs\b|\blkfs\b")
    preset = next((lufs for pattern, lufs in _PRESETS if c.search(pattern)), None)
    wordy = c.search(r"\bloudness\b|\bloud enough\b|\bready for\b|\bmaster\w* for\b|\blevel\w* for\b")
    peak_word = c.search(r"\b(?:true peak|peaks?|ceiling|limit\w*|max\w*)\b")
    level_db = c.token_ids("pct") or (c.token_ids("db") and not peak_word)
    if not explicit and not ((preset is not None or wordy) and not level_db
                             and not c.search(r"\b(?:louder|quieter|softer)\b")):
        return None
    peaks = c.token_ids("tp") + (c.token_ids("db") if peak_word else [])
    if c.token_ids("db") and not peak_word:
        raise _refuse(c, "peak normalisation is not available; give a loudness target such as "
                         "'-16 LUFS', or a gain in dB ('3 dB louder')")
    targets = c.token_ids("lufs")
    bare = c.search(r"\b(?:to|at) <n(\d+)>") if explicit or wordy else None
    if len(targets) > 1 or len(peaks) > 1:
        raise _refuse(c, "give one loudness target and at most one true-peak ceiling")
    if targets:
        target = c.take(targets[0]).value
    elif bare:
        target = c.take(bare.group(1)).value
    elif preset is not None:
        target = preset
    else:
        raise _refuse(c, "normalize to what loudness? e.g. '-16 LUFS' (podcast), '-14 LUFS' "
                         "(streaming), '-23 LUFS' (broadcast)")
    args: dict[str, Any] = {"target_lufs": -abs(target)}
    if peaks:
        args["true_peak_db"] = c.take(peaks[0]).value
    st.add(c, "normalize_loudness", args)
    return "normalize"


_FADE_DIRECTIONS = (
    (r"\bfad(?:e|es|ed|ing)(?: (?:it|this|that|everything|the (?:track|audio|song|music|sound|recording|"
     r"clip)))? (in|out|up|down)\b(?: & (in|out)\b)?", None),
    (r"\b(in|out) & (in|out)\b", None),
    (r"\bfad\w* (?:to|into) (?:silence|nothing|black|zero)\b", "out"),
    (r"\bfad\w* (?:from|out of) (?:silence|nothing|zero)\b", "in"),
    (r"\bfad\w*(?: \w+)?(?: at| of| on| to)? the (?:start|beginning|intro|front|opening)\b", "in"),
    (r"\bfad\w*(?: \w+)?(?: at| of| on| to)? the (?:end|ending|outro|tail|close)\b", "out"),
    (r"\bfad\w*(?: \w+)? the (?:first|opening) <", "in"),
    (r"\bfad\w*(?: \w+)? the (?:last|final) <", "out"),
)


def _fade(c: Clause, st: _State) -> str | None:
    if not c.search(r"\bfad(?:e|es|ed|ing)\b"):
        return None
    directions: list[str] = []
    for pattern, fixed in _FADE_DIRECTIONS:
        for m in re.finditer(pattern, c.text):
            for word in [fixed] if fixed else [g for g in m.groups() if g]:
                word = {"up": "in", "down": "out"}.get(word, word)
                if word not in directions:
                    directions.append(word)
    if not directions:
        raise _refuse(c, "fade in or fade out? e.g. 'fade in over 2 s', 'fade out the last 3 seconds'")
    shape = next((name for pattern, name in ((r"\blinear\w*", "linear"), (r"\bexponential\w*|\blog\w*",
                  "exponential"), (r"\bcosine\b|\bs curve\b|\bsmooth\w*", "cosine")) if c.search(pattern)), None)
    start = c.search(rf"\b(?:from|starting at|starting from|beginning at|after|at) {T}")
    if start and directions == ["out"]:
        at = st.to_now(c, c.take(start.group(1)).seconds(), point=True)
        length = st.need_duration(c) - at
    else:
        times = [i for i in c.token_ids("t n") if i not in c.used]
        if not times:
            raise _refuse(c, "how long should the fade be? e.g. 'fade out over 3 seconds'")
        if len(times) > 1:
            raise _refuse(c, "give one fade length, e.g. 'fade in over 2 s and fade out over 3 s'")
        length = c.take(times[0]).seconds()
    if st.duration_s is not None and length > st.duration_s + 1e-6:
        raise _refuse(c, f"a {_fmt(length)} fade is longer than the track ({_fmt(round(st.duration_s, 3))})")
    for direction in directions:
        args: dict[str, Any] = {"direction": direction, "duration_s": round(length, 6)}
        if shape:
            args["shape"] = shape
        st.add(c, "fade", args)
    return "fade"


def _silence(c: Clause, st: _State) -> str | None:
    if not c.search(r"\b(?:silence|silent|pause|gap|space|dead air|padding|pad)\b"):
        return None
    if c.search(rf"{T}\s*(?:to|until|till|through|-|&)\s*{T}"):
        raise _refuse(c, "inserting silence takes a length and a point ('1 s of silence at 0:05'); "
                         "silencing a span is not available yet")
    point = c.search(rf"\b(?:at|after|before|from|to|into) {T}")
    if c.search(r"\b(?:both ends|each end|either end|both sides|(?:start|beginning) & end)\b"):
        places: list[float | str] = [0.0, "end"]
    elif point:
        places = [st.to_now(c, c.take(point.group(1)).seconds(), point=True)]
    elif c.search(r"\b(?:start|beginning|front|head|top)\b|\bprepend"):
        places = [0.0]
    elif c.search(r"\b(?:end|ending|tail)\b|\bappend"):
        places = ["end"]
    else:
        raise _refuse(c, "where should the silence go? e.g. 'at the start', 'at the end', 'at 0:05'")
    lengths = [i for i in c.token_ids("t n") if i not in c.used]
    if len(lengths) != 1:
        raise _refuse(c, "how much silence? e.g. 'add 2 seconds of silence at the start'")
    length = c.take(lengths[0]).seconds()
    for place in places:
        at = st.need_duration(c) if place == "end" else place
        if st.duration_s is not None and at > st.duration_s + 1e-6:
            raise _refuse(c, f"{_fmt(at)} is after the end of the track ({_fmt(round(st.duration_s, 3))})")
        st.add(c, "insert_silence", {"at_s": at, "duration_s": length}, edit=("insert", at, length))
    return "add silence"


def _convert(c: Clause, st: _State) -> str | None:
    if not c.search(r"\b(?:mono(?:phonic)?|stereo|sample ?rate|resample|downsample|upsample|"
                    r"down ?mix|channels?|convert)\b|<hz\d+>"):
        return None
    args: dict[str, Any] = {}
    text = re.sub(r"\b(?:from )?(?:mono|stereo) (?=(?:to|into) (?:mono|stereo)\b)", "", c.text)
    mono = re.search(r"\bmono|\bdown ?mix|\bsingle channel", text)
    stereo = re.search(r"\bstereo\b", text)
    count = c.search(r"<n(\d+)> channels?\b")
    if bool(mono) + bool(stereo) + bool(count) > 1:
        raise _refuse(c, "mono or stereo?")
    if mono or stereo:
        args["channels"] = 1 if mono else 2
    elif count:
        args["channels"] = int(c.take(count.group(1)).value)
    rates = c.token_ids("hz")
    bare = c.search(r"\b(?:sample ?rate|resample|downsample|upsample)\b\D*?<n(\d+)>")
    if len(rates) > 1:
        rates = [int(m.group(1)) for m in re.finditer(r"\b(?:to|into|at) <hz(\d+)>", c.text)]
        for i in c.token_ids("hz"):
            c.take(i)  # "from 44.1 kHz to 48 kHz": the first one is what it is now
        if len(rates) != 1:
            raise _refuse(c, "give one sample rate")
    if rates or bare:
        rate = c.take(rates[0] if rates else bare.group(1)).value
        args["sample_rate_hz"] = int(round(rate if rate >= 1000 else rate * 1000))
    if not args:
        raise _refuse(c, "convert to what? e.g. 'make it mono', 'convert to 48 kHz'")
    st.add(c, "convert", args)
    return "convert"


_GAIN = (r"\b(?:louder|quieter|softer|volume|gain|boost|amplify|attenuate|level|loud|quiet)\b|"
         r"\b(?:turn|bring)(?: \w+)? (?:up|down)\b|<db\d+>")
_DOWN = (r"\b(?:quieter|softer|down|lower|reduce|decrease|attenuate|cut|drop|less|lessen|dim|"
         r"not as loud|more quiet)\b")
_UP = r"\b(?:louder|up|raise|increase|boost|amplify|higher|bump|pump)\b"
_REGION = (r"\b(?:intro|outro|chorus|verse|beginning|start|ending|end|first|last|section|part|middle|"
           r"between|from|until|before|after)\b")


def _gain(c: Clause, st: _State) -> str | None:
    if not c.search(_GAIN):
        return None
    if c.token_ids("t") or c.search(_REGION):
        raise _refuse(c, "gain changes the whole track; changing the level of one part is not "
                         "available yet")
    down, up = c.search(_DOWN), c.search(_UP)
    if down and up:
        raise _refuse(c, "louder or quieter?")
    sign = -1.0 if down else 1.0 if up else 0.0
    dbs, pcts, bare = c.token_ids("db"), c.token_ids("pct"), c.token_ids("n")
    if c.search(r"<n\d+> times "):
        bare = []  # "1.5 times louder": a factor, read below
    elif len(dbs) + len(pcts) + len(bare) > 1:
        raise _refuse(c, "give one amount, e.g. '3 dB louder'")
    if (dbs or bare) and c.search(r"\bto <(?:db|n)\d+>") and not c.search(r"\bgain\b"):
        raise _refuse(c, "that is a level to reach, not a change; say e.g. '3 dB louder' or "
                         "'normalize to -16 LUFS'")
    if dbs or bare:
        explicit_plus = c.phrase.quantities[(dbs or bare)[0]].text.startswith("+")
        absolute = c.search(r"\b(?:volume|level|loudness)\b(?: \w+)? to <")
        if not sign and not explicit_plus and (absolute or not c.search(r"\b(?:gain|by|apply|add|change)\b")):
            raise _refuse(c, "is that a change or a level to reach? say e.g. '3 dB louder', "
                             "'apply -3 dB of gain' or 'normalize to -16 LUFS'")
        value = c.take((dbs or bare)[0]).value
        gain_db = sign * abs(value) if sign else value
    elif pcts:
        percent, to = c.take(pcts[0]).value, c.search(r"\bto <pct")
        if not sign and not to:
            raise _refuse(c, "louder or quieter?")
        ratio = percent / 100 if to else 1 + sign * percent / 100
        if ratio <= 0:
            raise _refuse(c, "that would silence the track")
        gain_db = round(20 * math.log10(ratio), 2)
    elif times := c.search(r"<n(\d+)> times (as loud|louder|quieter|softer|as quiet|as soft)\b"):
        ratio = c.take(times.group(1)).value
        if ratio <= 0:
            raise _refuse(c, "the factor must be more than 0")
        quieter = times.group(2) in ("quieter", "softer", "as quiet", "as soft")
        gain_db = round(20 * math.log10(ratio) * (-1 if quieter else 1), 2)
    elif c.search(r"\bby half\b|\bhalf as loud\b|\bhalve\b|\bhalf (?:the )?(?:volume|level|loudness|gain)\b"):
        gain_db = -6.0
    elif c.search(r"\btwice as loud\b|\bdouble (?:the )?(?:volume|level|loudness|gain)\b"):
        gain_db = 6.0
    elif c.search(r"\ba (?:little|tiny|wee)? ?(?:little|bit|touch|tad)\b|\bslightly\b|\bsomewhat\b") and sign:
        gain_db = 3.0 * sign
    else:
        raise _refuse(c, "by how much? e.g. '3 dB louder', 'turn it down 6 dB', 'a little louder' (3 dB)")
    st.add(c, "gain", {"gain_db": gain_db})
    return "gain"


_EXCEPT = r"\b(?:except|but|other than|apart from|besides)\b"
_TRIM = (r"\b(?:keep|crop|retain|preserve|leave only|isolate)\b|"
         r"\b(?:trim|cut|shorten|chop|crop)(?: (?:it|this|that|the (?:track|audio|file|song|clip|"
         r"recording)))?(?: down| back)? to\b|\bmake (?:it|this) <t\d+> long\b|"
         r"^trim (?:it |this )?(?:from |between )?<[tn]\d+>\s*(?:to|-|&|until)")


def _trim(c: Clause, st: _State) -> str | None:
    if not c.search(_TRIM) or c.search(r"\b(?:off|away)\b"):
        return None
    span = find_span(c)
    if span is None:
        lengths = c.token_ids("t n")
        if len(lengths) != 1 or c.search(r"\bkeep\b"):
            raise _refuse(c, "keep which part? e.g. 'keep only the first 10 seconds', 'keep 0:03 to 0:08'")
        span = Span("first", length_s=c.take(lengths[0]).seconds())
    if c.search(_EXCEPT):
        return _cut_span(c, st, span)
    start, end = st.resolve(c, span)
    st.add(c, "trim", {"start_s": start, "end_s": end}, edit=("trim", start, end))
    return "keep"


_CUT = (r"\b(?:cut|remove|delete|drop|erase|chop|snip|lose|take out|get rid of|strip|excise|trim|"
        r"clip off|shorten)\b")


def _cut(c: Clause, st: _State) -> str | None:
    if not c.search(_CUT):
        return None
    span = find_span(c)
    if span is None:
        raise _refuse(c, "which part? e.g. 'cut from 0:02 to 0:04', 'cut the first 2 seconds', "
                         "'remove everything after 1:30'")
    if c.search(_EXCEPT):
        start, end = st.resolve(c, span)
        st.add(c, "trim", {"start_s": start, "end_s": end}, edit=("trim", start, end))
        return "keep"
    return _cut_span(c, st, span)


def _cut_span(c: Clause, st: _State, span: Span) -> str:
    start, end = st.resolve(c, span)
    d = st.duration_s
    if start <= 0 and (end is None or (d is not None and end >= d)):
        raise _refuse(c, "that would remove the whole track")
    st.add(c, "cut", {"start_s": start, "end_s": end}, edit=("cut", start, end))
    return "cut"


def _audio_rule(rule):
    """An :mod:`agent.rules_audio` rule, its Refusal turned into the planner's refusal."""

    def run(c: Clause, st: _State) -> str | None:
        try:
            return rule(c, st)
        except Refusal as exc:
            raise _refuse(c, str(exc)) from None

    run.__name__ = rule.__name__
    return run


_RULES = (_history, *map(_audio_rule, AUDIO_RULES), _info, _not_yet, _normalize, _fade, _silence,
          _convert, _gain, _trim, _cut)
_INHERITED = ("cut", "fade")  # "cut 0:01 to 0:02 and 0:05 to 0:06", "fade in 2 s and out 3 s"
_CONTINUATION = r"^(?:from |between |the (?:first|last) |in\b|out\b|<[tn]\d+>)"


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
    for clause in clauses:
        planned = _plan_clause(clause, st)
        if planned is None and verb in _INHERITED and clause.search(_CONTINUATION):
            planned = _plan_clause(Clause(f"{verb} {clause.text}", phrase), st)
        if planned is None:
            raise NotUnderstood(f"I did not understand '{clause.source}'.")
        verb = planned
    return list(st.calls)
