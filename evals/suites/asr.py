"""Suite ``asr``: word error rate, repetition loops and speed of the speech recognisers.

Backends, loaded as ``echo-agent transcribe`` loads them (:mod:`tools.transcribe`,
:mod:`tools.models.whisper`): ``whisper`` is the default model (``auto``, never downloading: Whisper
base from the ``models`` extra on this machine) with its filler prompt, once with the loop guard off
(``loop_guard=False``: one decode, bad clips only counted) and once with it on (the default);
``pocketsphinx`` is the offline fallback. Every recording is decoded once per configuration (the
transcripts are kept in memory for the run).

Measured per set (:mod:`evals.suites.asr_data`: speech-reference, disfluency dev / held-out,
general, and a long noisy recording assembled from all of them):

- ``wer`` and ``S/D/I/N`` (substitutions, deletions, insertions, reference words), verbatim and with
  fillers removed from both sides (:mod:`evals.suites.asr_text`); summed over the set;
- loops: ``clips`` decoded by Whisper (Silero VAD clips, up to 29.5 s) and how many of them the
  project's detector (:func:`tools.algorithms.transcript_loops.problem`, loops and prompt echoes)
  and the independent check (:func:`evals.suites.asr_text.simple_loop`) flag, after the guard when
  it is on; then the same over whole transcripts, and ``beyond_ref``: transcripts the independent
  check flags where the reference is clean or repeats less (a verbatim "uh uh uh uh uh uh" is no
  loop; where the reference marks ``[laughter]``, a written-out laugh "ha, ha, ha" counts as one
  laugh, :func:`evals.suites.asr_text.fold_laughter`);
- ``rtf``: decoding wall time / audio duration, with ``load1``, the mean 1-minute load average of
  the machine sampled before each decode (2 shared cores: other jobs run beside this one).

The long recording's WER counts the words whose middle falls in a clip with a reference, against
those clips' references joined in order (the LibriSpeech clips have no text).
Set ``ECHO_EVAL_ASR_LONG_SPHINX=1`` to decode the long recording with pocketsphinx too (slow).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from evals.runner import SuiteResult
from evals.suites import asr_data, asr_text
from tools.algorithms import transcript_loops as loops
from tools.core.errors import SetupError
from tools.models.whisper_decode import FILLER_PROMPT

LONG_SEED = 11
LONG_MIN_S, QUICK_LONG_MIN_S = 600.0, 120.0
CONFIGS = ("whisper guard off", "whisper guard on", "pocketsphinx")


@dataclass
class Decoded:
    """One transcription: the text, timed words, each decoded clip's words before and after the
    guard (Whisper only), the guard's counts, wall time and load."""

    text: str
    words: list[tuple[str, float, float]]
    duration_s: float
    wall_s: float
    load1: float
    clips_before: list[str] = field(default_factory=list)
    clips_after: list[str] = field(default_factory=list)
    guard: dict[str, int] = field(default_factory=dict)


def _clip_text(segments) -> str:
    words = [w.text for s in segments for w in s.words]
    return " ".join(words) if words else " ".join(s.text for s in segments)


def _recording_whisper(loop_guard: bool):
    """A :class:`~tools.models.whisper_decode.WhisperTranscriber` for the default model, as
    ``echo-agent transcribe`` resolves it, that also writes down every decoded clip's words before
    and after the guard (its behaviour is unchanged: it calls the guard and returns its result)."""
    from tools.models import whisper

    class RecordingWhisper(whisper.WhisperTranscriber):
        clip_log: list[tuple[str, str]]

        def _guard(self, samples, clips, per_clip, language, counts):
            before = [_clip_text(segs) for segs in per_clip]
            after = super()._guard(samples, clips, per_clip, language, counts)
            self.clip_log.extend(zip(before, (_clip_text(s) for s in after), strict=True))
            return after

    path = whisper.resolve_model(whisper.DEFAULT_MODEL, download=False)
    model = RecordingWhisper(path, label=whisper.label_for(whisper.DEFAULT_MODEL, path),
                             loop_guard=loop_guard)
    model.clip_log = []
    return model


