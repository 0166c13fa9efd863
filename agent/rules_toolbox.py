"""Offline planner rules for the producer's toolbox: tempo, pitch, speed, EQ, dynamics, hum,
reverb (removing and adding), echo, room matching and silence trimming.

Each rule reads one clause (:class:`agent.phrases.Clause`) and either plans calls on the planner's
state (``st.add``), returns None (not for this rule), or raises :class:`Refusal` with the reason.
The planner tries these rules first, before the speech/noise rules (so "remove the hum" is
remove_hum, not denoise) and before the basic edits (so "cut everything under 100 Hz" is an EQ,
not a cut).
"""

from __future__ import annotations

import re

from agent.phrases import Clause, Refusal

EXAMPLES: dict[str, tuple[str, ...]] = {
    "change_tempo": ("speed it up by 10 percent", "10% faster", "slow it down to 90%"),
    "shift_pitch": ("pitch it down a semitone", "up two semitones", "an octave higher"),
    "change_speed": ("play it at 1.5x like a tape", "slow it down 20% like a tape"),
    "equalize": ("cut everything under 100 Hz", "cut the rumble below 80 Hz", "less boomy",
                 "brighten it", "make it sound like a telephone", "boost 3 dB at 4 kHz"),
    "compress": ("compress the voice", "level out the voice", "heavy compression"),
    "gate": ("gate the noise between phrases",),
    "deess": ("de-ess it",),
    "remove_hum": ("remove the hum", "remove the 50 Hz hum"),
    "dereverb": ("take the echo out", "take the room out of it"),
    "add_reverb": ("add a bit of reverb", "make it sound like a big hall"),
    "add_echo": ("add some echo", "echo every half second"),
    "match_room": ("make the guest sound like they were in the same room as the host",),
    "trim_silence": ("trim the silence at the start and end",),
}

_LITTLE = r"\b(?:a (?:little|bit|touch|tad)(?: of)?|slightly|subtle|subtly|gently|gentle|light|lightly)\b"
_LOT = r"\b(?:a lot(?: of)?|lots of|loads of|heavy|heavily|strong|strongly|massive|huge|tons of|very)\b"
_NAME = r"(?:the |my |our )?([a-z][a-z0-9_.-]*)"


def _pct(c: Clause) -> float | None:
    ids = c.token_ids("pct")
    return c.take(ids[0]).value if ids else None


# ----------------------------------------------------------------------------- tempo, speed


_FASTER = r"\b(?:faster|speed (?:it |this |that )?up|sped up|quicker|speed up)\b"
_SLOWER = r"\b(?:slower|slow (?:it |this |that )?down|slowed down)\b"
_TAPE = (r"\b(?:like a (?:tape|record|vinyl|turntable)|varispeed|vari speed|tape speed|pitch and "
         r"all|and (?:the )?pitch(?: too)?|pitch (?:too|as well)|with (?:the )?pitch|speed and "
         r"pitch|pitch and speed|higher and faster|faster and higher|slower and lower|lower and "
         r"slower|chipmunk)\b")


def _ratio(c: Clause, faster: bool) -> float | None:
    """A speed ratio from '10%' (by), 'to 90%', '1.5x', '2 times', 'double', 'half speed'."""
    if m := c.search(r"\bto <pct(\d+)>"):
        return c.take(m.group(1)).value / 100
    if (p := _pct(c)) is not None:
        return 1 + p / 100 if faster else 1 - p / 100
    if m := re.search(r"(?<![\w.])(\d+(?:\.\d+)?|\.\d+) ?x\b", c.text):
        return float(m.group(1))
    if m := c.search(r"<n(\d+)> times (?:as )?(?:fast|faster|quick|speed)"):
        return c.take(m.group(1)).value
    if c.search(r"\bhalf (?:the )?(?:speed|tempo)\b|\bhalf as fast\b"):
        return 0.5
    if c.search(r"\bdouble (?:the )?(?:speed|tempo)\b|\bdouble speed\b"):
        return 2.0
    return None


