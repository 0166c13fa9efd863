"""The offline planner's rules for the basic edits: info, normalize, fade, silence, convert, gain,
trim and cut (the rules for speech, noise, music and repair are in :mod:`agent.rules_audio`).

Each rule takes a clause and the plan state (``agent.planner._State``), adds its calls and
returns the verb, returns None when the clause is not for it, or raises :class:`Refusal` when it is
but cannot be planned.
"""

from __future__ import annotations

import math
import re
from typing import Any

from agent.phrases import Clause, Refusal, Span, T, find_span, fmt_s

_INFO = re.compile(
    r"(?:how (?:long|loud|big|many channels)|what(?: is|'s|s| are)? (?:the |its |it's )?(?:duration|"
    r"length|loudness|level|volume|sample ?rate|peak|true peak|lufs|format|channels?|stats|info)|"
    r"(?:show|give|tell|get)(?: me)?(?: the| some)? (?:info|information|details|stats|statistics|"
    r"duration|length|loudness|levels?)|(?:info|information|details|stats|statistics|measure|"
    r"analy[sz]e|describe|inspect|check)\b|is it (?:mono|stereo|clipping|too loud|loud enough))"
)


def info(c: Clause, st) -> str | None:
    if not _INFO.match(c.text):
        return None
    if not st.calls or st.calls[-1].tool != "info":  # "how long and how loud is it": one call
        st.add(c, "info", {})
    return "info"


_PRESETS = ((r"\bapple podcasts?\b|\bpodcasts?\b|\bapple music\b", -16.0),
            (r"\bbroadcast\w*|\bebu\b|\br ?128\b|\btv\b|\btelevision\b", -23.0),
            (r"\batsc\b|\ba ?85\b", -24.0),
            (r"\bstreaming\b|\bspotify\b|\byoutube\b|\btidal\b|\bdeezer\b|\bamazon music\b", -14.0))