def load_backends(notes: list[str]) -> dict[str, object]:
    from tools.transcribe import pick_transcriber

    backends: dict[str, object] = {}
    try:
        backends["whisper guard off"] = _recording_whisper(False)
        backends["whisper guard on"] = _recording_whisper(True)
        notes.append(f"whisper: {backends['whisper guard on'].name} from "
                     f"{backends['whisper guard on'].path} ({backends['whisper guard on'].compute_type}, "
                     f"prompt {backends['whisper guard on'].initial_prompt!r})")
    except SetupError as exc:
        notes.append(f"whisper not measured: {str(exc)[:300]}")
    backends["pocketsphinx"] = pick_transcriber({}, backend="pocketsphinx")[0]
    return backends


def decode(transcriber, audio) -> Decoded:
    from tools.transcribe import transcribe

    log = getattr(transcriber, "clip_log", None)
    first = len(log) if log is not None else 0
    load1 = os.getloadavg()[0]
    start = time.perf_counter()
    transcript = transcribe(audio, transcriber=transcriber, language=None)
    wall_s = time.perf_counter() - start
    words = [(w.text, w.start_s, w.end_s) for w in transcript.words]
    text = transcript.text or " ".join(w[0] for w in words)
    clips = log[first:] if log is not None else []
    return Decoded(text, words, audio.duration_s, wall_s, load1, [c[0] for c in clips],
                   [c[1] for c in clips], dict(getattr(transcriber, "last_guard", {}) or {}))


# ----------------------------------------------------------------------------- rows


def _errors(pairs: list[tuple[str, str]]) -> tuple[asr_text.Errors, asr_text.Errors]:
    verbatim, plain = asr_text.Errors(), asr_text.Errors()
    for reference, hypothesis in pairs:
        v, p = asr_text.scores(reference, hypothesis)
        verbatim, plain = verbatim + v, plain + p
    return verbatim, plain


def _counts(e: asr_text.Errors) -> str:
    return f"{e.substitutions}/{e.deletions}/{e.insertions}/{e.words}"


def project_problem(text: str, prompt: str | None) -> bool:
    return loops.problem(text.split(), prompt) is not None


def loop_fields(decoded: list[Decoded], references: list[str | None], *, prompt: str | None,
                whisper: bool) -> dict:
    """Loop counts of a set (see the module docstring); clips after the guard where it ran."""
    out: dict = {}
    if whisper:
        clips = [c for d in decoded for c in (d.clips_after or [])]
        out["clips"] = len(clips)
        out["clip_loops"] = sum(project_problem(c, prompt) for c in clips)
        out["clip_loops_simple"] = sum(asr_text.simple_loop(asr_text.normalise(c), prompt)
                                       is not None for c in clips)
        guard = {k: sum(d.guard.get(k, 0) for d in decoded)
                 for k in ("flagged", "fixed_without_prompt", "fixed_by_fallback", "collapsed")}
        out["guard_first_pass_flagged"] = guard["flagged"]
        out["guard_fixed"] = (f"{guard['fixed_without_prompt']} no prompt / "
                              f"{guard['fixed_by_fallback']} fallback / {guard['collapsed']} "
                              "collapsed")
    out["transcripts"] = len(decoded)
    out["loops"] = sum(project_problem(" ".join(w[0] for w in d.words) or d.text, prompt)
                       for d in decoded)
    hyps = [asr_text.normalise(d.text) for d in decoded]
    out["loops_simple"] = sum(asr_text.simple_loop(h, prompt) is not None for h in hyps)
    scored = [(h, asr_text.normalise(r), "[laughter]" in r.lower())
              for h, r in zip(hyps, references, strict=True) if r]
    out["beyond_ref"] = (sum(asr_text.loops_beyond_reference(h, r, prompt, laughter=laughs)
                             for h, r, laughs in scored) if scored else "n/a")
    return out


def speed_fields(decoded: list[Decoded]) -> dict:
    audio_s = sum(d.duration_s for d in decoded)
    wall_s = sum(d.wall_s for d in decoded)
    return {"audio_s": round(audio_s, 1), "rtf": round(wall_s / audio_s, 3) if audio_s else "n/a",
            "load1": round(sum(d.load1 for d in decoded) / len(decoded), 2) if decoded else "n/a"}