def tempo(c: Clause, st) -> str | None:
    faster, slower = c.search(_FASTER), c.search(_SLOWER)
    target = c.search(r"\b(?:make it|stretch it(?: out)?(?: to)?|fit (?:it )?in(?:to)?|"
                      r"squeeze it into|shorten it to|lengthen it to) <t(\d+)>(?: long)?\b")
    tempo_words = c.search(r"\btempo\b|\bplayback speed\b|\bspeed\b|\b(?:play|make) it "
                           r"(?:<n\d+> times )?(?:as )?fast\b")
    if target and (c.search(r"\blong\b|\bfit\b|\bsqueeze\b|\bstretch\b|\bshorten\b|\blengthen\b")):
        seconds = c.take(target.group(1)).value
        st.add(c, "change_tempo", {"target_duration_s": seconds})
        st.duration_s = seconds
        return "change_tempo"
    if not (faster or slower or tempo_words or c.search(_TAPE)):
        return None
    tool = "change_speed" if c.search(_TAPE) else "change_tempo"
    if (faster or slower) and (q := c.against(up=not slower, kinds="pct n")):
        raise Refusal(f"'{q}' and '{(faster or slower).group(0)}' point opposite ways: say "
                      "e.g. '10% faster' or '10% slower'")
    ratio = _ratio(c, faster=not slower)
    if ratio is None:
        if c.search(r"\bchipmunk\b"):
            ratio = 1.5
        elif not (faster or slower):
            return None
        else:
            raise Refusal("how much? e.g. '10% faster', 'slow it down to 90%', '1.5x'")
    if slower and ratio > 1:
        ratio = 1 / ratio
    arg = "speed_ratio" if tool == "change_speed" else "tempo_ratio"
    st.add(c, tool, {arg: round(ratio, 6)})
    if st.duration_s is not None:
        st.duration_s = round(st.duration_s / ratio, 6)
    return tool


def pitch(c: Clause, st) -> str | None:
    if not c.search(r"\bsemitones?\b|\boctaves?\b|\bpitch\w*\b|\btranspos\w*|\bhalf ?steps?\b|"
                    r"\bwhole ?steps?\b|\bkey\b") or c.search(_TAPE):
        return None
    up = c.search(r"\b(?:up|higher|raise\w*|increase|sharpen)\b")
    down = c.search(r"\b(?:down|lower\w*|drop\w*|decrease|deeper|flatten)\b")
    if (up or down) and (q := c.against(up=bool(up), kinds="n")):
        raise Refusal(f"'{q}' and '{(up or down).group(0)}' point opposite ways: say e.g. "
                      "'up 2 semitones' or 'down 2 semitones'")
    signed = [i for i in c.token_ids("n") if c.sign(i)]
    if not (up or down) and signed:  # "shift the pitch by -2 semitones"
        up, down = c.sign(signed[0]) > 0, c.sign(signed[0]) < 0
    if up and down or not (up or down):
        raise Refusal("up or down, and by how much? e.g. 'pitch it down a semitone', 'up 2 "
                      "semitones'")
    amount = None
    if m := c.search(r"<n(\d+)> (?:semitones?|half ?steps?)"):
        amount = c.take(m.group(1)).value
    elif m := c.search(r"<n(\d+)> (?:whole ?steps?|tones?)\b"):
        amount = 2 * c.take(m.group(1)).value
    elif m := c.search(r"<n(\d+)> octaves?"):
        amount = 12 * c.take(m.group(1)).value
    elif c.search(r"\b(?:a|one) (?:semitone|half ?step)\b|\bsemitone\b"):
        amount = 1.0
    elif c.search(r"\b(?:a|one) (?:whole ?step|whole tone|tone)\b"):
        amount = 2.0
    elif c.search(r"\b(?:an|one) octave\b|\boctave\b"):
        amount = 12.0
    elif (m := c.search(r"\btranspos\w* (?:it |this )?(?:up|down) (?:by )?<n(\d+)>")):
        amount = c.take(m.group(1)).value
    if amount is None:
        raise Refusal("by how many semitones? e.g. 'pitch it down a semitone', 'up 2 semitones'")
    st.add(c, "shift_pitch", {"semitones": abs(amount) if up else -abs(amount)})
    return "shift_pitch"


# ----------------------------------------------------------------------------- EQ

