"""File-to-file commands of the CLI: ``denoise``, ``transcribe`` (and, when their tools are present,
``separate``, ``clean`` and ``render``). Each reads an input, runs one tool's pure function with a
progress bar, and writes its output atomically; the input is never modified.

Import-light on purpose (argparse only at the top): the CLI builds its parser from this module on
every start, ``--help`` included, so numpy, the tools and the models are imported by each command
when it runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from agent import ui

_formatter = ui.help_formatter


def add_commands(sub) -> dict:
    """Register the file commands on the ``sub`` parsers; returns name -> handler."""
    p = sub.add_parser(
        "denoise", help="reduce background noise under speech", formatter_class=_formatter,
        description="Turn down hiss, hum, fans, traffic, babble under speech. DeepFilterNet 3 when its\n"
                    "weights are installed, else the offline default (RNNoise-guided Wiener filter).",
        epilog="examples:\n  echo-agent denoise talk.wav -o talk.clean.wav\n"
               "  echo-agent denoise talk.wav -o talk.clean.wav --strength light\n"
               "  echo-agent denoise talk.wav -o t.wav --backend deepfilternet --model-dir ~/models/DeepFilterNet3",
    )
    p.add_argument("file", help="input audio file (never modified)")
    p.add_argument("-o", "--output", required=True, help="output audio file")
    p.add_argument("-y", "--overwrite", action="store_true", help="replace OUTPUT if it exists")
    p.add_argument("--backend", default="auto",
                   choices=["auto", "deepfilternet", "hybrid", "rnnoise", "classical"],
                   help="denoiser (default auto: DeepFilterNet 3 if installed, else hybrid)")
    p.add_argument("--strength", choices=["light", "moderate", "strong", "max"],
                   help="how far noise is turned down: light 6 dB, moderate 12, strong 30 (default), max 60")
    p.add_argument("--limit-db", type=float, help="attenuation limit in dB (3 to 100), instead of --strength")
    p.add_argument("--model-dir", help="DeepFilterNet 3 folder (config.ini + checkpoints/)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress display")

    p = sub.add_parser(
        "transcribe", help="transcribe speech with word times", formatter_class=_formatter,
        description="Write down what is said, with the time of every word. faster-whisper when its model\n"
                    "is on this machine (or --backend whisper to download it), else pocketsphinx\n"
                    "(offline, far less accurate; the output says so).",
        epilog="examples:\n  echo-agent transcribe talk.wav                 plain text on stdout\n"
               "  echo-agent transcribe talk.wav --format srt -o talk.srt\n"
               "  echo-agent transcribe talk.wav --format json --model-dir ~/models/faster-whisper-small",
    )
    p.add_argument("file", help="audio or video file")
    p.add_argument("--format", default="txt", choices=["txt", "json", "srt", "vtt"],
                   help="output format (default txt; json has every word with start, end, probability)")
    p.add_argument("-o", "--output", help="write to this file instead of stdout")
    p.add_argument("-y", "--overwrite", action="store_true", help="replace OUTPUT if it exists")
    p.add_argument("--backend", default="auto", choices=["auto", "whisper", "pocketsphinx"])
    p.add_argument("--model", help="faster-whisper model size or name (default small)")
    p.add_argument("--model-dir", help="folder with a faster-whisper (CTranslate2) model")
    p.add_argument("--language", help="spoken language code, e.g. en, fr (default: detect)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress display")

    p = sub.add_parser(
        "separate", help="split music into stems (vocals, drums, bass, other)",
        formatter_class=_formatter,
        description="Separate a song into stems with demucs (htdemucs by default). Without demucs weights,\n"
                    "--two-stems vocals|drums uses a classical fallback (repetition masking / HPSS) and says so.",
        epilog="examples:\n  echo-agent separate song.mp3 -o stems/          stems/song.vocals.wav, ...\n"
               "  echo-agent separate song.wav --two-stems vocals  song.vocals.wav + song.no_vocals.wav\n"
               "  echo-agent separate song.wav --model htdemucs_6s --model-repo ~/models/demucs",
    )
    p.add_argument("file", help="input audio file (never modified)")
    p.add_argument("-o", "--output", metavar="DIR", help="folder for the stems (default: beside the input)")
    p.add_argument("-y", "--overwrite", action="store_true", help="replace stems that exist already")
    p.add_argument("--two-stems", metavar="STEM", help="one stem plus the rest, e.g. vocals")
    p.add_argument("--model", default="htdemucs", help="htdemucs (default), htdemucs_ft, htdemucs_6s")
    p.add_argument("--model-repo", help="local demucs model folder (<sig>.th + <name>.yaml)")
    p.add_argument("--backend", default="auto", choices=["auto", "demucs", "classical"])
    p.add_argument("--shifts", type=int, default=1, help="shift trick passes (0-10, default 1)")
    p.add_argument("--overlap", type=float, default=0.25, help="segment overlap fraction (default 0.25)")
    p.add_argument("--flac", action="store_true", help="write FLAC stems instead of WAV")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress display")

    p = sub.add_parser(
        "clean", help="remove ums, uhs, stutters and dead air in one run", formatter_class=_formatter,
        description="Descript-style cleanup of a spoken recording: filler words, repetitions, cut-off\n"
                    "words and over-long pauses (shortened with the room's own tone). Review the cuts in\n"
                    "--report (JSON) or --labels (Audacity), switch some off, and re-render with\n"
                    "`echo-agent render`.",
        epilog="examples:\n  echo-agent clean episode.wav -o episode.clean.wav\n"
               "  echo-agent clean episode.wav -o out.wav --level aggressive --report cuts.json "
               "--labels cuts.txt\n  echo-agent clean episode.wav -o out.wav --denoise --loudness -16",
    )
    p.add_argument("file", help="input recording (never modified)")
    p.add_argument("-o", "--output", required=True, help="output audio file")
    p.add_argument("-y", "--overwrite", action="store_true", help="replace OUTPUT (and report/labels)")
    p.add_argument("--level", default="normal", choices=["light", "normal", "aggressive"],
                   help="light: sure fillers, pauses > 1.5 s; normal (default); aggressive: also "
                        "'you know', 'I mean', 'like', pauses > 0.7 s")
    p.add_argument("--kinds", metavar="KIND[,KIND]",
                   help="only these: filler, repetition, false_start, phrase, pause (default: "
                        "what the level removes); 'filler' does what 'remove the ums and uhs' does")
    p.add_argument("--report", help="write the cut list (JSON) here, for review and `render`")
    p.add_argument("--labels", help="write an Audacity label track of the cuts here")
    p.add_argument("--denoise", action="store_true", help="also reduce background noise")
    p.add_argument("--loudness", type=float, metavar="LUFS", help="also normalize, e.g. -16")
    p.add_argument("--transcript", default="auto", choices=["auto", "whisper", "pocketsphinx", "none"],
                   help="words from faster-whisper, pocketsphinx, or none (sound-only detection)")
    p.add_argument("--model-dir", help="folder with a faster-whisper model")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress display")

    p = sub.add_parser(
        "render", help="re-render a reviewed cut list from `clean --report`", formatter_class=_formatter,
        description="Apply the cuts of a report written by `echo-agent clean --report`, skipping those\n"
                    "whose \"enabled\" you set to false. The input is found from the report and checked\n"
                    "by its SHA-256.",
        epilog="example:\n  echo-agent render cuts.json -o episode.clean.wav",
    )
    p.add_argument("report", help="the JSON cut list")
    p.add_argument("-o", "--output", required=True, help="output audio file")
    p.add_argument("-i", "--input", help="the input, if it moved since the report was written")
    p.add_argument("-y", "--overwrite", action="store_true", help="replace OUTPUT if it exists")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress display")
    return {"denoise": cmd_denoise, "transcribe": cmd_transcribe, "separate": cmd_separate,
            "clean": cmd_clean, "render": cmd_render}


def _print_clean_report(report: dict, output) -> None:
    cuts = report.get("cuts", [])
    count = cuts if isinstance(cuts, int) else sum(1 for c in cuts if c.get("enabled"))
    for line in report.get("notes", []):
        ui.note(line)
    off = f" ({report['cuts_off']} switched off)" if report.get("cuts_off") else ""
    ui.note(f"{count} cuts{off}, {report.get('saved_s', 0.0):.1f} s saved")
    print(output)


def cmd_clean(args: argparse.Namespace) -> int:
    from agent.clean import clean_file
    from agent.workspace import check_output

    source = Path(args.file)
    output = check_output(args.output, inputs=[source], overwrite=args.overwrite)
    with ui.progress_bar(not args.quiet) as progress:
        kinds = [k.strip() for k in args.kinds.split(",") if k.strip()] if args.kinds else None
        report = clean_file(source, output, level=args.level, kinds=kinds, report_path=args.report,
                            labels_path=args.labels, denoise=args.denoise,
                            loudness_lufs=args.loudness, transcript=args.transcript,
                            overwrite=args.overwrite, model_dir=args.model_dir, progress=progress)
    _print_clean_report(report, output)
    return 0


def cmd_render(args: argparse.Namespace) -> int:
    from agent.clean import render_report

    with ui.progress_bar(not args.quiet) as progress:
        report = render_report(args.report, args.output, input_path=args.input,
                               overwrite=args.overwrite, progress=progress)
    _print_clean_report(report, args.output)
    return 0


def cmd_separate(args: argparse.Namespace) -> int:
    from tools.separate import separate_file

    out_dir = Path(args.output) if args.output else None
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    with ui.progress_bar(not args.quiet) as progress:
        report = separate_file(Path(args.file), out_dir, model=args.model, model_repo=args.model_repo,
                               backend=args.backend, two_stems=args.two_stems, shifts=args.shifts,
                               overlap=args.overlap, ext=".flac" if args.flac else ".wav",
                               progress=progress, overwrite=args.overwrite)
    ui.note(f"separated with {report.method} in {report.elapsed_s:.1f} s")
    if report.note:
        ui.note(report.note)
    if report.clipped_samples:
        ui.note(f"{report.clipped_samples} samples went past full scale and were clipped in the "
                f"{report.subtype} stems")
    for path in report.stems.values():
        print(path)
    return 0


def cmd_denoise(args: argparse.Namespace) -> int:
    from agent.workspace import ScratchSession, check_output, export_note, open_input
    from tools.core.audio_write import write_blocks
    from tools.denoise import STRENGTH_DB, denoise_blocks, plan_denoise

    source = Path(args.file)
    output = check_output(args.output, inputs=[source], overwrite=args.overwrite)
    limit = args.limit_db if args.limit_db is not None else STRENGTH_DB.get(args.strength, 30.0)
    with ui.progress_bar(not args.quiet) as progress, \
            ScratchSession(None, label="denoise", progress=progress) as session:
        # read window by window (a PCM file where it is, anything else streamed into the
        # scratch session): hours of audio never sit in memory
        view = session.track(open_input(session, source))
        plan = plan_denoise(view, view.sample_rate, backend=args.backend,
                            attenuation_limit_db=limit, model_dir=args.model_dir)
        blocks = denoise_blocks(view, view.sample_rate, plan,
                                progress=lambda done, total: progress("denoising", done, total))
        written = write_blocks(output, (block for _, block in blocks),
                               sample_rate=view.sample_rate, channels=view.channels,
                               frames=view.num_samples, origin=session.origin())
    ui.note(f"denoised with {plan.description}, noise down by up to {limit:g} dB")
    if plan.fallback:
        ui.note(plan.fallback)
    if export_note(written):
        ui.note(export_note(written))
    print(output)
    return 0


def cmd_transcribe(args: argparse.Namespace) -> int:
    from agent.workspace import data_dir
    from tools.algorithms.transcript_export import export
    from tools.core import audio as audio_io
    from tools.core.errors import AudioInputError
    from tools.transcribe import cached_transcribe, open_audio, pick_transcriber

    source = Path(args.file)
    output = None
    if args.output:
        output = Path(args.output)
        if output.exists() and not args.overwrite:
            raise AudioInputError(f"{output}: exists already; pass --overwrite (-y) to replace it")
    audio = open_audio(source)  # read window by window where the format allows
    transcriber, notes = pick_transcriber({}, backend=args.backend, model=args.model,
                                          model_dir=args.model_dir)
    for line in notes:
        ui.note(line)
    with ui.progress_bar(not args.quiet) as progress:
        transcript = cached_transcribe(audio, transcriber, cache_dir=data_dir() / "transcripts",
                                       language=args.language, notes=notes,
                                       progress=lambda done, total: progress("transcribing", done, total))
    ui.note(f"transcribed with {transcript.backend or transcriber.name}")
    text = export(transcript, args.format)
    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return 0
    tmp = audio_io.atomic_path(output)
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(output)
    print(output)
    return 0
