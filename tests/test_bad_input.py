"""Bad input through the command line: every kind of unusable file gets one line and exit code 2.

Each case runs ``echo-agent info FILE`` and ``echo-agent run PLAN -i FILE -o OUT`` and asserts:
exit code 2, stderr exactly one line ``echo-agent: error: ...`` naming the file, no traceback,
nothing on stdout, no output file, no temp file and no session folder left behind.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import CliResult, noise, sine

from tools.audio import save

PLAN = [{"tool": "gain", "args": {"gain_db": -3}}]


@pytest.fixture
def cli(capfd):
    """As conftest's ``cli``, but capturing file descriptors 1 and 2, so that a C library or a
    child process writing to the terminal counts against the one-line rule too."""
    from agent.cli import main

    def _run(*args: str | os.PathLike) -> CliResult:
        capfd.readouterr()
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 0
        out, err = capfd.readouterr()
        return CliResult(code, out, err)

    return _run


@pytest.fixture
def plan(tmp_path) -> Path:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(PLAN))
    return path


def assert_one_error_line(result: CliResult, *, code: int = 2, mentions: str | None = None) -> str:
    assert result.exit_code == code, result
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and result.stderr.endswith("\n"), result.stderr
    line = lines[0]
    assert line.startswith("echo-agent: error: ") and len(line) > len("echo-agent: error: ") + 5
    if mentions is not None:
        assert mentions in line
    assert result.stdout == ""
    return line


# ----------------------------------------------------------------------------- the bad files


def _png(path: Path) -> Path:
    """A real 1x1 PNG image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                     + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b""))
    return path


def _truncated(ext: str) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = save(noise(duration_s=2.0), folder / f"cut-short.{ext}")
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
        return path

    return make


def _corrupt(ext: str) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        if ext == "mp3" and shutil.which("ffmpeg") is None:
            pytest.skip("ffmpeg is not installed")
        path = save(sine(440.0, duration_s=2.0), folder / f"damaged.{ext}")
        data = bytearray(path.read_bytes())
        middle = len(data) // 2
        data[middle:middle + 600] = np.random.default_rng(7).bytes(600)
        path.write_bytes(bytes(data))
        return path

    return make


def _header_only_wav(folder: Path) -> Path:
    path = folder / "header-only.wav"
    sf.write(path, np.zeros((0, 1), np.float32), 48_000, subtype="FLOAT")
    assert path.stat().st_size > 0
    return path


def _float_wav_with(value: float) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        samples = sine(duration_s=1.0).samples.T.copy()
        samples[12_000, 0] = value  # 0.250 s
        path = folder / "not-a-number.wav"
        sf.write(path, samples, 48_000, subtype="FLOAT")
        return path

    return make


def _rate_out_of_range(folder: Path) -> Path:
    path = folder / "too-slow.wav"
    sf.write(path, np.zeros(400, np.float32), 400)  # 400 Hz: below anything a recording uses
    return path


def _video_without_audio(folder: Path) -> Path:
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed")
    path = folder / "silent-film.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-y", "-f", "lavfi", "-i",
                    "testsrc=duration=0.5:size=64x48:rate=10", "-c:v", "mpeg4", str(path)],
                   check=True, capture_output=True)
    return path


def _write(name: str, data: bytes) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / name
        path.write_bytes(data)
        return path

    return make


def _directory(folder: Path) -> Path:
    path = folder / "folder.wav"
    path.mkdir()
    return path


BAD_FILES: dict[str, tuple[Callable[[Path], Path], str]] = {
    # case: (maker, words the one line must contain)
    "missing file": (lambda folder: folder / "missing.wav", "no such file"),
    "text named .wav": (_write("notes.wav", b"this is a shopping list, not audio\n" * 20),
                        "not an audio file"),
    "png image": (lambda folder: _png(folder / "picture.png"), "not an audio file"),
    "random bytes": (_write("static.wav", np.random.default_rng(3).bytes(8192)), "not an audio file"),
    "truncated wav": (_truncated("wav"), "truncated"),
    "truncated flac": (_truncated("flac"), "truncated"),
    "wav cut inside its header": (_write("stub.wav", b"RIFF\x24\x00\x00\x00WAVEfmt "), "not an audio file"),
    "corrupt flac": (_corrupt("flac"), "corrupt"),
    "corrupt mp3": (_corrupt("mp3"), "corrupt"),
    "zero-length file": (_write("empty.wav", b""), "empty file (0 bytes)"),
    "wav with 0 frames": (_header_only_wav, "0 samples"),
    "float wav with NaN": (_float_wav_with(np.nan), "NaN or infinite samples (first at 0.250 s)"),
    "float wav with inf": (_float_wav_with(np.inf), "NaN or infinite samples (first at 0.250 s)"),
    "sample rate out of range": (_rate_out_of_range, "sample_rate=400"),
    "video without audio": (_video_without_audio, "no audio stream"),
    "directory": (_directory, "is a directory"),
}


