"""Offline planner rules for the speech, noise, music and repair tools.

Each rule reads one clause (:class:`agent.phrases.Clause`) and either plans calls on the planner's
state (``st.add``), returns None (not for this rule), or raises :class:`Refusal` with the reason. The
planner (:mod:`agent.planner`) tries these rules before its basic edit rules.
"""

from __future__ import annotations

import re

from agent.phrases import Clause, Refusal
from agent.targets import parse_target

FILLER_WORDS = {"um", "umm", "uh", "uhm", "er", "erm", "ah", "hmm", "mm", "eh"}
STEMS = {"vocals", "drums", "bass", "other", "guitar", "piano"}

EXAMPLES: dict[str, tuple[str, ...]] = {
    "transcribe": ("transcribe this", "make subtitles"),
    "locate": ("find the word 'budget'", "where are the long pauses?", "find the clicks"),
    "remove_disfluencies": ("remove the ums", "remove the second 'um'", "shorten the pauses",
                            "remove filler words and repetitions"),
    "denoise": ("denoise this", "clean up the hiss", "reduce the background noise a little"),
    "separate": ("extract the vocals", "give me the drums alone", "split it into stems"),
    "remove_music_bed": ("remove the background music", "take the music out from under the voice",
                         "get rid of the music bed"),
    "remix": ("make a karaoke version", "make an acapella"),
    "duck": ("turn the music down 10 dB under the speech",),
    "match_loudness": ("make guest as loud as host",),
    "match_eq": ("make guest sound like host",),
    "inpaint_gap": ("fill the gap from 0:04.20 to 0:04.25", "repair 1.5s-1.6s"),
    "declick": ("remove the clicks", "declick it gently"),
    "repair_dropouts": ("fix the dropout at 0:04", "repair the dropouts"),
    "declip": ("repair the clipping", "fix the distortion"),
    "reduce_breaths": ("reduce the breaths", "remove the breaths"),
}


_REMOVE = r"\b(?:remove|cut|delete|drop|strip|get rid of|take out|lose|kill|edit out|clean out)\b"
# 'take the drums out', 'without the vocals' ('cut the bass' is an EQ, read by the toolbox rules)
_REMOVE_STEM = (r"\b(?:remove|without|mute|lose|get rid of|take out|strip(?: out)?|kill|eliminate)\b|"
                r"\btake\b.*\bout\b")
_NOISE = (r"\b(?:noise|noisy|hiss|hissing|hum|humming|buzz|buzzing|denoise|de noise|static|rumble|"
          r"fan noise|background sound|air ?con\w*)\b")


def _amount_db(c: Clause, *, little: float, lot: float) -> float | None:
    """An explicit 'N dB' (read), 'a little' or 'a lot' (named values), else None."""
    if dbs := c.token_ids("db"):
        return abs(c.take(dbs[0]).value)
    if c.search(r"\b(?:a (?:little|bit|touch|tad)|slightly|gently|lightly|subtly|a little bit)\b"):
        return little
    if c.search(r"\b(?:a lot|heavily|strongly|aggressively|as much as possible|completely|all of)\b"):
        return lot
    return None


def transcribe(c: Clause, st) -> str | None:
    if not c.search(r"\btranscri\w*|\bsubtitles?\b|\bcaptions?\b|\bwhat (?:does|do|did) "
                    r"(?:it|they|he|she|the \w+) say\b|\bwrite down what\b"):
        return None
    st.add(c, "transcribe", {})
    return "transcribe"


_LOCATE_KINDS = (
    (r"\b(?:long )?pauses?\b|\bgaps?\b|\bdead air\b", "pauses"),
    (r"\bsilen(?:ce|t)\b", "silence"),
    (r"\bbreath\w*\b", "breaths"),
    (r"\bclicks?\b|\bpops?\b", "clicks"),
    (r"\bclip\w*\b|\bdistort\w*\b", "clipping"),
    (r"\bfillers?\b|\bums?\b|\buhs?\b", "fillers"),
    (r"\brepe(?:at|ti)\w*\b|\bstutter\w*\b", "repeats"),
    (r"\bno(?:n| )speech\b|\bwithout speech\b|\bmusic\b", "non_speech"),
    (r"\bspeech\b|\btalking\b|\bspeaking\b", "speech"),
)


