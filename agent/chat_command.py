"""`echo-agent chat [FILE]`: open (or resume) a session and talk to the agent about it."""

from __future__ import annotations

import argparse
from pathlib import Path

from agent import ui


def cmd_chat(args: argparse.Namespace) -> int:
    from agent.chat import Chat
    from agent.cli import make_agent
    from agent.planner import CAPABILITIES
    from agent.workspace import new_session_dir, open_input
    from tools.core.session import Session

    root = Path(args.session) if args.session else new_session_dir("chat")
    session = Session.open_or_create(root)
    opened = False
    try:
        with session:
            if args.file:
                track = open_input(session, args.file)
                ui.note(f"opened {args.file} as track {track}")
            elif session.tracks:
                edits = sum(step.tool != "open" for step in session.history())
                ui.note(f"resumed {root}: {edits} edit{'s' if edits != 1 else ''}, tracks "
                        f"{', '.join(session.tracks)}")
            opened = True
            ui.note(f"session: {root}")
            chat = Chat(make_agent(args), session, capabilities=CAPABILITIES)
            return chat.run()
    finally:
        if not opened and not args.session:  # a missing or bad file leaves no empty session
            import shutil

            shutil.rmtree(root, ignore_errors=True)