@pytest.fixture(params=list(BAD_FILES), ids=list(BAD_FILES))
def bad_file(request, tmp_path) -> tuple[Path, str]:
    maker, words = BAD_FILES[request.param]
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    return maker(inputs), words


def test_info_refuses_bad_file(cli, bad_file):
    path, words = bad_file
    line = assert_one_error_line(cli("info", path), mentions=str(path))
    assert words in line


def test_run_refuses_bad_file(cli, bad_file, plan, tmp_path, isolated_home):
    path, words = bad_file
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    line = assert_one_error_line(cli("run", plan, "-i", path, "-o", out_dir / "out.wav"),
                                 mentions=str(path))
    assert words in line
    assert list(out_dir.iterdir()) == []  # no output, no temp file
    sessions = isolated_home / "sessions"
    assert not sessions.exists() or list(sessions.iterdir()) == []


def test_good_file_passes_the_same_checks(cli, plan, tmp_path):
    """The control: the same commands on a sound file succeed (so the refusals above are real)."""
    path = save(sine(duration_s=1.0), tmp_path / "fine.wav")
    info = cli("info", path)
    assert info.exit_code == 0 and info.stdout.startswith(f"{path}: 0:01.000")
    run = cli("run", plan, "-i", path, "-o", tmp_path / "fine-out.wav")
    assert run.exit_code == 0 and (tmp_path / "fine-out.wav").is_file()
    assert "error" not in run.stderr


# ----------------------------------------------------------------------------- no read permission

PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 24, 1, 2


