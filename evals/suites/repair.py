"""Suite ``repair``: gap inpainting, de-click, dropouts and de-clip on real speech and music.

- Inpainting on speech, judged by PLCMOS v2 beside SNR and LSD (:func:`evals.suites.
  repair_inpaint.plcmos_rows`): gaps of 20, 50, 100, 150 and 250 ms, one per second of an 8 s
  excerpt, on a dev and a held-out split of speech-reference, disfluency and LibriSpeech files;
  every inpaint method, the one-shot LSAR baseline, silence, and the clean excerpt.
- Inpainting: gaps of 5, 10, 20, 50, 100 and 250 ms cut into *active* audio (the gap's RMS within
  20 dB of the loud parts) at random positions (fixed seed, at least 0.5 s from the ends, not
  overlapping), every channel. Short gaps (<= 50 ms): mean over gaps of the SNR inside the gap.
  Long gaps (100, 250 ms): mean log-spectral distance inside the gap
  (``evals.metrics.log_spectral_distance_db``, 32 ms frames, 8 ms hop) and the SNR. Methods:
  silence, linear interpolation between the two neighbouring samples, the one-shot least-squares
  AR baseline of ``../shared/FACTS.md`` re-measured on the same gaps (see :func:`lsar_baseline`),
  AR alone (``method="ar"``, up to 100 ms) and ``ours`` = ``inpaint_gap`` with
  ``method="auto"``. FACTS.md's own numbers for that baseline are shown beside them.
- De-click on speech at 8, 16, 22.05, 44.1 and 48 kHz (:mod:`evals.suites.repair_declick`):
  band-limited clicks 0.05 to 2 ms wide, 10 to 26 dB over the local RMS, in corpus speech
  resampled to each rate; dev and held-out splits; recall per width band, false detections per
  minute on the untouched speech, its SNR after declick.
- De-click on music: clicks added to the first channel of clean recordings (first 40 s), 2 per second at
  random positions: a 1-3 sample step, a damped 2-8 kHz oscillation of 0.2-1 ms, or a
  sharp-attack exponential pop of 0.5-2 ms, with a peak 10 to 26 dB above the local RMS (20 ms;
  at least -50 dBFS). Recall: added clicks with a detection within 1 ms; precision on the clicked
  copy; false detections per minute on the untouched recording. Default sensitivity.
- Dropouts: runs of exact zeros or of a held value (1-60 ms) written into active audio; found,
  filled (SNR inside), false detections on the untouched recording.
- De-clip: copies clipped at 1, 3, 6 and 10 dB below the peak (first 6 s, first channel); SNR of
  the clipped copy and of ``declip`` (clip level detected), over all samples and over the clipped
  ones.
  False alarms: ``declip`` (level detected) on every unclipped 44.1 kHz recording of general/
  joined into one 9.6-minute 16-bit track, each peak-normalised to -1 dBFS; nothing may change.

Done when (issue "Repair"): ours beats the baseline (re-measured, and FACTS.md's) by >= 3 dB SNR
at 10 and 20 ms and 2 dB at 50 ms on both speech and music; 250 ms gaps in music get a
log-spectral distance clearly below linear interpolation (we ask >= 3 dB lower); declick finds >= 95 % of added clicks with < 1 false
detection per minute of clean audio. Issue 15: the default method for each speech gap length is
the one with the best PLCMOS on dev, and it beats the one-shot LSAR baseline's PLCMOS at 50 ms
and above (dev and held-out).
"""

from __future__ import annotations

import time
from pathlib import Path

from evals.corpus import CorpusMissing, corpus_root
from evals.runner import SuiteResult
from evals.suites import repair_declick
from evals.suites.repair_declick import CLICK_DEV, CLICK_HELD_OUT, declick_speech_rows
from evals.suites.repair_faults import (
    declick_rows,
    declip_false_alarm_row,
    declip_rows,
    dropout_rows,
)
from evals.suites.repair_inpaint import (
    MAX_SECONDS,
    PLCMOS_GAPS_MS,
    SPEECH_DEV,
    SPEECH_HELD_OUT,
    inpainting_rows,
    lsar_baseline,
    plcmos_rows,
)
from tools.inpaint import DEFAULT_BY_GAP_S

SPEECH = ("speech-reference/jfk.flac", "noisy-speech-48k/clean_freesound_33711.wav",
          "general/198-209-0000.hq.ogg")
MUSIC = ("music-stems/mixture.wav", "general/147793__setuniman__sweet-waltz-0i-22mi.hq.ogg",
         "general/sorohanro_-_solo-trumpet-06.hq.ogg",
         "general/Hungarian_Dance_number_5_-_Allegro_in_F_sharp_minor_(string_orchestra).hq.ogg")