def normalize_loudness(c: Clause, st) -> str | None:
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
        raise Refusal("peak normalisation is not available; give a loudness target such as "
                         "'-16 LUFS', or a gain in dB ('3 dB louder')")
    targets = c.token_ids("lufs")
    bare = c.search(r"\b(?:to|at) <n(\d+)>") if explicit or wordy else None
    if len(targets) > 1 or len(peaks) > 1:
        raise Refusal("give one loudness target and at most one true-peak ceiling")
    if targets and c.sign(targets[0]) > 0:
        raise Refusal(f"'{c.phrase.quantities[targets[0]].text}' is louder than full scale; "
                      "loudness targets are below 0, e.g. '-16 LUFS' (podcast), '-14 LUFS' "
                      "(streaming)")
    if targets:
        target = c.take(targets[0]).value  # "to 14 LUFS" can only mean -14
    elif bare:
        target = c.take(bare.group(1)).value
    elif preset is not None:
        target = preset
    else:
        raise Refusal("normalize to what loudness? e.g. '-16 LUFS' (podcast), '-14 LUFS' "
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


def fade(c: Clause, st) -> str | None:
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
        raise Refusal("fade in or fade out? e.g. 'fade in over 2 s', 'fade out the last 3 seconds'")
    shape = next((name for pattern, name in ((r"\blinear\w*", "linear"), (r"\bexponential\w*|\blog\w*",
                  "exponential"), (r"\bcosine\b|\bs curve\b|\bsmooth\w*", "cosine")) if c.search(pattern)), None)
    start = c.search(rf"\b(?:from|starting at|starting from|beginning at|after|at) {T}")
    if start and directions == ["out"]:
        at = st.to_now(c, c.take(start.group(1)).seconds(), point=True)
        length = st.need_duration(c) - at
    else:
        times = [i for i in c.token_ids("t n") if i not in c.used]
        if not times:
            raise Refusal("how long should the fade be? e.g. 'fade out over 3 seconds'")
        if len(times) > 1:
            raise Refusal("give one fade length, e.g. 'fade in over 2 s and fade out over 3 s'")
        length = c.take(times[0]).seconds()
    if st.duration_s is not None and length > st.duration_s + 1e-6:
        raise Refusal(f"a {fmt_s(length)} fade is longer than the track ({fmt_s(round(st.duration_s, 3))})")
    for direction in directions:
        args: dict[str, Any] = {"direction": direction, "duration_s": round(length, 6)}
        if shape:
            args["shape"] = shape
        st.add(c, "fade", args)
    return "fade"


def insert_silence(c: Clause, st) -> str | None:
    if not c.search(r"\b(?:silence|silent|pause|gap|space|dead air|padding|pad)\b"):
        return None
    if c.search(rf"{T}\s*(?:to|until|till|through|-|&)\s*{T}"):
        raise Refusal("inserting silence takes a length and a point ('1 s of silence at 0:05'); "
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
        raise Refusal("where should the silence go? e.g. 'at the start', 'at the end', 'at 0:05'")
    lengths = [i for i in c.token_ids("t n") if i not in c.used]
    if len(lengths) != 1:
        raise Refusal("how much silence? e.g. 'add 2 seconds of silence at the start'")
    length = c.take(lengths[0]).seconds()
    for place in places:
        at = st.need_duration(c) if place == "end" else place
        if st.duration_s is not None and at > st.duration_s + 1e-6:
            raise Refusal(f"{fmt_s(at)} is after the end of the track ({fmt_s(round(st.duration_s, 3))})")
        st.add(c, "insert_silence", {"at_s": at, "duration_s": length}, edit=("insert", at, length))
    return "add silence"


def convert(c: Clause, st) -> str | None:
    if not c.search(r"\b(?:mono(?:phonic)?|stereo|sample ?rate|resample|downsample|upsample|"
                    r"down ?mix|channels?|convert)\b|<hz\d+>"):
        return None
    args: dict[str, Any] = {}
    text = re.sub(r"\b(?:from )?(?:mono|stereo) (?=(?:to|into) (?:mono|stereo)\b)", "", c.text)
    mono = re.search(r"\bmono|\bdown ?mix|\bsingle channel", text)
    stereo = re.search(r"\bstereo\b", text)
    count = c.search(r"<n(\d+)> channels?\b")
    if bool(mono) + bool(stereo) + bool(count) > 1:
        raise Refusal("mono or stereo?")
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
            raise Refusal("give one sample rate")
    if rates or bare:
        rate = c.take(rates[0] if rates else bare.group(1)).value
        args["sample_rate_hz"] = int(round(rate if rate >= 1000 else rate * 1000))
    if not args:
        raise Refusal("convert to what? e.g. 'make it mono', 'convert to 48 kHz'")
    st.add(c, "convert", args)
    return "convert"


_GAIN = (r"\b(?:louder|quieter|softer|volume|gain|boost|amplify|attenuate|level|loud|quiet)\b|"
         r"\b(?:turn|bring)(?: \w+)? (?:up|down)\b|<db\d+>")
_DOWN = (r"\b(?:quieter|softer|down|lower|reduce|decrease|attenuate|cut|drop|less|lessen|dim|"
         r"not as loud|more quiet)\b")
_UP = r"\b(?:louder|up|raise|increase|boost|amplify|higher|bump|pump)\b"
_REGION = (r"\b(?:intro|outro|chorus|verse|beginning|start|ending|end|first|last|section|part|middle|"
           r"between|from|until|before|after)\b")


def gain(c: Clause, st) -> str | None:
    if not c.search(_GAIN):
        return None
    if c.token_ids("t") or c.search(_REGION):
        raise Refusal("gain changes the whole track; changing the level of one part is not "
                         "available yet")
    down, up = c.search(_DOWN), c.search(_UP)
    if down and up:
        raise Refusal("louder or quieter?")
    sign = -1.0 if down else 1.0 if up else 0.0
    if sign and (q := c.against(up=sign > 0, kinds="db pct n")):
        raise Refusal(f"'{q}' and '{(up or down).group(0)}' point opposite ways: say e.g. "
                      "'3 dB louder' or '3 dB quieter'")
    dbs, pcts, bare = c.token_ids("db"), c.token_ids("pct"), c.token_ids("n")
    if c.search(r"<n\d+> times "):
        bare = []  # "1.5 times louder": a factor, read below
    elif len(dbs) + len(pcts) + len(bare) > 1:
        raise Refusal("give one amount, e.g. '3 dB louder'")
    if (dbs or bare) and c.search(r"\bto <(?:db|n)\d+>") and not c.search(r"\bgain\b"):
        raise Refusal("that is a level to reach, not a change; say e.g. '3 dB louder' or "
                         "'normalize to -16 LUFS'")
    if dbs or bare:
        explicit_plus = c.phrase.quantities[(dbs or bare)[0]].text.startswith("+")
        absolute = c.search(r"\b(?:volume|level|loudness)\b(?: \w+)? to <")
        if not sign and not explicit_plus and (absolute or not c.search(r"\b(?:gain|by|apply|add|change)\b")):
            raise Refusal("is that a change or a level to reach? say e.g. '3 dB louder', "
                             "'apply -3 dB of gain' or 'normalize to -16 LUFS'")
        value = c.take((dbs or bare)[0]).value
        gain_db = sign * abs(value) if sign else value
    elif pcts:
        percent, to = c.take(pcts[0]).value, c.search(r"\bto <pct")
        if not sign and not to:
            raise Refusal("louder or quieter?")
        ratio = percent / 100 if to else 1 + sign * percent / 100
        if ratio <= 0:
            raise Refusal("that would silence the track")
        gain_db = round(20 * math.log10(ratio), 2)
    elif times := c.search(r"<n(\d+)> times (as loud|louder|quieter|softer|as quiet|as soft)\b"):
        ratio = c.take(times.group(1)).value
        if ratio <= 0:
            raise Refusal("the factor must be more than 0")
        quieter = times.group(2) in ("quieter", "softer", "as quiet", "as soft")
        gain_db = round(20 * math.log10(ratio) * (-1 if quieter else 1), 2)
    elif c.search(r"\bby half\b|\bhalf as loud\b|\bhalve\b|\bhalf (?:the )?(?:volume|level|loudness|gain)\b"):
        gain_db = -6.0
    elif c.search(r"\btwice as loud\b|\bdouble (?:the )?(?:volume|level|loudness|gain)\b"):
        gain_db = 6.0
    elif c.search(r"\ba (?:little|tiny|wee)? ?(?:little|bit|touch|tad)\b|\bslightly\b|\bsomewhat\b") and sign:
        gain_db = 3.0 * sign
    else:
        raise Refusal("by how much? e.g. '3 dB louder', 'turn it down 6 dB', 'a little louder' (3 dB)")
    st.add(c, "gain", {"gain_db": gain_db})
    return "gain"


_EXCEPT = r"\b(?:except|but|other than|apart from|besides)\b"
_TRIM = (r"\b(?:keep|crop|retain|preserve|leave only|isolate)\b|"
         r"\b(?:trim|cut|shorten|chop|crop)(?: (?:it|this|that|the (?:track|audio|file|song|clip|"
         r"recording)))?(?: down| back)? to\b|\bmake (?:it|this) <t\d+> long\b|"
         r"^trim (?:it |this )?(?:from |between )?<[tn]\d+>\s*(?:to|-|&|until)")


def trim(c: Clause, st) -> str | None:
    if not c.search(_TRIM) or c.search(r"\b(?:off|away)\b"):
        return None
    span = find_span(c)
    if span is None:
        lengths = c.token_ids("t n")
        if len(lengths) != 1 or c.search(r"\bkeep\b"):
            raise Refusal("keep which part? e.g. 'keep only the first 10 seconds', 'keep 0:03 to 0:08'")
        span = Span("first", length_s=c.take(lengths[0]).seconds())
    if c.search(_EXCEPT):
        return _cut_span(c, st, span)
    start, end = st.resolve(c, span)
    st.add(c, "trim", {"start_s": start, "end_s": end}, edit=("trim", start, end))
    return "keep"


_CUT = (r"\b(?:cut|remove|delete|drop|erase|chop|snip|lose|take out|get rid of|strip|excise|trim|"
        r"clip off|shorten)\b")


def cut(c: Clause, st) -> str | None:
    if not c.search(_CUT):
        return None
    span = find_span(c)
    if span is None:
        raise Refusal("which part? e.g. 'cut from 0:02 to 0:04', 'cut the first 2 seconds', "
                         "'remove everything after 1:30'")
    if c.search(_EXCEPT):
        start, end = st.resolve(c, span)
        st.add(c, "trim", {"start_s": start, "end_s": end}, edit=("trim", start, end))
        return "keep"
    return _cut_span(c, st, span)


def _cut_span(c: Clause, st, span: Span) -> str:
    start, end = st.resolve(c, span)
    d = st.duration_s
    if start <= 0 and (end is None or (d is not None and end >= d)):
        raise Refusal("that would remove the whole track")
    st.add(c, "cut", {"start_s": start, "end_s": end}, edit=("cut", start, end))
    return "cut"


# In the planner's order, after the speech/noise/music rules, :func:`info` and the "not yet" refusals.
RULES = (normalize_loudness, fade, insert_silence, convert, gain, trim, cut)
