"""``echo-agent batch`` and ``echo-agent presets``: one recipe over many files.

``batch INPUT... -o OUTDIR`` with one recipe: ``--preset NAME``, ``--plan PLAN``,
``--instructions EDITS.txt`` or ``--clean``. Outputs mirror the inputs' relative paths under
OUTDIR, each written atomically; ``OUTDIR/echo-agent-batch.json`` records every file (see
:mod:`agent.batch_manifest`), so a rerun does only what is new, changed, failed or missing.
Jobs run in this process (``-j 1``), in N local worker processes (``-j N``) or as Ray tasks
(``--ray [ADDRESS]``), see :mod:`agent.batch_exec`. A file that fails, fails alone; a setup
problem (a missing model) stops the batch, since every file would fail the same way.

Exit codes: 0 every file done; 1 some file failed; 2 usage or setup problem.

Import-light on purpose (argparse only at the top), like :mod:`agent.file_commands`.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

from agent import ui
from tools.core.errors import EchoError

DEFAULT_COST_PER_CPU_HOUR = 0.045  # USD: about one on-demand cloud vCPU hour (2025)
GPU_TOOLS = frozenset({"separate", "isolate_speech", "denoise", "transcribe",
                       "remove_disfluencies"})
EPILOG = """\
examples:
  echo-agent batch recordings/ -o cleaned/ --preset podcast -j 2
  echo-agent batch 'season1/**/*.wav' -o out/ --plan tidy.yaml --format flac
  echo-agent batch ep12/ -o out/ --preset podcast --reference ep11.final.wav
  echo-agent batch talks/ -o out/ --instructions edits.txt --offline
  echo-agent batch talks/ -o out/ --clean --level light --ray             (a local Ray)
  echo-agent batch /shared/in -o /shared/out --preset podcast --ray ray://head:10001

