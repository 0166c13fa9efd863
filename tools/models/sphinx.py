"""pocketsphinx (CMU Sphinx 5): the offline speech engine whose en-us model ships inside the wheel.

Nothing to download, so it always works, but its free decoding is far less accurate than Whisper
(on jfk.flac it hears "and all my fellow america and not like your kind brain ...") and it rarely
hears fillers. Where it is strong is *forced alignment*: given the words, it finds when each was
said (:func:`align`). Both run at 16 kHz mono, 16-bit; times come in 10 ms frames.

Free decoding goes utterance by utterance over the speech regions found by Silero VAD (at most
:data:`MAX_UTTERANCE_S` each), so memory is bounded by one utterance. Alignment decodes the whole
audio against one grammar (the text as a chain of words with optional silences between them).
Words missing from the 134k-word CMU dictionary are pronounced from dictionary pieces ("aligner" =
"align" + "er") or a crude letter-to-sound guess, which is enough for the aligner to time them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version

import numpy as np

from tools.algorithms.transcript import Segment, Transcript, Word, normalise_timeline
from tools.algorithms.vad import VAD_RATE_HZ, mono_resampled, speech_activity
from tools.core.audio import Audio
from tools.core.errors import SetupError, ToolArgumentError, ToolError

SAMPLE_RATE_HZ = VAD_RATE_HZ
FRAMES_PER_S = 100
MAX_UTTERANCE_S = 20.0
NAME = "pocketsphinx"
ACCURACY_NOTE = ("transcribed offline with pocketsphinx, which is far less accurate than Whisper: "
                 "expect wrong words and missing fillers (word times are usable where words are "
                 "right); for an accurate transcript install a faster-whisper model")
_TOKEN = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_SENTENCE_END = re.compile(r"[.!?]['\")\]]*$")

# Letter-to-sound fallback for out-of-dictionary words (CMU phones, no stress): crude, but the
# aligner only needs a plausible duration and shape. Longest graphemes first.
_GRAPHEMES = {
    "tion": "SH AH N", "ign": "AY N", "igh": "AY", "kn": "N", "gn": "N", "sch": "S K", "tch": "CH", "ch": "CH", "sh": "SH", "th": "TH",
    "ph": "F", "ng": "NG", "ck": "K", "qu": "K W", "wh": "W", "ee": "IY", "ea": "IY", "oo": "UW",
    "ou": "AW", "ow": "OW", "ai": "EY", "ay": "EY", "oa": "OW", "oi": "OY", "oy": "OY", "ie": "IY",
    "au": "AO", "aw": "AO", "er": "ER", "ir": "ER", "ur": "ER", "ar": "AA R", "or": "AO R",
    "a": "AE", "b": "B", "c": "K", "d": "D", "e": "EH", "f": "F", "g": "G", "h": "HH", "i": "IH",
    "j": "JH", "k": "K", "l": "L", "m": "M", "n": "N", "o": "AA", "p": "P", "q": "K", "r": "R",
    "s": "S", "t": "T", "u": "AH", "v": "V", "w": "W", "x": "K S", "y": "IY", "z": "Z",
}
_DIGITS = ["Z IH R OW", "W AH N", "T UW", "TH R IY", "F AO R", "F AY V", "S IH K S", "S EH V AH N",
           "EY T", "N AY N"]


def model_path() -> str:
    """The folder of the en-us model inside the pocketsphinx package."""
    try:
        import pocketsphinx
    except ImportError as exc:
        raise SetupError(f"pocketsphinx is not installed ({exc}); install it: "
                         "pip install pocketsphinx") from None
    return pocketsphinx.get_model_path()


def package_version() -> str:
    try:
        return version("pocketsphinx")
    except PackageNotFoundError:
        return "unknown"


def new_decoder(**config):
    """A pocketsphinx Decoder with the bundled en-us model, quiet (``loglevel=FATAL``)."""
    model_path()  # raises SetupError when the package is missing
    from pocketsphinx import Decoder

    try:
        return Decoder(loglevel="FATAL", **config)
    except (RuntimeError, ValueError) as exc:
        raise SetupError(f"pocketsphinx could not load its en-us model from {model_path()} "
                         f"({exc}); reinstall it: pip install --force-reinstall pocketsphinx") from None


def _pcm16(samples: np.ndarray) -> bytes:
    """16-bit PCM with a little fixed-seed dither (2 LSB, about -84 dBFS): stretches of exact
    zeros (inserted silence) otherwise derail Sphinx's energy normalisation and the aligner."""
    dither = np.random.default_rng(0).standard_normal(samples.size) * 2.0
    pcm = np.clip(samples * 32767.0 + dither, -32768, 32767)
    return np.round(pcm).astype("<i2").tobytes()