# de-click on speech: evals.suites.repair_declick (per rate, dev and held-out); music here
CLICK_FILES = {
    "music": ("music-stems/mixture.wav", "general/sorohanro_-_solo-trumpet-06.hq.ogg",
              "general/admiralbob77_-_Choice_-_Drum-bass.hq.ogg",
              "general/147793__setuniman__sweet-waltz-0i-22mi.hq.ogg",
              "general/Hungarian_Dance_number_5_-_Allegro_in_F_sharp_minor_(string_orchestra).hq.ogg",
              "general/442789__lena-orsa__happy-music-pistachio-ice-cream-ragtime.hq.ogg"),
}
# every unclipped 44.1 kHz recording of general/ (music, a bird, a whale; 9.6 min): declip's false
# alarms on one long 16-bit track
UNCLIPPED_44K = tuple(f"general/{name}.hq.ogg" for name in (
    "147793__setuniman__sweet-waltz-0i-22mi", "442789__lena-orsa__happy-music-pistachio-ice-cream-ragtime",
    "456440__inspectorj__bird-whistling-robin-single-13",
    "Hungarian_Dance_number_5_-_Allegro_in_F_sharp_minor_(string_orchestra)",
    "Karissa_Hobbs_-_Lets_Go_Fishin", "Kevin_MacLeod_-_P_I_Tchaikovsky_Dance_of_the_Sugar_Plum_Fairy",
    "Kevin_MacLeod_-_Vibe_Ace", "admiralbob77_-_Choice_-_Drum-bass", "glacier-bay-humpback",
    "sorohanro_-_solo-trumpet-06"))
GAPS_PER_FILE, QUICK_GAPS_PER_FILE = 12, 4
DONE_WHEN_SNR_GAIN = {10: 3.0, 20: 3.0, 50: 2.0}
# Speech gaps from 20 ms on are judged by PLCMOS (issue 15), and their default is the method with
# the best PLCMOS, which need not match the waveform (periodic at 20 ms): the older SNR gains are
# still reported there but no longer checked. Below the PLCMOS table (10 ms) SNR stays the check.
SNR_CHECKED_SPEECH_MS = (10,)
DONE_WHEN_CLEAN_SNR_DB = 30.0
DONE_WHEN_LSD_MARGIN_DB = 3.0
DONE_WHEN_RECALL, DONE_WHEN_FALSE_PER_MIN = 0.95, 1.0


# ----------------------------------------------------------------------------- the suite


def default_method(gap_ms: int) -> str:
    """The method ``inpaint_gap`` uses by default for a gap of ``gap_ms`` in sound."""
    return next((name for bound, name in DEFAULT_BY_GAP_S if gap_ms * 1e-3 <= bound + 1e-9),
                "similarity")


def _done(rows: list[dict]) -> dict:
    checks = {}
    for row in rows:
        if row["set"] == "inpaint speech" and row["metric"].startswith("PLCMOS"):
            split, gap = row["case"].split(" ")[0], int(row["case"].split(" ")[1])
            if split == "dev":
                checks[f"PLCMOS dev {gap} ms: default ({default_method(gap)}) is the best"] = \
                    row["best"] in (default_method(gap), "auto")
            if gap >= 50:
                checks[f"PLCMOS {split} {gap} ms: auto > lsar_baseline"] = \
                    row["auto"] > row["lsar_baseline"]
        if row["set"] == "inpaint":
            category, gap = row["case"].split(" ")[0], int(row["case"].split(" ")[1])
            if gap in DONE_WHEN_SNR_GAIN and (category != "speech" or gap in SNR_CHECKED_SPEECH_MS):
                need = DONE_WHEN_SNR_GAIN[gap]
                checks[f"{category} {gap} ms: ours - baseline >= {need:g} dB"] = row["delta"] >= need
                if row.get("FACTS.md", "") != "":
                    checks[f"{category} {gap} ms: ours - FACTS.md baseline >= {need:g} dB"] = \
                        row["ours"] - row["FACTS.md"] >= need
            if gap == 250 and category == "music":
                checks[f"music 250 ms: LSD >= {DONE_WHEN_LSD_MARGIN_DB:g} dB below linear"] = \
                    row["delta"] >= DONE_WHEN_LSD_MARGIN_DB
        if row["set"] == "declick":
            category = row["case"].split(" (")[0]
            if row["metric"].startswith("recall"):
                checks[f"declick {category}: recall >= 95%"] = row["ours"] >= DONE_WHEN_RECALL
            if row["metric"].startswith("false"):
                checks[f"declick {category}: < 1 false detection per minute"] = \
                    row["ours"] < DONE_WHEN_FALSE_PER_MIN
            if row["metric"].startswith("SNR of clean"):
                checks[f"declick {category}: clean speech >= {DONE_WHEN_CLEAN_SNR_DB:g} dB SNR"] = \
                    row["ours"] >= DONE_WHEN_CLEAN_SNR_DB
        if row["set"] == "declip" and row["case"].startswith("untouched"):
            checks["declip: no sample changed on untouched recordings"] = row["ours"] == 0
    return checks