def locate(c: Clause, st) -> str | None:
    if not c.search(r"^(?:find|locate|show(?: me)?|where(?:'s| is| are| does| do)?|when does|"
                    r"list|mark|look for|search for|is there|are there|is it)\b"):
        return None
    target = parse_target(Clause(c.text, c.phrase))
    args: dict = {}
    if target and target.text and target.text not in FILLER_WORDS:
        args = {"what": "phrase" if " " in target.text else "word", "text": target.text}
        for q in c.token_ids("q"):
            c.take(q)
    else:
        for pattern, what in _LOCATE_KINDS:
            if c.search(pattern):
                args = {"what": what}
                break
    if not args:
        return None
    if target and target.occurrence is not None:
        args["occurrence"] = target.occurrence
    if target and target.near_s is not None:
        args["near_s"] = target.near_s
    for t in c.token_ids("t"):
        seconds = c.take(t).value
        if args["what"] in ("pauses", "silence", "non_speech") and c.search(r"\b(?:longer|more) than\b"):
            args["min_pause_s"] = seconds
        else:
            args.setdefault("near_s", seconds)
    st.add(c, "locate", args)
    return "locate"


def disfluencies(c: Clause, st) -> str | None:
    target = parse_target(Clause(c.text, c.phrase))
    pauses = c.search(r"\b(?:pauses?|gaps|dead air|silences|(?:quiet|silent) parts)\b|\b(?:all|every)\b.*\bsilence\b|"
                      r"\bsilence\b.*\b(?:between|middle|within|inside|throughout)\b")
    kinds: list[str] = []
    args: dict = {}
    if target and target.text and target.text.lower() in FILLER_WORDS and c.search(_REMOVE):
        args["word"] = "um" if target.text.startswith("um") else target.text
        kinds.append("filler")
        if target.occurrence is not None:
            args["occurrence"] = target.occurrence
        elif target.near_s is not None:
            raise Refusal("say which one by its number ('the second um'); 'near a time' works "
                          "with 'find the um near 1:23'")
        for q in c.token_ids("q t"):
            c.take(q)
    if c.search(r"\bfillers?\b|\bfiller words\b|\bums\b|\buhs\b|\bums and uhs\b|\bhesitations?\b"):
        kinds.append("filler")
    if c.search(r"\brepe(?:at|ti)\w*\b|\bstutter\w*\b|\bdouble words\b"):
        kinds.append("repetition")
    if c.search(r"\bfalse starts?\b|\bcut[- ]off words\b"):
        kinds.append("false_start")
    if c.search(r"\byou know\b|\bi mean\b|\blikes\b|\bsort of\b|\bkind of\b"):
        kinds.append("phrase")
        args["level"] = "aggressive"
    if pauses and c.search(r"\b(?:shorten|tighten|trim|reduce|remove|cut|shrink|compress|"
                           r"get rid of|take out|delete|drop|lose|kill)\b"):
        kinds.append("pause")
        if c.search(r"\btighten\b"):
            args["level"] = "aggressive"
        times = c.token_ids("t")
        if times and c.search(r"\b(?:longer|more) than\b"):
            args["max_pause_s"] = c.take(times[0]).value
    if c.search(r"\bdisfluenc\w*\b|\bclean up (?:the |this |my )?(?:speech|interview|podcast|"
                r"episode|conversation|talk|recording)\b"):
        args.setdefault("level", "normal")
    elif not kinds:
        return None
    if kinds:
        args["kinds"] = sorted(set(kinds))
    st.add(c, "remove_disfluencies", args)
    st.duration_s = None  # how much is removed is known only once it has run
    return "remove_disfluencies"


