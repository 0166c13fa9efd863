"""The ``echo-agent`` command line.

Exit codes: 0 success; 1 the request failed (a bad argument, a step that could not run);
2 usage or setup problem (bad command line, unreadable input, missing model or program).
Results go to stdout; progress, notes and errors go to stderr.
"""

from __future__ import annotations

# Import-light on purpose: --help, --version and usage errors must answer at once, so only the
# standard library and the import-light command modules (argparse only at their top) load here;
# each command imports numpy, scipy, the tools and the models when it runs.
import argparse
import os
import sys
from pathlib import Path

from agent import (
    __version__,
    batch,
    file_commands,
    mcp_server,
    models_command,
    sessions_command,
    ui,
)
from agent.chat_command import cmd_chat
from agent.listing_commands import cmd_info, cmd_tools
from tools.core.errors import EchoError

EXAMPLES = """\
examples:
  echo-agent do "cut 0:01 to 0:02 and make it 3 dB louder" -i talk.wav -o out.wav
  echo-agent chat talk.wav                      edit by conversation (/help inside)
  echo-agent run edits.txt -i talk.wav -o out.wav   one instruction per line
  echo-agent info talk.wav                      duration, rate, loudness, peaks
  echo-agent run plan.json -i talk.wav -o out.wav
  echo-agent run plan.yaml -i talk.wav -o out.wav --dry-run
  echo-agent tools                              what the agent can do, with arguments

A plan is a list of steps, each {"tool": NAME, "args": {...}}, for example:
  [{"tool": "cut", "args": {"start_s": 1.0, "end_s": 2.0}},
   {"tool": "gain", "args": {"gain_db": 3}},
   {"tool": "fade", "args": {"direction": "out", "duration_s": 2}},
   {"tool": "normalize_loudness", "args": {"target_lufs": -16}}]

Without an LLM configured, requests go to the built-in offline planner. To use an LLM, set
OPENAI_API_KEY (OpenAI) or pass --base-url http://localhost:11434/v1 --model llama3.1 (Ollama,
vLLM, llama.cpp's llama-server or any OpenAI-compatible server).

exit codes: 0 ok, 1 the request failed, 2 usage or setup error
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, with a pointer to --help
        ui.error_line(f"{message} (see '{self.prog} --help')")
        raise SystemExit(2)


_formatter = ui.help_formatter


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
    p.add_argument("--quality", action="store_true",
                   help="add DNSMOS speech quality (SIG, BAK, OVRL, 1-5; needs the models extra)")

    p = sub.add_parser("tools", help="list the tools and their arguments", formatter_class=_formatter,
                       description="The tools the agent can call, with the JSON schemas an LLM sees.")
    p.add_argument("--json", action="store_true", help="print the OpenAI function-tool schemas as JSON")

    p = sub.add_parser(
        "run", help="run a plan (JSON/YAML) or an instructions file on a file",
        formatter_class=_formatter,
        description="Run PLAN in order on a fresh session and write the result.\n"
                    "PLAN is either .json/.yaml/.yml: a list of {\"tool\": NAME, \"args\": {...}} steps,\n"
                    "or a text file with one instruction in plain English per line (# comments allowed).",
        epilog="examples:\n  echo-agent run plan.json -i talk.wav -o talk.edited.wav\n"
               "  echo-agent run edits.txt -i talk.wav -o talk.edited.wav --json\n\n"
               "edits.txt:\n  # tidy the intro\n  cut the first 2 seconds\n  normalize to -16 LUFS\n",
    )
    p.add_argument("plan", help="plan file (.json, .yaml, .yml) or instructions file (.txt, ...)")
    _add_io_arguments(p)
    p.add_argument("--dry-run", action="store_true",
                   help="show the tool calls each step or line makes; write nothing")
    p.add_argument("--json", action="store_true", help="print a JSON log of every step on stdout")
    _add_agent_arguments(p)

    p = sub.add_parser(
        "do", help="do one request in plain English", formatter_class=_formatter,
        description="Plan and run one request, e.g. \"make it 6 dB louder\".",
        epilog='examples:\n  echo-agent do "make it 6 dB louder" -i a.wav -o b.wav\n'
               '  echo-agent do "cut 0:10 to 0:15, then fade out the last 3 seconds" -i a.wav -o b.wav',
    )
    p.add_argument("instruction", help="what to do, in plain English (quote it)")
    _add_io_arguments(p)
    p.add_argument("--dry-run", action="store_true", help="show the tool calls; write nothing")
    p.add_argument("--json", action="store_true", help="print a JSON log of the steps on stdout")
    _add_agent_arguments(p)

    p = sub.add_parser(
        "chat", help="edit by conversation", formatter_class=_formatter,
        description="A chat with the editing agent. Type requests in plain English; /help lists the\n"
                    "commands (/undo, /redo, /history, /info, /tracks, /open, /export, /quit).\n"
                    "The session is saved as you go; --session DIR resumes it later.",
        epilog="examples:\n  echo-agent chat talk.wav\n  echo-agent chat --session ~/edits/talk\n"
               "  printf 'make it 3 dB louder\\n/export out.wav\\n' | echo-agent chat talk.wav",
    )
    p.add_argument("file", nargs="?", help="audio file to open as the first track")
    p.add_argument("--session", metavar="DIR", help="session folder: resumed if it exists, else created")
    _add_agent_arguments(p)
    COMMANDS.update(file_commands.add_commands(sub))
    COMMANDS.update(sessions_command.add_commands(sub))
    COMMANDS.update(models_command.add_commands(sub))
    COMMANDS.update(batch.add_commands(sub))
    COMMANDS.update(mcp_server.add_commands(sub))
    return parser


def _add_agent_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="LLM model name (default $ECHO_AGENT_MODEL or gpt-4o-mini)")
    p.add_argument("--base-url", help="OpenAI-compatible endpoint (default $OPENAI_BASE_URL)")
    p.add_argument("--offline", action="store_true",
                   help="use the built-in offline planner even if an LLM is configured, and "
                        "download no model weights")


def _add_io_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-i", "--input", required=True, help="input audio file (never modified)")
    p.add_argument("-o", "--output", help="output file (.wav, .flac, .mp3, .ogg, .m4a, .opus, .aiff)")
    p.add_argument("-y", "--overwrite", action="store_true", help="replace OUTPUT if it exists")
    p.add_argument("--session", metavar="DIR",
                   help="keep the session (every version, undoable) in this new folder")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress display")
    p.add_argument("--bit-depth", choices=("16", "24", "32", "float"),
                   help="sample format of a .wav/.flac/.aiff output (default: the input's own; "
                        "16-bit gets TPDF dither)")
    p.add_argument("--bitrate", metavar="RATE",
                   help="bitrate of an .mp3/.m4a/.opus output, e.g. 128k (default 192k, opus 128k)")


def _check_format(output: Path, args: argparse.Namespace) -> None:
    """A bit depth or bitrate the output cannot take is a usage error (exit 2), found first."""
    from tools.core.audio_write import check_format
    from tools.core.errors import ToolArgumentError

    try:
        check_format(output, bit_depth=args.bit_depth, bitrate=args.bitrate)
    except ToolArgumentError as exc:
        raise _usage(str(exc)) from None


def _export(session, output: Path, args: argparse.Namespace) -> None:
    """Write the result in the input's format (or --bit-depth/--bitrate); say if it clipped."""
    from agent.workspace import export, export_note

    note = export_note(export(session, output, bit_depth=args.bit_depth, bitrate=args.bitrate))
    if note:
        ui.note(note)