def set_row(name: str, config: str, items: list[asr_data.Item], decoded: list[Decoded],
            prompt: str | None) -> dict:
    pairs = [(i.reference, d.text) for i, d in zip(items, decoded, strict=True) if i.reference]
    row: dict = {"set": name, "backend": config, "files": len(items)}
    if pairs:
        verbatim, plain = _errors(pairs)
        row.update(wer=round(verbatim.wer, 3), sdin=_counts(verbatim),
                   wer_no_fillers=round(plain.wer, 3), sdin_no_fillers=_counts(plain))
    else:
        row.update(wer="n/a", sdin="no reference", wer_no_fillers="n/a", sdin_no_fillers="")
    row.update(loop_fields(decoded, [i.reference for i in items], prompt=prompt,
                           whisper=config.startswith("whisper")))
    row.update(speed_fields(decoded))
    return row


def long_row(name: str, config: str, decoded: Decoded, placements: list[asr_data.Placement],
             prompt: str | None) -> dict:
    per_clip = asr_data.words_by_placement(decoded.words, placements)
    kept = [(p.reference, words) for p, words in zip(placements, per_clip, strict=True)
            if p.reference]
    reference = " ".join(r for r, _ in kept)
    hypothesis = " ".join(w for _, words in kept for w in words)
    verbatim, plain = asr_text.scores(reference, hypothesis)
    unscored = sum(len(words) for p, words in zip(placements, per_clip, strict=True)
                   if not p.reference)
    row: dict = {"set": name, "backend": config, "files": 1, "wer": round(verbatim.wer, 3),
                 "sdin": _counts(verbatim), "wer_no_fillers": round(plain.wer, 3),
                 "sdin_no_fillers": _counts(plain)}
    row.update(loop_fields([decoded], [reference], prompt=prompt,
                           whisper=config.startswith("whisper")))
    row.update(speed_fields([decoded]))
    row["unscored_words"] = unscored
    return row


# ----------------------------------------------------------------------------- the suite


def run(*, quick: bool = False) -> SuiteResult:
    """ASR: WER (verbatim / no fillers), loop rate with the guard off and on, RTF (Whisper, pocketsphinx)."""
    notes: list[str] = [f"normaliser: {asr_text.NORMALISER}; WER by jiwer; fillers by "
                        "tools.algorithms.transcript.filler_form"]
    sets = {"speech-reference": asr_data.speech_reference()}
    corpus = asr_data.disfluency(quick=quick)
    sets["disfluency-dev"] = [i for i in corpus if i.set == "disfluency-dev"]
    sets["disfluency-held-out"] = [i for i in corpus if i.set == "disfluency-held-out"]
    sets["general"] = asr_data.general(quick=quick)
    everything = [i for items in sets.values() for i in items]
    long_audio, placements, facts = asr_data.long_recording(
        everything, seed=LONG_SEED, min_duration_s=QUICK_LONG_MIN_S if quick else LONG_MIN_S)
    long_name = f"long noisy ({facts['duration_s'] / 60:.1f} min)"
    notes.append(f"{long_name}: {facts['clips']} corpus clips in seeded order (seed {LONG_SEED}), "
                 f"0.4-1.5 s pauses, noise/{facts['noise']} at {facts['snr_db']} dB SNR; built in "
                 "memory, never written to the repository")
    backends = load_backends(notes)
    prompt_of = {c: getattr(b, "initial_prompt", None) for c, b in backends.items()}
    rows: list[dict] = []
    decoded: dict[tuple[str, str], Decoded] = {}
    for config, transcriber in backends.items():
        for name, items in sets.items():
            for item in items:
                decoded[config, item.name] = decode(transcriber, item.audio)
            rows.append(set_row(name, config, items, [decoded[config, i.name] for i in items],
                                prompt_of[config]))
        if config.startswith("whisper") or os.environ.get("ECHO_EVAL_ASR_LONG_SPHINX"):
            decoded[config, "long"] = decode(transcriber, long_audio)
            rows.append(long_row(long_name, config, decoded[config, "long"], placements,
                                 prompt_of[config]))
        else:
            notes.append(f"{config}: long recording not decoded (set ECHO_EVAL_ASR_LONG_SPHINX=1)")
    rows.sort(key=lambda r: (list(sets).index(r["set"]) if r["set"] in sets else len(sets),
                             CONFIGS.index(r["backend"])))
    summary, ok = _summary(rows, decoded, notes)
    notes += [
        "sdin: substitutions/deletions/insertions/reference words; _no_fillers: fillers removed "
        "from both sides; speech-reference = jfk + each channel of stereo_diarization; general = "
        "LibriSpeech utterances (no transcript in the corpus: loops and speed only)",
        "dev = the disfluency files looked at while designing (evals.suites.disfluency.DEV_FILES); "
        "held-out = the others",
        "clip_loops / loops: the project's detector (repetition loops and prompt echoes); "
        "*_simple: the independent check (1-4 word n-gram x4+ in a row, one word > 60% of 10, or "
        "the whole prompt); clips are counted after the guard when it is on; "
        "guard_first_pass_flagged: clips the project's detector flagged before any re-decode",
        f"rtf: decode wall time / audio (model loading excluded) on {os.cpu_count()} shared cores; "
        "load1: mean 1-minute load average before each decode",
    ]
    return SuiteResult(name="asr", status="ok" if ok else "failed", rows=rows, summary=summary,
                       notes=notes)