def run(*, quick: bool = False) -> SuiteResult:
    """Repair: gap inpainting SNR/LSD vs baselines, de-click recall/false alarms, dropouts, de-clip."""
    root = corpus_root()
    needed = {*SPEECH, *MUSIC, *UNCLIPPED_44K, *SPEECH_DEV, *SPEECH_HELD_OUT, *(n for names in CLICK_FILES.values() for n in names), *CLICK_DEV, *CLICK_HELD_OUT}
    missing = sorted(n for n in needed if not (root / n).is_file())
    if missing:
        raise CorpusMissing(root, detail="missing: " + ", ".join(missing))
    timings = {}
    start = time.perf_counter()
    files = {"speech": SPEECH[:1] if quick else SPEECH, "music": MUSIC[:1] if quick else MUSIC}
    rows = inpainting_rows(files, QUICK_GAPS_PER_FILE if quick else GAPS_PER_FILE)
    timings["inpaint_s"] = time.perf_counter() - start
    start = time.perf_counter()
    splits = ({"dev": SPEECH_DEV[:2], "held-out": SPEECH_HELD_OUT[:2]} if quick
              else {"dev": SPEECH_DEV, "held-out": SPEECH_HELD_OUT})
    rows += plcmos_rows(splits, (50, 250) if quick else PLCMOS_GAPS_MS)
    timings["inpaint_plcmos_s"] = time.perf_counter() - start
    start = time.perf_counter()
    clicks = {k: v[:1] for k, v in CLICK_FILES.items()} if quick else CLICK_FILES
    rows += declick_rows(clicks)
    click_splits = ({"dev": CLICK_DEV[:3], "held-out": CLICK_HELD_OUT[:3]} if quick
                    else {"dev": CLICK_DEV, "held-out": CLICK_HELD_OUT})
    rows += declick_speech_rows(click_splits)
    timings["declick_s"] = time.perf_counter() - start
    start = time.perf_counter()
    rows += dropout_rows((SPEECH[0], MUSIC[0]))
    rows += declip_rows((SPEECH[0], SPEECH[1], MUSIC[0], MUSIC[2])[: 2 if quick else 4])
    rows.append(declip_false_alarm_row(UNCLIPPED_44K[: 3 if quick else None]))
    timings["dropouts_declip_s"] = time.perf_counter() - start
    checks = _done(rows)
    summary = {"done_when_met": all(checks.values()), **checks, **timings}
    notes = [
        "speech: " + ", ".join(Path(n).name for n in files["speech"]) + "; music: "
        + ", ".join(Path(n).name for n in files["music"]) + f" (first {MAX_SECONDS:g} s each)",
        "lsar_baseline: " + " ".join(lsar_baseline.__doc__.split("\n\n")[1].split()),
        "FACTS.md: that baseline's SNR as measured in ../shared/FACTS.md (speech: jfk.flac only; "
        "music: the MUSDB mixture); the Done-when checks ours against it and the re-measured one",
        "ar = inpaint_gap method='ar' (two-sided LSAR, order/context chosen per gap, Janssen "
        "re-fits); ours = method='auto' (tools.inpaint.DEFAULT_BY_GAP_S: ar up to 10 ms, periodic to "
        "20, ar_pitch to 50, ar to 100, ar_pitch to 250 ms; from 50 ms a copy where the "
        "surroundings recur within 7 dB; room tone in pauses; similarity beyond)",
        "columns: input = the damaged audio (silence in the gap, the clicked or clipped copy); "
        "delta = ours - lsar_baseline (SNR), linear - ours (LSD), ours - input (the rest)",
        "SNR and LSD are means over gaps of per-gap values over all channels; a refused gap "
        "is left out of ours' mean and counted in detail",
        "inpaint speech (PLCMOS v2, 1-5, whole 8 s excerpt with one gap per second, all filled "
        "by the method; refused gaps stay silent): dev " + ", ".join(Path(n).name for n in
        splits["dev"]) + "; held-out " + ", ".join(Path(n).name for n in splits["held-out"])
        + "; the split was fixed before tuning; the default per gap length (tools.inpaint."
        "DEFAULT_BY_GAP_S) was chosen on dev; auto = that default, or a copy where the "
        "surroundings recur within 7 dB",
        "declick speech: " + " ".join((repair_declick.__doc__ or "").split("\n\n")[1:3]).replace("\n", " "),
    ]
    failed = [name for name, ok in checks.items() if not ok]
    if failed:
        notes.insert(0, "not met: " + "; ".join(failed))
    return SuiteResult(name="repair", status="ok", rows=rows, summary=summary, notes=notes)