def _drop_file_capabilities() -> None:
    """preexec_fn: stay root but lose the capabilities that ignore file permissions (the executed
    program gets its capabilities from the bounding set)."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


# ways to run the CLI as someone whom chmod 000 stops, tried in order
UNPRIVILEGED = {
    "user nobody (65534)": {"user": 65534, "group": 65534, "extra_groups": []},
    "root without CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH": {"preexec_fn": _drop_file_capabilities},
}


def _unprivileged_runner(locked: Path, env: dict[str, str], cwd: Path):
    """A function running the CLI unprivileged, or the reasons why no way works here."""
    if sys.platform != "linux":
        return None, ["not Linux"]
    probe = [sys.executable, "-c", f"import agent.cli; open({str(locked)!r}, 'rb')"]
    reasons = []
    for name, how in UNPRIVILEGED.items():
        try:
            proc = subprocess.run(probe, env=env, cwd=cwd, capture_output=True, text=True,
                                  timeout=60, **how)
        except (OSError, subprocess.SubprocessError) as exc:
            reasons.append(f"{name}: cannot start ({exc})")
            continue
        if proc.returncode != 0 and "PermissionError" in proc.stderr and str(locked) in proc.stderr:
            def run(*args: str, how=how) -> CliResult:
                done = subprocess.run([sys.executable, "-m", "agent.cli", *map(str, args)],
                                      env=env, cwd=cwd, capture_output=True, text=True,
                                      timeout=120, **how)
                return CliResult(done.returncode, done.stdout, done.stderr)

            return run, []
        last = (proc.stderr.strip().splitlines() or ["the file was readable"])[-1]
        reasons.append(f"{name}: {last}")
    return None, reasons


def _check_refusals(run_cli, locked: Path, plan: Path, out: Path) -> None:
    for result in (run_cli("info", locked), run_cli("run", plan, "-i", locked, "-o", out)):
        line = assert_one_error_line(result, mentions=str(locked))
        assert "permission denied" in line
    assert not out.exists()


def test_file_without_read_permission(cli, tmp_path):
    if os.geteuid() != 0:  # an ordinary user: chmod 000 is enough
        locked = save(sine(), tmp_path / "locked.wav")
        plan = tmp_path / "plan.json"
        plan.write_text(json.dumps(PLAN))
        locked.chmod(0)
        try:
            _check_refusals(cli, locked, plan, tmp_path / "out.wav")
        finally:
            locked.chmod(0o644)
        return
    # root reads anything: run the CLI in a child process that permissions do stop, with its
    # files in a folder every user can reach
    shared = Path(tempfile.mkdtemp(prefix="echo-agent-perm-"))
    try:
        shared.chmod(0o777)
        home = shared / "home"
        home.mkdir()
        home.chmod(0o777)
        locked = save(sine(), shared / "locked.wav")
        plan = shared / "plan.json"
        plan.write_text(json.dumps(PLAN))
        plan.chmod(0o644)
        locked.chmod(0)
        repo = Path(__file__).resolve().parent.parent
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
               "ECHO_AGENT_HOME": str(home), "PYTHONPATH": str(repo), "LANG": "C.UTF-8"}
        run_cli, reasons = _unprivileged_runner(locked, env, shared)
        if run_cli is None:
            pytest.skip("running as root and no way to lose the right to read any file here: "
                        + "; ".join(reasons))
        _check_refusals(run_cli, locked, plan, shared / "out.wav")
    finally:
        shutil.rmtree(shared, ignore_errors=True)


# ----------------------------------------------------------------------------- outputs


@pytest.fixture
def source(tmp_path) -> Path:
    return save(sine(duration_s=1.0), tmp_path / "talk.wav")


@pytest.mark.parametrize("overwrite", [[], ["-y"]])
def test_output_equal_to_input_is_refused(cli, plan, source, overwrite):
    before = source.read_bytes()
    line = assert_one_error_line(cli("run", plan, "-i", source, "-o", source, *overwrite))
    assert "refusing to overwrite the input file" in line
    assert source.read_bytes() == before


def test_output_reaching_the_input_through_a_link_is_refused(cli, plan, source, tmp_path):
    link = tmp_path / "alias.wav"
    link.symlink_to(source)
    before = source.read_bytes()
    line = assert_one_error_line(cli("run", plan, "-i", source, "-o", link, "-y"))
    assert "refusing to overwrite the input file" in line
    assert source.read_bytes() == before and link.is_symlink()


def test_existing_output_needs_overwrite(cli, plan, source, tmp_path):
    out = tmp_path / "out.wav"
    out.write_bytes(b"precious")
    line = assert_one_error_line(cli("run", plan, "-i", source, "-o", out), mentions=str(out))
    assert "exists already; pass --overwrite (-y)" in line
    assert out.read_bytes() == b"precious"
    result = cli("run", plan, "-i", source, "-o", out, "-y")
    assert result.exit_code == 0 and out.read_bytes() != b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.wav", "plan.json", "talk.wav"]


@pytest.mark.parametrize("name", ["out.xyz", "out", "out.txt"])
def test_unknown_output_extension_is_refused(cli, plan, source, tmp_path, name):
    line = assert_one_error_line(cli("run", plan, "-i", source, "-o", tmp_path / name))
    assert "unknown output format" in line and "expected one of: " in line
    assert not (tmp_path / name).exists()


def test_output_folder_must_exist(cli, plan, source, tmp_path):
    line = assert_one_error_line(cli("run", plan, "-i", source, "-o", tmp_path / "no" / "out.wav"))
    assert "output folder does not exist" in line


def test_output_that_is_a_directory_is_refused(cli, plan, source, tmp_path):
    (tmp_path / "out.wav").mkdir()
    line = assert_one_error_line(cli("run", plan, "-i", source, "-o", tmp_path / "out.wav", "-y"))
    assert "is a directory" in line


def test_a_failing_step_is_exit_1_and_writes_nothing(cli, source, tmp_path):
    plan = tmp_path / "loud.json"
    plan.write_text(json.dumps([{"tool": "gain", "args": {"gain_db": 100}}]))
    line = assert_one_error_line(cli("run", plan, "-i", source, "-o", tmp_path / "out.wav"), code=1)
    assert "gain_db=100" in line and "allowed: -60 to 60" in line
    assert not (tmp_path / "out.wav").exists()


# ----------------------------------------------------------------------------- bad usage


@pytest.mark.parametrize("argv", [
    ["frobnicate"],
    ["run", "plan.json", "-o", "out.wav"],  # no -i
    ["info"],  # no file
    ["info", "x.wav", "--bogus"],
    ["run", "plan.json", "-i"],  # -i without its value
], ids=["unknown command", "run without -i", "info without a file", "unknown option",
        "-i without a value"])
def test_bad_usage_is_one_line_and_exit_2(cli, argv):
    line = assert_one_error_line(cli(*argv))
    assert "--help" in line


def test_run_without_output_is_a_usage_error(cli, plan, source):
    line = assert_one_error_line(cli("run", plan, "-i", source))
    assert "-o/--output" in line


@pytest.mark.parametrize(("name", "text", "words"), [
    ("missing.json", None, "no such plan file"),
    ("broken.json", '[{"tool": "gain", ', "not a valid plan"),
    ("empty.json", "[]", "non-empty list"),
])
def test_bad_plan_file(cli, source, tmp_path, name, text, words):
    plan = tmp_path / name
    if text is not None:
        plan.write_text(text)
    line = assert_one_error_line(cli("run", plan, "-i", source, "-o", tmp_path / "out.wav"),
                                 mentions=str(plan))
    assert words in line
    assert not (tmp_path / "out.wav").exists()