_EQ_PRESETS = (
    (r"\brumble\b", "remove_rumble"),
    (r"\bboom\w*\b", "less_boomy"),
    (r"\bmud\w*\b", "less_muddy"),
    (r"\btele ?phone\b|\bphone (?:call|line|effect)\b|\bover the phone\b|\bon the phone\b", "telephone"),
    (r"\bradio\b|\bwalkie ?talkie\b|\bintercom\b|\bmegaphone\b|\bbullhorn\b", "radio"),
    (r"\bbrighten\w*\b|\bbrighter\b|\bmore (?:treble|air|sparkle|brightness|top end)\b", "brighten"),
    (r"\bdark(?:en|er)\b|\bless (?:bright|treble|brightness)\b|\bduller\b", "darken"),
    (r"\bwarm\w*\b", "warmer"),
    (r"\bpresence\b", "more_presence"),
    (r"\bharsh\w*\b|\bshrill\b", "less_harsh"),
    (r"\b(?:more|boost(?: the)?|add(?: some)?) bass\b|\bbass boost\b|\bbassier\b", "bass_boost"),
    (r"\b(?:less|reduce(?: the)?|cut(?: the)?) bass\b|\bthinner\b", "less_bass"),
    (r"\bclear(?:er)? voice\b|\bvoice (?:clearer|clarity)\b|\bvocal clarity\b|\bmore intelligible\b", "clear_voice"),
)
_BELOW = r"\b(?:under|below|beneath|lower than|less than|up to)\b"
_ABOVE = r"\b(?:over|above|higher than|more than|beyond)\b"
_SHELF = ((r"\b(?:highs|treble|top end|high end|high frequencies)\b", "high_shelf", 8000.0),
          (r"\b(?:lows|low end|bottom end|low frequencies|bass)\b", "low_shelf", 120.0),
          (r"\b(?:mids|midrange|middle)\b", "peak", 1000.0))


def equalize(c: Clause, st) -> str | None:
    hz = c.token_ids("hz")
    eq_word = c.search(r"\beq\b|\bequali[sz]\w*\b|\bhigh ?pass\w*\b|\blow ?pass\w*\b|\bfilter\w*\b")
    preset = next((name for pattern, name in _EQ_PRESETS if c.search(pattern)), None)
    if preset == "remove_rumble" and hz:  # "cut the rumble below 80 Hz": a high-pass there
        preset = None
    args: dict = {}
    if hz and c.search(r"\b(?:cut|remove|filter|roll off|get rid of|kill|lose|drop|high ?pass|"
                       r"low ?pass|take out)\b|\brumble\b"):
        cutoff = c.take(hz[0]).value
        everything = c.search(r"\b(?:everything|all|anything)\b")
        if c.search(r"\bhigh ?pass\w*\b") or c.search(_BELOW) or c.search(r"\brumble\b"):
            args["highpass_hz"] = cutoff
        elif c.search(r"\blow ?pass\w*\b") or c.search(_ABOVE):
            args["lowpass_hz"] = cutoff
        elif dbs := c.token_ids("db"):  # "cut 3 dB at 200 Hz"
            args["bands"] = [{"type": "peak", "frequency_hz": cutoff,
                              "gain_db": -abs(c.take(dbs[0]).value)}]
        else:
            raise Refusal("cut below or above that frequency? e.g. 'cut everything under 100 Hz'")
        if everything and "bands" not in args:
            args["slope_db_per_octave"] = 48
    elif hz and (dbs := c.token_ids("db")):  # "boost 3 dB at 4 kHz", "-2 dB at 300 Hz"
        gain = c.take(dbs[0]).value
        if c.search(r"\b(?:cut|reduce|lower|down|dip|less)\b"):
            gain = -abs(gain)
        args["bands"] = [{"type": "peak", "frequency_hz": c.take(hz[0]).value, "gain_db": gain}]
    elif (dbs := c.token_ids("db")) and (shelf := next(
            ((kind, f) for pattern, kind, f in _SHELF if c.search(pattern)), None)) and \
            c.search(r"\b(?:boost|cut|raise|lower|reduce|add|more|less|turn (?:up|down))\b"):
        gain = abs(c.take(dbs[0]).value)
        gain = -gain if c.search(r"\b(?:cut|lower|reduce|less|turn down)\b") else gain
        args["bands"] = [{"type": shelf[0], "frequency_hz": shelf[1], "gain_db": gain}]
    elif preset is not None and (preset != "remove_rumble" or c.search(
            r"\b(?:remove|cut|reduce|get rid of|less|take out|filter|kill)\b")):
        args["preset"] = preset
    elif eq_word:
        raise Refusal("which EQ? e.g. 'cut everything under 100 Hz', 'boost 3 dB at 4 kHz', "
                      "'brighten it', 'less boomy'")
    else:
        return None
    st.add(c, "equalize", args)
    return "equalize"


# ----------------------------------------------------------------------------- dynamics, hum


