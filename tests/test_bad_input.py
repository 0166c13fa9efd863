"""Bad input through the command line: every kind of unusable file gets one line and exit code 2.

Each case runs ``echo-agent info FILE`` and ``echo-agent run PLAN -i FILE -o OUT`` and asserts:
exit code 2, stderr exactly one line ``echo-agent: error: ...`` naming the file, no traceback,
nothing on stdout, no output file, no temp file and no session folder left behind.
"""

from __future__ import annotations

import ctypes
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
from conftest import CliResult, assert_one_error_line, noise, sine

from tools.core.audio import save


@pytest.fixture
def cli(cli_fd):
    """Capture file descriptors: a C library writing to the terminal breaks the one-line rule too."""
    return cli_fd


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


def test_file_without_read_permission(cli, plan, tmp_path):
    if os.geteuid() != 0:  # an ordinary user: chmod 000 is enough
        locked = save(sine(), tmp_path / "locked.wav")
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
        plan = shutil.copy(plan, shared / "plan.json")
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
