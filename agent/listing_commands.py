"""``echo-agent info`` and ``echo-agent tools``: measure a file, list the tools.

Import-light on purpose (argparse only at the top): the CLI imports this module on every start.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def cmd_info(args: argparse.Namespace) -> int:
    import json

    from tools.core import audio as audio_io
    from tools.info import describe, info

    path = Path(args.file)
    audio = audio_io.load(path)
    facts = {"file": str(path), **info(audio)}
    quality = ""
    if getattr(args, "quality", False):
        from tools.models.dnsmos import describe_quality, quality_facts

        facts.update(quality_facts(audio.samples, audio.sample_rate))
        quality = f", {describe_quality(facts)}"
    if args.json:
        print(json.dumps(facts, indent=2))
    else:
        print(f"{path}: {describe(facts)}{quality}")
    return 0


def cmd_tools(args: argparse.Namespace) -> int:
    import json

    from agent.planner import EXAMPLES
    from tools.registry import TOOLS, openai_tools, tool_schema

    if args.json:
        print(json.dumps(openai_tools(), indent=2))
        return 0
    for tool in TOOLS:
        print(f"{tool.name}: {tool.description}")
        if tool.name in EXAMPLES:  # what the offline planner understands for it
            print("    say: " + " / ".join(f"'{e}'" for e in EXAMPLES[tool.name]))
        schema = tool_schema(tool)
        for name, prop in schema["properties"].items():
            print(f"    {name}: {prop.get('description', '')}")
    return 0