def _decode(decoder, samples: np.ndarray) -> list:
    """Decode one utterance. The utterance is ended whatever happens inside (Ctrl-C raises
    KeyboardInterrupt as soon as ``process_raw`` returns), and one left open by an earlier
    interrupted decode is closed first: ``start_utt`` refuses to start inside an utterance."""
    try:
        decoder.start_utt()
    except RuntimeError:  # "Failed to start utterance processing": one is still open
        decoder.end_utt()
        decoder.start_utt()
    try:
        decoder.process_raw(_pcm16(samples), no_search=False, full_utt=True)
    finally:
        decoder.end_utt()
    return list(decoder.seg()) if decoder.hyp() is not None else []


def _is_word(token: str) -> bool:
    return bool(token) and token[0] not in "<[+"


def _base(token: str) -> str:
    return re.sub(r"\(\d+\)$", "", token)


def _probability(decoder, seg) -> float:
    return float(min(max(decoder.get_logmath().exp(seg.prob), 0.0), 1.0))


class SphinxTranscriber:
    """:class:`tools.algorithms.transcript.Transcriber` for pocketsphinx free decoding (English only)."""

    name = NAME

    def __init__(self) -> None:
        self._decoder = None
        self.identity = f"pocketsphinx {package_version()} en-us"

    def transcribe(self, audio, *, language: str | None = None,
                   progress: Callable[[float, float], None] | None = None) -> Transcript:
        """Transcribe ``audio`` (an Audio or a track view), one VAD utterance at a time."""
        if language not in (None, "en"):
            raise ToolArgumentError(f"language={language!r}: pocketsphinx only has an English "
                                    "(en) model here; use backend whisper for other languages")
        if self._decoder is None:
            self._decoder = new_decoder()
        regions = speech_activity(audio).regions(min_silence_s=1.0, pad_s=0.3,
                                                 max_region_s=MAX_UTTERANCE_S)
        segments = []
        for start_s, end_s in regions:
            samples = mono_resampled(audio, SAMPLE_RATE_HZ, start_s=start_s, end_s=end_s)
            words = tuple(
                Word(_base(seg.word),
                     min(round(start_s + seg.start_frame / FRAMES_PER_S, 3), end_s),
                     min(round(start_s + (seg.end_frame + 1) / FRAMES_PER_S, 3), end_s),
                     _probability(self._decoder, seg))
                for seg in _decode(self._decoder, samples) if _is_word(seg.word))
            if words:
                segments.append(Segment(" ".join(w.text for w in words), words[0].start_s,
                                        words[-1].end_s, words))
            if progress is not None:
                progress(end_s, audio.duration_s)
        return Transcript(normalise_timeline(segments, audio.duration_s), language="en",
                          backend=NAME, duration_s=audio.duration_s, notes=(ACCURACY_NOTE,))


# ----------------------------------------------------------------------------- alignment


def tokens(text: str) -> list[tuple[str, str]]:
    """``(original, key)`` pairs: whitespace-separated tokens and their dictionary form (lower
    case, outer punctuation dropped); tokens with no letters or digits are dropped."""
    out = []
    for original in text.split():
        found = _TOKEN.findall(original.lower().replace("’", "'"))
        if found:
            out.append((original, "".join(found)))
    return out