# ----------------------------------------------------------------------------- commands


def cmd_run(args: argparse.Namespace) -> int:
    import json

    from agent.instructions import read_instructions
    from agent.plan import PLAN_SUFFIXES, load_plan, run_plan, validate_plan
    from agent.workspace import ScratchSession, check_output, open_input
    from tools.core.audio_read import open_input as open_audio_file

    plan_path = Path(args.plan)
    if plan_path.suffix.lower() not in PLAN_SUFFIXES:
        return run_requests(args, read_instructions(plan_path))
    steps = load_plan(plan_path)
    input_path = Path(args.input)
    if args.dry_run:
        validate_plan(steps)
        open_audio_file(input_path)  # the input must be readable too (checked, not loaded)
        for number, step in enumerate(steps, start=1):
            print(f"{number}. {step.tool} {json.dumps(step.args)}")
        return 0
    if not args.output:
        raise _usage("run needs -o/--output (or --dry-run)")
    output = check_output(args.output, inputs=[input_path], overwrite=args.overwrite)
    _check_format(output, args)
    with ui.progress_bar(not args.quiet) as progress:
        with ScratchSession(args.session, label="run", progress=progress) as session:
            open_input(session, input_path)

            def on_step(number: int, total: int, step) -> None:
                progress(f"plan ({total} steps)", number - 1, total)

            results = run_plan(session, steps, on_step=on_step)
            progress(f"plan ({len(steps)} steps)", len(steps), len(steps))
            _export(session, output, args)
    for number, result in enumerate(results, start=1):
        ui.note(f"{number}. {result.text}")
    if args.json:
        print(json.dumps([{"step": n, "tool": s.tool, "args": s.args, "result": r.text}
                          for n, (s, r) in enumerate(zip(steps, results, strict=True), start=1)],
                         indent=2))
    else:
        print(output)
    return 0


def make_agent(args: argparse.Namespace):
    """The LLM agent when one is configured (flags or environment), else the offline planner."""
    from agent.llm_config import LLMConfig
    from agent.offline import OfflineAgent

    config = LLMConfig.from_env(model=args.model, base_url=args.base_url)
    if args.offline:
        return OfflineAgent()
    if not config.configured:
        if args.model:
            raise _usage(f"--model {args.model} needs an endpoint: set OPENAI_API_KEY (OpenAI) "
                         "or pass --base-url (a local server)")
        ui.note("no LLM configured: using the offline planner (set OPENAI_API_KEY or --base-url)")
        return OfflineAgent()
    ui.note(f"LLM: {config.model} at {config.endpoint}")
    from agent.llm import LLMAgent

    return LLMAgent(config)