def denoise(c: Clause, st) -> str | None:
    if not c.search(_NOISE) and not c.search(r"\bclean (?:it |this |that )?up\b$"):
        return None
    args: dict = {}
    limit = _amount_db(c, little=8.0, lot=50.0)
    if limit is not None:
        args["attenuation_limit_db"] = min(max(limit, 3.0), 100.0)
    st.add(c, "denoise", args)
    return "denoise"


def separate(c: Clause, st) -> str | None:
    target = parse_target(Clause(c.text, c.phrase))
    stem = target.stem if target else None
    removal = bool(c.search(_REMOVE_STEM)) and bool(stem or c.search(r"\b(?:voice|singing)\b"))
    if removal and stem not in (None, "vocals", "accompaniment"):
        return _remove_stem(c, st, stem)
    acapella = (removal and stem == "accompaniment"
                or c.search(r"\ba ?cap+ell?a\b|\bvocals? only\b|\bonly (?:the )?vocals?\b"))
    karaoke = not acapella and (removal or c.search(r"\bkaraoke\b|\binstrumental\b|\bminus one\b|"
                                                    r"\bbacking track\b"))
    stems = c.search(r"\b(?:stems|split (?:it |this )?(?:in)?to (?:its )?(?:parts|instruments))\b")
    if karaoke or acapella:
        st.add(c, "separate", {"two_stems": "vocals"})
        st.add(c, "remix", {"preset": "karaoke" if karaoke else "acapella"})
        return "separate"
    if stems:
        st.add(c, "separate", {})
        return "separate"
    if not stem and c.search(r"\b(?:extract|isolate|separate|pull out|solo|keep only|only)\b") \
            and c.search(r"\b(?:voices?|dialog(?:ue)?|speech)\b"):
        stem = "vocals"  # 'isolate the voice', 'extract the dialogue': the voice from the music
    if stem and c.search(r"\b(?:extract|isolate|separate|give me|pull out|get|keep|solo|just|only|"
                         r"alone|split)\b"):
        st.add(c, "separate", _separate_args(stem))
        return "separate"
    return None


def _separate_args(stem: str) -> dict:
    if stem not in STEMS:
        raise Refusal(f"the stems are {', '.join(sorted(STEMS))}; '{stem}' is not one of them")
    return {"two_stems": stem, **({"model": "htdemucs_6s"} if stem in ("guitar", "piano") else {})}


def _remove_stem(c: Clause, st, stem: str) -> str:
    """'take the drums out': the stem separated from the rest, and the rest made the track."""
    st.add(c, "separate", _separate_args(stem))
    st.add(c, "remix", {"tracks": [{"track": f"no_{stem}"}], "output": f"without_{stem}"})
    return "separate"


def music_bed(c: Clause, st) -> str | None:
    """'remove the background music': music under speech, removed only where it plays."""
    music = r"(?:the )?(?:background music|music bed|bed music|backing music|music)"
    verb = r"\b(?:remove|strip|get rid of|take out|lose|kill|clean out|filter out|suppress)\b"
    if not (c.search(verb + r".*\b" + music + r"\b") or c.search(r"\btake " + music + r" out\b")):
        return None
    if c.search(r"\d|\b(?:start|end|beginning|intro|outro|first|last|between|from)\b(?! under)"):
        return None  # a stretch of the track: the edit rules (cut, trim) read it
    st.add(c, "remove_music_bed", {})
    return "remove_music_bed"


def duck(c: Clause, st) -> str | None:
    if not (c.search(r"\bduck\w*\b") or (
            c.search(r"\bmusic\b|\bbackground\b|\bbed\b") and c.search(r"\b(?:under|while|during|"
                                                                         r"behind|when)\b.*\b(?:speech|voice|talking|speaking|vocals?|speaker)\b"))):
        return None
    depth = _amount_db(c, little=6.0, lot=20.0)
    args = {"speech_track": "vocals", "track": "no_vocals"}
    if depth is not None:
        args["depth_db"] = depth
    # one mixed file: split voice from music, duck the music under the voice, mix back together
    st.add(c, "separate", {"two_stems": "vocals"})
    st.add(c, "duck", args)
    st.add(c, "remix", {"tracks": [{"track": "vocals"}, {"track": "no_vocals"}], "output": "ducked"})
    return "duck"