def compress(c: Clause, st) -> str | None:
    level_out = c.search(r"\blevel (?:out|off)\b|\beven (?:out|up)\b|\bmore (?:even|consistent)\b|"
                         r"\b(?:level|volume|loudness) (?:more )?(?:even|consistent)\b|\bleveler\b")
    if not (c.search(r"\bcompress\w*\b") or level_out) or c.search(r"\b(?:pauses?|gaps|silences?)\b"):
        return None
    args: dict = {}
    if level_out:
        args["preset"] = "level_voice"
    elif c.search(_LOT) or c.search(r"\bsquash\w*\b|\bhard\b"):
        args["preset"] = "heavy"
    elif c.search(_LITTLE):
        args["preset"] = "gentle"
    for i in c.token_ids("t"):  # "4:1" reads as a clock time
        if m := re.fullmatch(r"(\d+(?:\.\d+)?):1", c.phrase.quantities[i].text):
            c.take(i)
            args["ratio"] = float(m.group(1))
    if m := c.search(r"\bratio (?:of )?<n(\d+)>"):
        args["ratio"] = c.take(m.group(1)).value
    if m := c.search(r"\bthreshold (?:of |at )?<db(\d+)>|<db(\d+)> threshold"):
        args["threshold_db"] = -abs(c.take(m.group(1) or m.group(2)).value)
    st.add(c, "compress", args)
    return "compress"


def gate(c: Clause, st) -> str | None:
    if not c.search(r"\bgat(?:e|ed|ing)\b|\bnoise gate\b|\bsilence the (?:pauses|gaps)\b|"
                    r"\bmute the (?:pauses|gaps)\b"):
        return None
    args: dict = {}
    if c.search(r"\bsilence the\b|\bmute the\b|\bcompletely\b|\bfully\b"):
        args["reduction_db"] = 80.0
    elif dbs := c.token_ids("db"):
        args["reduction_db"] = abs(c.take(dbs[0]).value)
    st.add(c, "gate", args)
    return "gate"


def deess(c: Clause, st) -> str | None:
    if not c.search(r"\bde ?ess\w*\b|\bsibilan\w*\b|\b(?:harsh|sharp|piercing|hissy) (?:s|esses|"
                    r"s sounds)\b|\bthe s sounds\b|\besses\b"):
        return None
    args: dict = {}
    if c.search(_LOT):
        args["max_reduction_db"] = 16.0
        args["threshold_db"] = -12.0
    elif c.search(_LITTLE):
        args["max_reduction_db"] = 6.0
    st.add(c, "deess", args)
    return "deess"


def hum(c: Clause, st) -> str | None:
    if not c.search(r"\bhum+\w*\b|\bde ?hum\b|\bmains\b|\bbuzz\w*\b|\bground loop\b") or \
            c.token_ids("db"):  # "reduce the hum by 12 dB": an amount is denoise's
        return None
    args: dict = {}
    for i in c.token_ids("hz"):
        value = c.take(i).value
        if not 40 <= value <= 70:
            raise Refusal(f"mains hum is at 50 or 60 Hz, not {value:g} Hz; to cut that frequency "
                          f"use an EQ ('cut 3 dB at {value:g} Hz')")
        args["fundamental_hz"] = value
    st.add(c, "remove_hum", args)
    return "remove_hum"


# ----------------------------------------------------------------------------- rooms


_REMOVE = r"\b(?:remove|take|taking|get rid of|reduce|less|lose|kill|cut|strip|clean|fix|minimi[sz]e|lower|without|out)\b"
_HALLS = ((r"\bbig (?:concert )?hall\b|\bhuge hall\b|\barena\b|\bconcert hall\b", "big_hall"),
          (r"\bcathedral\b|\bchurch\b", "cathedral"),
          (r"\bsmall room\b|\bbathroom\b|\bbooth\b|\bclosets?\b", "small_room"),
          (r"\bstudio\b", "studio"), (r"\bplate\b", "plate"), (r"\bhall\b", "hall"),
          (r"\broom\b", "room"))


