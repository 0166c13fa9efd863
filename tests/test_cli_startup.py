"""What a new user meets before any work: start-up that imports nothing heavy, and pipes that close
early (``echo-agent tools | head -1``) ending quietly with exit 0."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("numpy", "scipy", "torch", "faster_whisper", "demucs")

_PROBE = """
import json, sys
sys.argv = ["echo-agent", *json.loads(sys.argv[1])]
from agent.cli import main
try:
    code = main()
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else 0
sys.stdout.flush()
sys.stderr.write("\\nMODULES " + json.dumps(sorted(sys.modules)) + "\\n")
sys.exit(code)
"""


def _imported(*args: str) -> tuple[int, set[str]]:
    done = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(list(args))],
                          capture_output=True, text=True, check=False)
    line = next(x for x in done.stderr.splitlines() if x.startswith("MODULES "))
    return done.returncode, {name.split(".")[0] for name in json.loads(line[len("MODULES "):])}


@pytest.mark.parametrize("args, code", [(("--help",), 0), (("--version",), 0),
                                        (("frobnicate",), 2), (("run", "--help"), 0),
                                        (("do",), 2)])
def test_help_version_and_usage_errors_import_nothing_heavy(args, code):
    exit_code, modules = _imported(*args)
    assert exit_code == code
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))


def test_info_imports_no_torch(speech_wav):
    exit_code, modules = _imported("info", str(speech_wav))
    assert exit_code == 0
    assert "torch" not in modules and "faster_whisper" not in modules and "demucs" not in modules


def test_a_gain_plan_imports_no_scipy(tmp_path, speech_wav):
    plan = tmp_path / "plan.json"
    plan.write_text('[{"tool": "gain", "args": {"gain_db": -3}}]')
    out = tmp_path / "out.wav"
    exit_code, modules = _imported("run", str(plan), "-i", str(speech_wav), "-o", str(out), "-q")
    assert exit_code == 0 and out.stat().st_size > 1000
    assert not modules & {"scipy", "torch", "pyloudnorm"}, sorted(modules & {"scipy", "torch"})


def test_an_offline_cut_imports_neither_scipy_nor_the_llm_client(tmp_path, speech_wav, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    out = tmp_path / "out.wav"
    exit_code, modules = _imported("do", "cut the first second", "-i", str(speech_wav), "-o", str(out))
    assert exit_code == 0 and out.stat().st_size > 1000
    assert not modules & {"scipy", "torch", "openai"}, sorted(modules & {"scipy", "torch", "openai"})


@pytest.mark.parametrize("command", ["echo-agent tools | head -1",
                                     "echo-agent tools --json | head -c 10",
                                     "echo-agent --help | head -1"])
def test_a_reader_that_stops_early_ends_it_quietly(command):
    done = subprocess.run(["bash", "-o", "pipefail", "-c", command.replace(
        "echo-agent", f"{sys.executable} -m agent.cli")], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout.strip()
