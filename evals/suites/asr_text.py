"""Text side of the ``asr`` suite: normalisation, word error rate, and an independent loop check.

Normalisation is Whisper's own English normaliser (the ``whisper_normalizer`` package, a copy of
``whisper/normalizers/english.py``: lower case, no punctuation, contractions expanded, numbers and
amounts as digits on both sides so "twenty five" and "25" are equal, British spellings made
American, ``[laughter]`` / ``<unk>`` / ``<cutoff-...>`` tags dropped), with two changes:

- it drops "hmm", "mm", "mhm", "mmm", "uh" and "um" outright; the verbatim score must keep them,
  so :func:`normalise` turns that rule off, and :func:`without_fillers` removes fillers (from the
  text as written, before normalising) with the project's own list instead (:func:`tools.algorithms.transcript.filler_form`, which also knows
  "er", "ah", "hm" and stretched spellings such as "ummm");
- a run of two or more single letters is joined ("m f a" -> "mfa"), so a spelled-out acronym and
  Whisper's "MFA" are one word on both sides (the disfluency references spell "m f a"). Whisper's
  normaliser has no such rule; it is one line here, applied to both sides alike.

Without ``whisper_normalizer`` installed, :func:`normalise` falls back to a regular expression (tags,
lower case, punctuation; numbers not unified) and :data:`NORMALISER` says so.

WER comes from ``jiwer.process_words`` (Levenshtein alignment of word lists); counts are summed
over a set, so a set's WER is ``(S + D + I) / N`` over all its words, not a mean of ratios.

The independent loop check (:func:`simple_loop`) is deliberately unlike the project's detector
(:mod:`tools.algorithms.transcript_loops`): it works on the normalised words, asks for any 1-4 word
n-gram said :data:`SIMPLE_REPEATS` or more times in a row (fillers included: six "uh" count), or a
window of :data:`SIMPLE_WINDOW` words that one word fills more than :data:`SIMPLE_SHARE` of, and
counts a prompt echo when the whole normalised prompt appears as a run of words.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from tools.algorithms.transcript import filler_form

SIMPLE_MAX_NGRAM = 4
SIMPLE_REPEATS = 4
SIMPLE_WINDOW = 10
SIMPLE_SHARE = 0.6
_NEVER = r"(?!x)x"  # a pattern that matches nothing: turns off the normaliser's filler rule
_LETTER_RUN = re.compile(r"\b[a-z](?: [a-z]\b)+")
_WORD_CHAR = re.compile(r"[^\W_]")
_TAG = re.compile(r"[<\[][^>\]]*[>\]]")
_FALLBACK_DROP = re.compile(r"[^\w\s']+|_|(?<!\w)'|'(?!\w)")


def _whisper_normaliser():
    try:
        from whisper_normalizer.english import EnglishTextNormalizer
    except ImportError:
        return None
    normaliser = EnglishTextNormalizer()
    normaliser.ignore_patterns = _NEVER  # keep "uh", "um", "hmm": verbatim scoring needs them
    return normaliser


_NORMALISER = _whisper_normaliser()
NORMALISER = ("whisper_normalizer EnglishTextNormalizer (fillers kept)" if _NORMALISER is not None
              else "fallback: lower case, no punctuation or tags; numbers not unified "
                   "(install the evals extra for whisper_normalizer)")


def normalise(text: str) -> list[str]:
    """The words of ``text`` for scoring (see the module docstring)."""
    if _NORMALISER is not None:
        flat = _NORMALISER(text)
    else:  # the fallback: tags, case and punctuation only
        flat = _FALLBACK_DROP.sub(" ", _TAG.sub(" ", text.lower()))
    flat = _LETTER_RUN.sub(lambda m: m.group(0).replace(" ", ""), " ".join(flat.split()))
    return [w for w in flat.split() if _WORD_CHAR.search(w)]  # "Uh..." leaves a lone "."


def without_fillers(text: str) -> str:
    """``text`` minus its hesitations, word by word as written (so "Umm," goes and the backchannel
    "mm-hmm" stays), by the project's list (:func:`filler_form`); normalise afterwards."""
    return " ".join(w for w in text.split() if filler_form(w) is None)


@dataclass(frozen=True)
class Errors:
    """Word error counts: substitutions, deletions, insertions against ``words`` reference words."""

    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0
    words: int = 0

    def __add__(self, other: Errors) -> Errors:
        return Errors(self.substitutions + other.substitutions, self.deletions + other.deletions,
                      self.insertions + other.insertions, self.words + other.words)

    @property
    def wer(self) -> float:
        errors = self.substitutions + self.deletions + self.insertions
        return errors / self.words if self.words else float("nan") if errors else 0.0