def reverb(c: Clause, st) -> str | None:
    reverb_word = c.search(r"\breverb\w*\b|\becho\w*\b|\broom\w*\b|\bambien\w*\b|\bbathroom\b|"
                           r"\bhall\b|\bcathedral\b|\bchurch\b|\badd (?:a |some )?delay\b")
    if not reverb_word:
        return None
    if c.search(r"\bsame room\b|\bmatch\w*\b.*\b(?:room|ambien\w*|reverb)\b"):
        return None  # match_room
    echo = c.search(r"\becho\w*\b|\bdelay\b") and not c.search(r"\breverb\w*\b")
    adding = c.search(r"\becho(?:es)? every\b") or c.search(
        r"\b(?:add\w*|put|give|more|sound like (?:it was in )?(?:a|an)|like (?:a|an|in a)|apply|with)\b|"
        r"\b(?:like|as if|as though)\b.*\b(?:in|inside|at) (?:a|an|the)\b") and not c.search(_REMOVE)
    if not adding and c.search(_REMOVE) or c.search(r"\bde ?reverb\w*\b|\bechoey\b|\btoo "
                                                     r"(?:roomy|reverberant|echoey|boomy room)\b"):
        args: dict = {}
        if c.search(_LITTLE):
            args["strength"] = "light"
        elif c.search(_LOT) or c.search(r"\bcompletely\b|\ball\b"):
            args["strength"] = "strong"
        st.add(c, "dereverb", args)
        return "dereverb"
    if not adding:
        return None
    if echo:
        args = {}
        if ts := c.token_ids("t"):
            args["delay_ms"] = round(c.take(ts[0]).value * 1000, 3)
        if c.search(r"\bslap ?back\b"):
            args.update(delay_ms=110.0, feedback=0.0)
        if c.search(_LITTLE):
            args["wet_db"] = -16.0
        elif c.search(_LOT):
            args["wet_db"] = -6.0
        st.add(c, "add_echo", args)
        st.duration_s = None
        return "add_echo"
    args = {}
    preset = next((name for pattern, name in _HALLS if c.search(pattern)), None)
    if preset is not None:
        args["preset"] = preset
    if ts := c.token_ids("t"):
        args["decay_s"] = c.take(ts[0]).value
    if c.search(_LITTLE):
        args["wet_db"] = -18.0
    elif c.search(_LOT):
        args["wet_db"] = -6.0
    st.add(c, "add_reverb", args)
    st.duration_s = None
    return "add_reverb"


_UNAPPLY = (r"^(?:remove|undo|take off|take out|get rid of|disable|turn off|bypass|lose|strip) "
            r"(?:the |that |this |my |all the )?(?:noise gate|gate|gating|compression|compressor|"
            r"limiter|limiting|eq|equali[sz]ation|equali[sz]er)\b")


def unapply(c: Clause, st) -> str | None:
    """'remove the noise gate', 'undo the compression': not a request to apply one."""
    if c.search(_UNAPPLY):
        raise Refusal("a gate, compressor or EQ already in the recording cannot be taken out of it; "
                      "'undo' takes back the last edit made here")
    return None


def match_room(c: Clause, st) -> str | None:
    patterns = (
        rf"\bmake {_NAME} sound (?:like|as if|as though) (?:they|he|she|it|we|you) (?:was|were|"
        rf"are|is|had been|recorded)(?: recorded)? in the same (?:room|space|place) as {_NAME}\b",
        rf"\b(?:put|place) {_NAME} in the same room as {_NAME}\b",
        rf"\bmatch the (?:room|ambien\w*|reverb\w*|acoustics?|space) of {_NAME} to {_NAME}\b",
        rf"\bmake {_NAME} sound like (?:it was in |they were in )?{_NAME}'?s? room\b",
    )
    for pattern in patterns:
        if m := c.search(pattern):
            st.add(c, "match_room", {"track": m.group(1), "reference": m.group(2)})
            return "match_room"
    if c.search(r"\bsame room\b|\bmatch\w* the (?:room|ambien\w*|acoustics)\b"):
        raise Refusal("say which track should take whose room, e.g. 'make the guest sound like "
                      "they were in the same room as the host' (/tracks lists them)")
    return None


_WITHIN = r"\b(?:between|middle|within|inside|throughout|all|every)\b"


def trim_silence(c: Clause, st) -> str | None:
    silence = c.search(r"\b(?:silence|silent parts?|dead air|quiet|nothing)\b")
    ends = c.search(r"\b(?:start|beginning|front|end|ending|both ends|ends|leading|trailing|"
                    r"before|after)\b")
    verb = c.search(r"\b(?:trim|cut|remove|delete|strip|get rid of|drop|lose|take out|chop)\b")
    if c.token_ids("t n") or not (silence and verb):
        return None
    if not ends and (not c.search(r"\bsilence\b") or c.search(_WITHIN)):
        return None  # "cut the dead air", "all the silence": the pauses inside (remove_disfluencies)
    start = c.search(r"\b(?:start|beginning|front|leading|before)\b")
    end = c.search(r"\b(?:end|ending|trailing|after)\b")
    args: dict = {}
    if start and not end:
        args["where"] = "start"
    elif end and not start:
        args["where"] = "end"
    st.add(c, "trim_silence", args)
    st.duration_s = None
    return "trim_silence"


RULES = (unapply, match_room, trim_silence, pitch, tempo, hum, deess, gate, compress, reverb, equalize)