def guess_phones(word: str) -> str:
    """A crude letter-to-sound guess in CMU phones for a word the dictionary lacks."""
    if word.isdigit():
        return " ".join(_DIGITS[int(d)] for d in word)
    letters = re.sub(r"[^a-z]", "", word.lower())
    if len(letters) > 2 and letters.endswith("e") and letters[-2] not in "aeiou":
        letters = letters[:-1]  # silent final e
    phones, i = [], 0
    while i < len(letters):
        for size in (4, 3, 2, 1):
            chunk = letters[i:i + size]
            if len(chunk) == size and chunk in _GRAPHEMES:
                if not phones or phones[-1] != _GRAPHEMES[chunk]:  # double letters: one phone
                    phones.append(_GRAPHEMES[chunk])
                i += size
                break
        else:
            i += 1
    return " ".join(phones) or "AH"


def pronounce(decoder, word: str) -> str:
    """CMU phones for ``word``: the dictionary's, else dictionary pieces ("aligner" = "align" +
    "er"), else :func:`guess_phones`."""
    known = decoder.lookup_word(word)
    if known:
        return known
    for cut in range(len(word) - 1, 2, -1):
        head = decoder.lookup_word(word[:cut])
        if head:
            return f"{head} {pronounce(decoder, word[cut:]) if len(word) - cut > 2 else guess_phones(word[cut:])}"
    return guess_phones(word)


def _prepare(decoder, pairs: list[tuple[str, str]]) -> None:
    for _, key in pairs:
        if decoder.lookup_word(key) is None:
            decoder.add_word(key, pronounce(decoder, key), True)
    decoder.set_align_text(" ".join(key for _, key in pairs))


def align(audio: Audio, text: str, *, decoder=None) -> Transcript:
    """Forced alignment: when each word of ``text`` is said in ``audio`` (any rate, mixed to mono).

    Returns a Transcript whose words are the tokens of ``text`` (punctuation kept) with times, one
    segment per sentence. Raises :class:`ToolError` when the text cannot be matched to the audio.
    """
    pairs = tokens(text)
    if not pairs:
        raise ToolArgumentError("text has no words to align")
    decoder = decoder or new_decoder(lm=None)
    samples = mono_resampled(audio, SAMPLE_RATE_HZ)
    _prepare(decoder, pairs)
    found = [seg for seg in _decode(decoder, samples) if _is_word(seg.word)]
    if len(found) != len(pairs):  # the beam lost the path: retry once with wide beams
        wide = new_decoder(lm=None, beam=1e-80, wbeam=1e-60, pbeam=1e-80)
        _prepare(wide, pairs)
        found = [seg for seg in _decode(wide, samples) if _is_word(seg.word)]
    if len(found) != len(pairs):
        raise ToolError(f"could not align the {len(pairs)} words of the text to the audio "
                        f"({audio.duration_s:.1f} s); is it the text that is spoken?")
    words = [Word(original, round(seg.start_frame / FRAMES_PER_S, 3),
                  min(round((seg.end_frame + 1) / FRAMES_PER_S, 3), audio.duration_s),
                  _probability(decoder, seg))
             for (original, _), seg in zip(pairs, found, strict=True)]
    return Transcript(normalise_timeline(_sentences(words), audio.duration_s), language="en",
                      backend=f"{NAME}-align",
                      duration_s=audio.duration_s,
                      notes=("word times from pocketsphinx forced alignment of the given text",))


def _sentences(words: list[Word]) -> tuple[Segment, ...]:
    segments, current = [], []
    for word in words:
        current.append(word)
        if _SENTENCE_END.search(word.text):
            segments.append(current)
            current = []
    if current:
        segments.append(current)
    return tuple(Segment(" ".join(w.text for w in group), group[0].start_s, group[-1].end_s,
                         tuple(group)) for group in segments)