def _call_printer(agent, presenter, *, lines: bool = True):
    """on_event for `do`/`run`: each call as one line on stderr (unless ``lines`` is False: a dry
    run lists them on stdout), then its new notes (once)."""
    from agent.present import call_line

    with_text = not getattr(agent, "reply_repeats_calls", False)
    records = []

    def show(kind: str, payload) -> None:
        if kind == "call":
            records.append(payload)
            if lines:
                ui.note(call_line(payload, with_text=with_text))
            for line in presenter.notes_of([payload]):
                ui.note(f"note: {line}")

    return show, records


def _only_questions(args: argparse.Namespace, instructions: list) -> bool:
    """Whether the offline planner answers and reads every request as a question ("how long is
    it", "find the word 'budget'", "transcribe this"): those need no output file."""
    from agent.llm_config import LLMConfig
    from agent.planner import NotUnderstood, plan_request
    from tools.registry import get_tool

    if not args.offline and LLMConfig.from_env(model=args.model, base_url=args.base_url).configured:
        return False  # an LLM plans as it goes
    try:
        return all(not get_tool(call.tool).edits
                   for i in instructions for call in plan_request(i.text, duration_s=None))
    except NotUnderstood:
        return False


def run_requests(args: argparse.Namespace, instructions: list) -> int:
    """`run EDITS.txt` and `do`: plain-English requests, in order, all or nothing."""
    import json

    from agent.instructions import Instruction, InstructionError, run_instructions
    from agent.present import Presenter, without_peak_warning
    from agent.workspace import ScratchSession, check_output, open_input

    input_path = Path(args.input)
    output = None
    questions = not args.output and _only_questions(args, instructions)
    if not args.dry_run and not questions:
        if not args.output:
            raise _usage(f"{args.command} needs -o/--output (or --dry-run)")
        output = check_output(args.output, inputs=[input_path], overwrite=args.overwrite)
        _check_format(output, args)
    agent = make_agent(args)  # after the checks: a usage error is the only line it prints
    presenter = Presenter()
    show_call, records = _call_printer(agent, presenter, lines=not args.dry_run)
    log: list = []
    with ui.progress_bar(not args.quiet) as progress:
        # a dry run still plans each line against the audio as the earlier lines leave it, in a
        # throw-away session, so times like "the last 3 seconds" are right; nothing is written
        with ScratchSession(None if args.dry_run else args.session, label=args.command,
                            progress=progress) as session:
            open_input(session, input_path)

            def on_line(instruction: Instruction) -> None:
                ui.note(f"{instruction.line}: {instruction.text}")

            try:
                log = run_instructions(agent, session, instructions, on_event=show_call,
                                       on_line=on_line if len(instructions) > 1 else None)
            except InstructionError as exc:
                if args.json:
                    print(json.dumps(getattr(exc, "log", []), indent=2))
                if args.command == "do":
                    raise EchoError(presenter.answer(exc.reason, records)) from None
                raise
            if output is not None:
                _export(session, output, args)
    if args.json:
        print(json.dumps(log, indent=2))
    elif args.dry_run:  # the calls in order; with several lines, each says which line it is for
        calls = [(entry["line"], call) for entry in log for call in entry["calls"]]
        for number, (line, call) in enumerate(calls, start=1):
            where = f" (line {line})" if len(log) > 1 else ""
            print(f"{number}. {call['tool']} {json.dumps(call['arguments'])}{where}")
    else:
        for entry in log:  # the export above said whether the file clipped
            answer = without_peak_warning(presenter.answer(entry["reply"], records))
            if questions:  # a question's answer is the result
                print(answer)
            else:
                ui.note(answer)
        if output is not None:
            print(output)
    return 0


def cmd_do(args: argparse.Namespace) -> int:
    from agent.instructions import Instruction

    return run_requests(args, [Instruction(1, args.instruction.strip())])


class _UsageError(EchoError):
    exit_code = 2


def _usage(message: str) -> EchoError:
    return _UsageError(message)


COMMANDS = {"info": cmd_info, "tools": cmd_tools, "run": cmd_run, "do": cmd_do, "chat": cmd_chat}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    if getattr(args, "offline", False):
        os.environ["ECHO_AGENT_OFFLINE"] = "1"  # no model downloads (tools.models.sources)
    try:
        code = COMMANDS[args.command](args)
        sys.stdout.flush()  # a closed pipe shows here, not at exit
        return code
    except BrokenPipeError:
        return _reader_left()
    except EchoError as exc:
        ui.error_line(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        ui.error_line("interrupted; nothing was written")
        return 130
    except Exception as exc:  # an unexpected failure: one line unless --debug
        if args.debug or os.environ.get("ECHO_AGENT_DEBUG"):
            import traceback

            traceback.print_exc()
        ui.error_line(f"unexpected {type(exc).__name__}: {exc} (rerun with --debug for details)")
        return 1


def _reader_left() -> int:
    """stdout's reader went away (``echo-agent tools | head -1``): as for ``git log | head``, that is
    no error. Point stdout at /dev/null so that the interpreter's final flush is silent too."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout is no real file (tests capture it): nothing to flush
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