def _summary(rows: list[dict], decoded: dict[tuple[str, str], Decoded],
             notes: list[str]) -> tuple[dict, bool]:
    """Headline numbers and the done-when check: no loop in any transcript with the guard on."""
    summary: dict = {}
    for config in ("whisper guard on", "pocketsphinx", "whisper guard off"):
        summary.update({f"wer {r['set']} / {config}": r["wer"] for r in rows
                        if r["backend"] == config})
    guarded = [r for r in rows if r["backend"] == "whisper guard on"]
    if not guarded:
        notes.insert(0, "done-when (no loop with the guard on): not measured, no Whisper")
        return summary, True
    for config in ("whisper guard off", "whisper guard on"):
        for r in (r for r in rows if r["backend"] == config):
            summary[f"loops {r['set']} / {config}"] = (
                f"clips {r['clip_loops']}/{r['clip_loops_simple']} of {r['clips']}, transcripts "
                f"{r['loops']}/{r['loops_simple']}/{r['beyond_ref']} of {r['transcripts']}")
    same = sum(decoded["whisper guard off", n].clips_before == decoded["whisper guard on", n].clips_before
               for c, n in decoded if c == "whisper guard on")
    total = sum(1 for c, _ in decoded if c == "whisper guard on")
    notes.append(f"first passes identical with the guard off and on (a determinism check): "
                 f"{same} of {total} recordings")
    for config in ("whisper guard off", "whisper guard on", "pocketsphinx"):
        runs = [d for (c, _), d in decoded.items() if c == config]
        if runs:
            audio_s, wall_s = sum(d.duration_s for d in runs), sum(d.wall_s for d in runs)
            summary[f"rtf {config} (all audio)"] = (
                f"{wall_s / audio_s:.3f} ({audio_s:.0f} s of audio, load1 "
                f"{sum(d.load1 for d in runs) / len(runs):.1f})")
    notes.extend(flagged_notes(decoded))
    bad = [r["set"] for r in guarded if r["loops"] or r["clip_loops"]
           or (r["beyond_ref"] not in (0, "n/a"))]
    ok = not bad
    notes.insert(0, "done-when (no transcript of the corpus speech or the long recording loops, "
                    "guard on; project detector and independent check beyond the reference): "
                    + ("met" if ok else f"NOT met in {', '.join(bad)}"))
    return summary, ok


def flagged_notes(decoded: dict[tuple[str, str], Decoded], limit_chars: int = 160) -> list[str]:
    """One line per Whisper clip that either check flags, before and after the guard."""
    out = []
    for (config, name), d in decoded.items():
        if not config.startswith("whisper"):
            continue
        for index, (before, after) in enumerate(zip(d.clips_before, d.clips_after, strict=True)):
            text = after if config.endswith("on") else before
            project = loops.problem(text.split(), FILLER_PROMPT)
            simple = asr_text.simple_loop(asr_text.normalise(text), FILLER_PROMPT)
            if project or simple:
                shown = text if len(text) <= limit_chars else text[:limit_chars] + " ..."
                out.append(f"flagged clip ({config}) {name} #{index}: project: {project or '-'}; "
                           f"independent: {simple or '-'}; text: {shown.strip()!r}")
    return out
