"""The chat REPL: requests in plain English plus a few slash commands, on a persistent session.

Assistant answers and command results go to ``out`` (stdout); tool calls and notes go to ``err``
(stderr, compact: one line per call, each note once per session; see :mod:`agent.present`).
Works the same with a terminal or with input piped from another program; with a terminal, long
steps show a progress bar. Ctrl-C cancels the request in progress: its edits are rolled back, and
the models it may have interrupted mid-call are dropped, to be loaded afresh when next needed
(an import in progress is let finish first: :mod:`agent.interrupts`).
End of input quits.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import IO

from agent import ui
from agent.base import Agent, ToolCallRecord
from agent.interrupts import interrupts_wait_for_imports
from agent.present import Presenter, call_line
from agent.workspace import check_output, export, open_input
from tools.core.errors import EchoError
from tools.core.session import Session
from tools.history import undoable
from tools.info import describe, info

COMMANDS = """\
/undo            revert the last edit          /redo            re-apply it
/history         list the edits                /info [TRACK]    duration, loudness, peaks
/tracks          list the tracks               /select TRACK    make TRACK the current one
/open FILE       add a file as a new track     /export PATH [-y] write the current track
/help            this list                     /quit            leave (Ctrl-D too)"""
REFUSAL_POINTER = "/help lists the requests I understand."


class Chat:
    def __init__(self, agent: Agent, session: Session, *, inp: IO[str] | None = None,
                 out: IO[str] | None = None, err: IO[str] | None = None,
                 capabilities: str = "") -> None:
        self.agent, self.session = agent, session
        self.inp = inp or sys.stdin
        self._out, self._err = out, err  # None: sys.stdout/sys.stderr as they are when written to
        self.capabilities = capabilities
        self.interactive = self.inp.isatty()
        self.presenter = Presenter()
        # the offline planner's answer is its calls' texts: show them once, in the answer
        self.call_text = not getattr(agent, "reply_repeats_calls", False)

    @property
    def out(self) -> IO[str]:
        return self._out or sys.stdout

    @property
    def err(self) -> IO[str]:
        return self._err or sys.stderr

    # ------------------------------------------------------------------ output

    def say(self, text: str) -> None:
        self.out.write(text.rstrip() + "\n")
        self.out.flush()

    def note(self, text: str) -> None:
        self.err.write(text.rstrip() + "\n")
        self.err.flush()

    def show_call(self, kind: str, payload: object) -> None:
        if kind == "call" and isinstance(payload, ToolCallRecord):
            self.note(call_line(payload, with_text=self.call_text))
            for line in self.presenter.notes_of([payload]):
                self.note(f"note: {line}")

    # ------------------------------------------------------------------ loop

    def read(self) -> str | None:
        if self.interactive:
            try:
                return input("you> ")
            except EOFError:
                return None
        line = self.inp.readline()
        return None if line == "" else line

    def run(self) -> int:
        if self.interactive:
            self.note(f"echo-agent chat ({self.agent.name}); /help lists commands, /quit leaves")
        while True:
            try:
                line = self.read()
            except KeyboardInterrupt:
                self.note("(Ctrl-C: request cleared; /quit or Ctrl-D to leave)")
                continue
            if line is None:
                return 0
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("/"):
                if self.command(line) == "quit":
                    return 0
                continue
            self.request(line)

    def request(self, text: str) -> None:
        if not self.session.tracks:
            self.say("There is no audio yet: /open FILE first.")
            return
        mark = len(self.session.history())
        try:
            with interrupts_wait_for_imports(), ui.progress_bar(self._err is None) as progress:
                self.session.progress = progress
                with self.session.group():  # one request is one undo, however many steps
                    reply = self.agent.respond(self.session, text, on_event=self.show_call)
        except KeyboardInterrupt:
            self.cancel(mark)
            return
        except EchoError as exc:
            self.say(f"Error: {exc}")
            return
        finally:
            self.session.progress = lambda task, done, total: None
        answer = self.presenter.answer(reply.text, reply.calls)
        self.say(answer if reply.understood else f"{answer}\n{REFUSAL_POINTER}")

    def cancel(self, mark: int) -> None:
        """Ctrl-C during a request: undo its edits, let the agent forget it, and drop the models it
        may have stopped mid-call (a decoder inside an utterance, a stream half fed): each tool
        loads its model again when next needed."""
        while len(self.session.history()) > mark:
            self.session.undo()
        if hasattr(self.agent, "reset"):  # the model must not believe the edits happened
            self.agent.reset()
        self.session.models.clear()
        self.note("cancelled; the session is as it was before that request")

    # ------------------------------------------------------------------ slash commands

    def command(self, line: str) -> str | None:
        try:
            words = shlex.split(line)
        except ValueError as exc:
            self.say(f"Error: {exc}")
            return None
        name, rest = words[0].lower(), words[1:]
        handler = getattr(self, f"cmd_{name[1:]}", None)
        if handler is None:
            self.say(f"Error: unknown command {name}; /help lists the commands")
            return None
        try:
            return handler(rest)
        except EchoError as exc:
            self.say(f"Error: {exc}")
            return None

    def cmd_quit(self, rest: list[str]) -> str:
        return "quit"

    cmd_exit = cmd_quit

    def cmd_help(self, rest: list[str]) -> None:
        self.say(COMMANDS + ("\n\nRequests I understand:\n" + self.capabilities
                             if self.capabilities else ""))

    def cmd_undo(self, rest: list[str]) -> None:
        before = len(self.session.history())
        step = self.session.undo() if undoable(self.session) else None
        if step is None:
            self.say("Nothing to undo.")
            return
        undone = self.session.redo_steps()[:before - len(self.session.history())]
        self.say("Undid: " + "; ".join(self.presenter.summary(s.summary) for s in undone))

    def cmd_redo(self, rest: list[str]) -> None:
        step = self.session.redo()
        self.say(f"Redid: {self.presenter.summary(step.summary)}" if step else "Nothing to redo.")

    def cmd_history(self, rest: list[str]) -> None:
        summary = self.presenter.summary
        lines = [f"{s.index}. {summary(s.summary)}" for s in self.session.history()]
        lines += [f"   (undone) {summary(s.summary)}" for s in self.session.redo_steps()]
        self.say("\n".join(lines) or "No edits yet.")

    def cmd_info(self, rest: list[str]) -> None:
        track = self.session.resolve_track(rest[0] if rest else None)
        self.say(f"{track}: {describe(info(self.session.audio(track)))}")

    def cmd_tracks(self, rest: list[str]) -> None:
        current = self.session.current_track
        lines = [f"{'*' if t == current else ' '} {t}  {self.session.track(t).duration_s:.2f} s"
                 for t in self.session.tracks]
        self.say("\n".join(lines) or "No tracks: /open FILE.")

    def cmd_select(self, rest: list[str]) -> None:
        if not rest:
            raise EchoError("/select needs a track name (see /tracks)")
        self.session.select(rest[0])
        self.say(f"Current track: {self.session.current_track}")

    def cmd_open(self, rest: list[str]) -> None:
        if not rest:
            raise EchoError("/open needs a file name")
        track = open_input(self.session, Path(rest[0]).expanduser())
        self.say(f"Opened {rest[0]} as track {track} ({self.session.track(track).duration_s:.2f} s)")

    def cmd_export(self, rest: list[str]) -> None:
        paths = [w for w in rest if w not in ("-y", "--overwrite")]
        if len(paths) != 1:
            raise EchoError("/export needs one output path, e.g. /export out.wav (-y to replace)")
        sources = [Path(s.args["source"]) for s in self.session.history()
                   if s.tool == "open" and s.args.get("source")]
        output = check_output(Path(paths[0]).expanduser(), inputs=sources,
                              overwrite=len(paths) != len(rest))
        export(self.session, output)
        self.say(f"Exported {self.session.current_track} to {output}")