def word_errors(reference: Sequence[str], hypothesis: Sequence[str]) -> Errors:
    """Alignment counts of two word lists (jiwer); an empty reference gives insertions only."""
    if not reference:
        return Errors(insertions=len(hypothesis))
    import jiwer

    out = jiwer.process_words(" ".join(reference), " ".join(hypothesis) if hypothesis else "")
    return Errors(out.substitutions, out.deletions, out.insertions, len(reference))


def scores(reference_text: str, hypothesis_text: str) -> tuple[Errors, Errors]:
    """``(verbatim, fillers removed)`` errors of one hypothesis against its reference."""
    verbatim = word_errors(normalise(reference_text), normalise(hypothesis_text))
    plain = word_errors(normalise(without_fillers(reference_text)),
                        normalise(without_fillers(hypothesis_text)))
    return verbatim, plain


# ----------------------------------------------------------------------------- independent loops


def longest_run(words: Sequence[str], max_ngram: int = SIMPLE_MAX_NGRAM) -> tuple[tuple[str, ...], int]:
    """The 1-``max_ngram`` word n-gram said most times in a row, and how many times (ties: the
    shorter n-gram); ``((), 0)`` for no words."""
    best: tuple[tuple[str, ...], int] = ((), 0)
    for size in range(1, max_ngram + 1):
        for start in range(0, len(words) - size + 1):
            gram = tuple(words[start:start + size])
            repeats = 1
            while tuple(words[start + repeats * size:start + (repeats + 1) * size]) == gram:
                repeats += 1
            if repeats > best[1]:
                best = (gram, repeats)
    return best


def dominant_share(words: Sequence[str], window: int = SIMPLE_WINDOW) -> float:
    """The largest share of any ``window``-word stretch that one word fills (0 when shorter)."""
    share = 0.0
    for start in range(0, len(words) - window + 1):
        top = Counter(words[start:start + window]).most_common(1)[0][1]
        share = max(share, top / window)
    return share


def prompt_echo(words: Sequence[str], prompt: str | None) -> bool:
    """The whole normalised ``prompt`` appears in ``words`` as a run."""
    wanted = normalise(prompt) if prompt else []
    if not wanted:
        return False
    size = len(wanted)
    return any(list(words[i:i + size]) == wanted for i in range(len(words) - size + 1))


def simple_loop(words: Sequence[str], prompt: str | None = None) -> str | None:
    """What the independent check finds in normalised ``words``, or None (module docstring)."""
    gram, repeats = longest_run(words)
    if repeats >= SIMPLE_REPEATS:
        return f"{' '.join(gram)!r} x{repeats}"
    share = dominant_share(words)
    if share > SIMPLE_SHARE:
        return f"one word fills {share:.0%} of {SIMPLE_WINDOW} words"
    if prompt_echo(words, prompt):
        return "prompt echo"
    return None


_LAUGH = re.compile(r"^(?:ha|he|hah|heh)+$")
LAUGH_TOKEN = "(laugh)"


def fold_laughter(words: Sequence[str]) -> list[str]:
    """Each run of written laugh syllables ("ha ha ha", "haha", "heh") as one :data:`LAUGH_TOKEN`:
    where the reference marks ``[laughter]``, Whisper writing the laugh out is no loop."""
    out: list[str] = []
    for word in words:
        if _LAUGH.match(word):
            if not out or out[-1] != LAUGH_TOKEN:
                out.append(LAUGH_TOKEN)
        else:
            out.append(word)
    return out


def loops_beyond_reference(hypothesis: Sequence[str], reference: Sequence[str],
                           prompt: str | None = None, *, laughter: bool = False) -> bool:
    """The hypothesis fails :func:`simple_loop` and the reference does not, or it repeats an n-gram
    more times in a row than the reference ever does (six "uh" written as six is no loop).
    ``laughter``: the reference marks laughter, so the hypothesis's laughs are folded first
    (:func:`fold_laughter`)."""
    if laughter:
        hypothesis = fold_laughter(hypothesis)
    if simple_loop(hypothesis, prompt) is None:
        return False
    if simple_loop(reference) is None:
        return True
    return longest_run(hypothesis)[1] > longest_run(reference)[1]