Rerun the same command to finish an interrupted batch or retry failed files; --force redoes all.
exit codes: 0 all done, 1 some file failed, 2 usage or setup problem
"""


def _formatter(prog: str) -> argparse.HelpFormatter:
    return ui.help_formatter(prog, max_help_position=34)


def add_commands(sub) -> dict:
    p = sub.add_parser(
        "batch", help="run a preset, plan, instructions or clean-up over many files",
        formatter_class=_formatter, epilog=EPILOG,
        description="Process every input with one recipe; outputs mirror the inputs under OUTDIR.\n"
                    "A manifest in OUTDIR (echo-agent-batch.json) records each file, so a rerun\n"
                    "skips what is done and retries what failed.")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="audio files, folders or globs")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="output folder")
    recipe = p.add_mutually_exclusive_group(required=True)
    recipe.add_argument("--preset", metavar="NAME", help="a shipped preset ('echo-agent presets')")
    recipe.add_argument("--plan", metavar="PLAN", help="a plan file (.json/.yaml), as for `run`")
    recipe.add_argument("--instructions", metavar="EDITS", help="one request per line, as for `run`")
    recipe.add_argument("--clean", action="store_true", help="`echo-agent clean` on every file")
    p.add_argument("--level", default="normal", choices=["light", "normal", "aggressive"],
                   help="--clean: how much to remove (default normal)")
    p.add_argument("--denoise", action="store_true", help="--clean: also reduce background noise")
    p.add_argument("--loudness", type=float, metavar="LUFS", help="--clean: also normalize, e.g. -16")
    p.add_argument("--reference", metavar="FILE",
                   help="tone reference for presets that match tone (default: the first output)")
    p.add_argument("--format", choices=["wav", "flac", "mp3", "ogg", "m4a", "opus", "aiff"],
                   help="output format (default: each input's own)")
    p.add_argument("--bit-depth", choices=("16", "24", "32", "float"), help="WAV/FLAC/AIFF sample format")
    p.add_argument("--bitrate", metavar="RATE", help="MP3/M4A/Opus bitrate, e.g. 128k")
    p.add_argument("-j", "--jobs", type=int, default=1, metavar="N",
                   help="worker processes (default 1: in this process)")
    p.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                   help="run the jobs as Ray tasks: a local Ray, or the cluster at ADDRESS "
                        "(inputs and OUTDIR on a path every node reaches)")
    p.add_argument("--threads-per-job", type=int, metavar="N",
                   help="threads of each job (default: the cores shared by -j)")
    p.add_argument("--memory-per-job", type=float, metavar="GB",
                   help="memory limit of each job (default: 80%% of RAM shared by -j)")
    p.add_argument("--gpus-per-job", type=float, metavar="N",
                   help="--ray: GPUs per task (default 1 for GPU-capable steps when the "
                        "cluster has GPUs, else 0)")
    p.add_argument("--force", action="store_true", help="redo every file, done or not")
    p.add_argument("--dry-run", action="store_true", help="say what would run; process nothing")
    p.add_argument("--cost-per-cpu-hour", type=float, default=DEFAULT_COST_PER_CPU_HOUR,
                   metavar="USD", help=f"price of one CPU hour (default {DEFAULT_COST_PER_CPU_HOUR})")
    p.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.add_argument("--offline", action="store_true", help="--instructions: the offline planner")
    p.add_argument("--model", help="--instructions: LLM model name")
    p.add_argument("--base-url", help="--instructions: OpenAI-compatible endpoint")

    p = sub.add_parser("presets", help="list the batch presets", formatter_class=_formatter,
                       description="The presets `echo-agent batch --preset NAME` takes, one line "
                                   "each.\n--show NAME prints one (a plan file to copy and edit).")
    p.add_argument("--show", metavar="NAME", help="print this preset's plan file")
    return {"batch": cmd_batch, "presets": cmd_presets}


def cmd_presets(args: argparse.Namespace) -> int:
    from agent.presets import describe, preset_names, preset_path

    if args.show:
        print(preset_path(args.show).read_text(encoding="utf-8"), end="")
        return 0
    for name in preset_names():
        print(f"{name}: {describe(name)}")
    return 0


class BatchUsageError(EchoError):
    exit_code = 2


def _usage(message: str) -> EchoError:
    return BatchUsageError(message)


def _recipe(args: argparse.Namespace) -> dict[str, Any]:
    from agent.plan import PlanError
    from agent.presets import check_recipe, load_recipe, preset_path

    if args.clean:
        if args.loudness is not None and not -70 <= args.loudness <= -5:
            raise _usage(f"--loudness {args.loudness:g} LUFS must be from -70 to -5")
        return {"kind": "clean", "clean": {"level": args.level, "denoise": args.denoise,
                                           "loudness_lufs": args.loudness}}
    if args.instructions:
        from agent.instructions import read_instructions

        lines = read_instructions(args.instructions)
        return {"kind": "instructions", "instructions": [[i.line, i.text] for i in lines],
                "agent": {"offline": bool(args.offline), "model": args.model,
                          "base_url": args.base_url}}
    recipe = load_recipe(preset_path(args.preset) if args.preset else Path(args.plan))
    try:
        check_recipe(recipe)
    except PlanError as exc:
        raise _usage(f"{args.preset or args.plan}: {exc}") from None
    return {"kind": "plan", **recipe}


def _limits(args: argparse.Namespace) -> dict[str, Any]:
    if args.jobs < 1:
        raise _usage(f"-j {args.jobs}: must be at least 1")
    cores = os.cpu_count() or 1
    threads = args.threads_per_job or max(cores // args.jobs, 1)
    if threads < 1:
        raise _usage(f"--threads-per-job {threads}: must be at least 1")
    if args.memory_per_job is not None:
        if args.memory_per_job <= 0:
            raise _usage(f"--memory-per-job {args.memory_per_job:g}: must be above 0 GB")
        memory_mb = int(args.memory_per_job * 1024)
    else:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20
        memory_mb = int(total * 0.8 / args.jobs)
    return {"threads": threads, "memory_mb": memory_mb}


def _plan_jobs(args: argparse.Namespace, recipe: dict[str, Any], outdir: Path):
    from agent import batch_inputs

    pairs = batch_inputs.find_inputs(args.inputs, outdir=outdir)
    if recipe.get("group") == "episode":
        jobs = batch_inputs.episode_jobs(pairs, outdir, fmt=args.format)
    else:
        jobs = batch_inputs.file_jobs(pairs, outdir, fmt=args.format,
                                      stems=recipe.get("export") == "stems")
    batch_inputs.check_outputs(jobs)
    from tools.core.audio_write import check_format
    from tools.core.errors import ToolArgumentError

    for suffix in sorted({out.suffix.lower() for job in jobs for out in job.outputs}):
        try:  # a bitrate for a .wav, float for .flac: refused before any file is made
            check_format(Path(f"out{suffix}"), bit_depth=args.bit_depth, bitrate=args.bitrate)
        except ToolArgumentError as exc:
            raise _usage(str(exc)) from None
    return jobs


def cmd_batch(args: argparse.Namespace) -> int:
    from agent import batch_limits

    limits = _limits(args)
    batch_limits.limit_threads(limits["threads"])  # before numpy loads in this process
    from agent.batch_manifest import Manifest
    from agent.batch_run import BatchRun

    recipe = _recipe(args)
    if args.reference and not recipe.get("reference"):
        raise _usage("--reference: this recipe matches no tone (it has no $reference step)")
    if args.reference and not Path(args.reference).is_file():
        raise _usage(f"--reference {args.reference}: no such file")
    if args.ray and args.jobs > 1 and args.threads_per_job is None:
        limits["threads"] = max((os.cpu_count() or 1) // args.jobs, 1)
    outdir = Path(args.output)
    if outdir.exists() and not outdir.is_dir():
        raise _usage(f"-o {outdir}: exists and is not a folder")
    jobs = _plan_jobs(args, recipe, outdir)  # no inputs, a bad format: refused before -o is made
    if args.dry_run:
        return BatchRun(args, recipe, limits, jobs, Manifest(outdir)).dry_run()
    outdir.mkdir(parents=True, exist_ok=True)
    manifest = Manifest(outdir)
    manifest.lock()
    try:
        jobs = _plan_jobs(args, recipe, outdir)
        started = time.perf_counter()
        run = BatchRun(args, recipe, limits, jobs, manifest)
        code = run.execute()
        summary = run.finish(time.perf_counter() - started)
    finally:
        manifest.unlock()
    if args.json:
        import json

        print(json.dumps(summary, indent=2))
    else:
        print(manifest.path)
    if run.setup_error:
        ui.error_line(f"stopped: {run.setup_error}")
    return code