_NAME = r"(?!(?:it|this|that|them|me|us|him|her|a|an|the|my|our)\b)([a-z][a-z0-9_.-]*)"


def match(c: Clause, st) -> str | None:
    if m := re.search(rf"\bmake {_NAME} sound (?:like|as) {_NAME}\b", c.text):
        st.add(c, "match_eq", {"track": m.group(1), "reference": m.group(2)})
        st.add(c, "match_loudness", {"tracks": [m.group(1)], "reference": m.group(2)})
        return "match_eq"
    if m := re.search(rf"\bmake {_NAME} as loud as {_NAME}\b", c.text):
        st.add(c, "match_loudness", {"tracks": [m.group(1)], "reference": m.group(2)})
        return "match_loudness"
    if c.search(r"\bsound (?:alike|the same)\b|\bsame (?:tone|volume|loudness)\b|\bequally loud\b"):
        raise Refusal("say which tracks, e.g. 'make guest sound like host' or 'make guest as loud as "
                      "host' (/tracks lists them)")
    return None


def repair(c: Clause, st) -> str | None:
    if c.search(r"^(?:find|locate|show|where|when|list|mark|look for|search for|is there|are there|is it)\b"):
        return None
    verb = c.search(r"\b(?:fix|repair|remove|restore|reduce|lower|soften|get rid of|clean|take out|"
                    r"declick|de ?click|declip|de ?clip|fill|inpaint|patch|tame|cut)\w*\b")
    if not verb:
        return None
    if c.search(r"\bdropouts?\b|\bdrop ?outs?\b|\bglitch\w*\b"):
        args = {}
        for t in c.token_ids("t"):  # the tool finds every dropout; a time says where one was heard
            args.setdefault("near_s", c.take(t).value)
        st.add(c, "repair_dropouts", args)
        return "repair_dropouts"
    if c.search(r"\bde ?clip\w*\b|\bclipp\w*\b|\bclipped\b|\bdistort\w*\b"):
        st.add(c, "declip", {})
        return "declip"
    if c.search(r"\bde ?click\w*\b|\bclicks?\b|\bpops?\b|\bcrackl\w*\b|\bmouth (?:noise|clicks)\b"):
        args = {}
        if c.search(r"\b(?:gently|a little|slightly|lightly|only the (?:loud|obvious))\b|"
                    r"\b(?:low|lower|less) sensitiv\w*|\bless sensitive(?:ly)?\b"):
            args["sensitivity"] = 0.25
        elif c.search(r"\b(?:aggressively|a lot|all of them|every|thoroughly)\b|"
                      r"\b(?:high|higher|more|max\w*) sensitiv\w*|\bmore sensitive(?:ly)?\b"):
            args["sensitivity"] = 0.8
        st.add(c, "declick", args)
        return "declick"
    if c.search(r"\bbreath\w*\b"):
        args = {}
        if c.search(r"\b(?:remove|get rid of|take out|cut)\b"):
            args["remove"] = True
        elif (limit := _amount_db(c, little=6.0, lot=20.0)) is not None:
            args["reduction_db"] = limit
        st.add(c, "reduce_breaths", args)
        return "reduce_breaths"
    times = c.token_ids("t") + c.token_ids("n")
    if c.search(r"\b(?:fill|inpaint|patch|repair|restore|fix)\b") and len(times) == 2 and (
            c.search(r"\b(?:gap|hole|dropout|damage\w*|span|section|bit|from|between)\b|-|\bto\b")):
        start, end = sorted(c.take(t).value for t in times)
        st.add(c, "inpaint_gap", {"start_s": start, "end_s": end})
        return "inpaint_gap"
    return None


RULES = (transcribe, locate, repair, denoise, music_bed, separate, duck, match, disfluencies)
