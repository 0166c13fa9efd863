"""The ``echo-agent`` command line.

Exit codes: 0 success; 1 the request failed (a bad argument, a step that could not run);
2 usage or setup problem (bad command line, unreadable input, missing model or program).
Results go to stdout; progress, notes and errors go to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from pathlib import Path

from agent import __version__, ui
from agent.plan import PLAN_SUFFIXES, load_plan, run_plan, validate_plan
from agent.workspace import ScratchSession, check_output, export, open_input
from tools import audio as audio_io
from tools.errors import EchoError
from tools.info import describe, info
from tools.registry import TOOLS, openai_tools, tool_schema

EXAMPLES = """\
examples:
  echo-agent info talk.wav                      duration, rate, loudness, peaks
  echo-agent run plan.json -i talk.wav -o out.wav
  echo-agent run plan.yaml -i talk.wav -o out.wav --dry-run
  echo-agent tools                              what the agent can do, with arguments

A plan is a list of steps, each {"tool": NAME, "args": {...}}, for example:
  [{"tool": "cut", "args": {"start_s": 1.0, "end_s": 2.0}},
   {"tool": "gain", "args": {"gain_db": 3}},
   {"tool": "fade", "args": {"direction": "out", "duration_s": 2}},
   {"tool": "normalize_loudness", "args": {"target_lufs": -16}}]

exit codes: 0 ok, 1 the request failed, 2 usage or setup error
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, with a pointer to --help
        ui.error_line(f"{message} (see '{self.prog} --help')")
        raise SystemExit(2)


def _formatter(prog: str) -> argparse.HelpFormatter:
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=32)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="echo-agent",
        description="Edit recordings by saying what you want: cut, trim, gain, fades, loudness, ...",
        epilog=EXAMPLES,
        formatter_class=_formatter,
    )
    parser.add_argument("--version", action="version", version=f"echo-agent {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for unexpected errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("info", help="measure an audio file", formatter_class=_formatter,
                       description="Duration, sample rate, channels, integrated loudness (LUFS), true peak.")
    p.add_argument("file", help="audio or video file")
    p.add_argument("--json", action="store_true", help="print JSON instead of a line of text")

    p = sub.add_parser("tools", help="list the tools and their arguments", formatter_class=_formatter,
                       description="The tools the agent can call, with the JSON schemas an LLM sees.")
    p.add_argument("--json", action="store_true", help="print the OpenAI function-tool schemas as JSON")

    p = sub.add_parser(
        "run", help="run a plan (JSON/YAML) on a file", formatter_class=_formatter,
        description="Run the steps of PLAN in order on a fresh session and write the result.\n"
                    "PLAN is .json/.yaml/.yml: a list of {\"tool\": NAME, \"args\": {...}} steps.",
        epilog="example:\n  echo-agent run plan.json -i talk.wav -o talk.edited.wav",
    )
    p.add_argument("plan", help="plan file (.json, .yaml, .yml)")
    _add_io_arguments(p)
    p.add_argument("--dry-run", action="store_true", help="validate and print the plan; render nothing")
    return parser


def _add_io_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-i", "--input", required=True, help="input audio file (never modified)")
    p.add_argument("-o", "--output", help="output file (.wav, .flac, .mp3, .ogg, .m4a, .opus, .aiff)")
    p.add_argument("-y", "--overwrite", action="store_true", help="replace OUTPUT if it exists")
    p.add_argument("--session", metavar="DIR",
                   help="keep the session (every version, undoable) in this new folder")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress display")


# ----------------------------------------------------------------------------- commands


def cmd_info(args: argparse.Namespace) -> int:
    path = Path(args.file)
    facts = {"file": str(path), **info(audio_io.load(path))}
    if args.json:
        print(json.dumps(facts, indent=2))
    else:
        print(f"{path}: {describe(facts)}")
    return 0


def cmd_tools(args: argparse.Namespace) -> int:
    if args.json:
        print(json.dumps(openai_tools(), indent=2))
        return 0
    for tool in TOOLS:
        print(f"{tool.name}: {tool.description}")
        schema = tool_schema(tool)
        for name, prop in schema["properties"].items():
            print(f"    {name}: {prop.get('description', '')}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    plan_path = Path(args.plan)
    if plan_path.suffix.lower() not in PLAN_SUFFIXES:
        raise EchoError(f"{plan_path}: a plan must be .json, .yaml or .yml")
    steps = load_plan(plan_path)
    input_path = Path(args.input)
    if args.dry_run:
        validate_plan(steps)
        audio_io.load(input_path)  # the input must be readable too
        for number, step in enumerate(steps, start=1):
            print(f"{number}. {step.tool} {json.dumps(step.args)}")
        return 0
    if not args.output:
        raise _usage("run needs -o/--output (or --dry-run)")
    output = check_output(args.output, inputs=[input_path], overwrite=args.overwrite)
    with ui.progress_bar(not args.quiet) as progress:
        with ScratchSession(args.session, label="run", progress=progress) as session:
            open_input(session, input_path)

            def on_step(number: int, total: int, step) -> None:
                progress(f"plan ({total} steps)", number - 1, total)

            results = run_plan(session, steps, on_step=on_step)
            progress(f"plan ({len(steps)} steps)", len(steps), len(steps))
            export(session, output)
    for number, result in enumerate(results, start=1):
        ui.note(f"{number}. {result.text}")
    print(output)
    return 0


class _UsageError(EchoError):
    exit_code = 2


def _usage(message: str) -> EchoError:
    return _UsageError(message)


COMMANDS = {"info": cmd_info, "tools": cmd_tools, "run": cmd_run}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return COMMANDS[args.command](args)
    except EchoError as exc:
        ui.error_line(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        ui.error_line("interrupted; nothing was written")
        return 130
    except Exception as exc:  # an unexpected failure: one line unless --debug
        if args.debug or os.environ.get("ECHO_AGENT_DEBUG"):
            traceback.print_exc()
        ui.error_line(f"unexpected {type(exc).__name__}: {exc} (rerun with --debug for details)")
        return 1


if __name__ == "__main__":
    sys.exit(main())
