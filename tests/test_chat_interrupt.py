"""Ctrl-C (SIGINT) in a real `echo-agent chat` process, in the middle of a transcription, a denoise
and a separation: each request is cancelled, and the next ones work with the same session."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import soundfile as sf

from tests.conftest import espeak

SENTENCES = ("Good morning and welcome to the show.", "Um, today we talk about recording at home.",
             "We tested six microphones in my studio.", "Uh, the results surprised us all.",
             "Thank you for listening, see you next week.")


@pytest.fixture(scope="module")
def talk(tmp_path_factory):
    """About 40 s of espeak speech: five sentences twice, 1.5 s pauses, a little noise (22.05 kHz);
    pocketsphinx takes about 1 s over it on an idle machine."""
    folder = tmp_path_factory.mktemp("talk")
    parts, rate = [], 22_050
    for number, text in enumerate(SENTENCES * 2):
        x, rate = sf.read(espeak(text, folder / f"s{number}.wav"))
        parts += [x, np.zeros(int(1.5 * rate))]
    y = np.concatenate(parts)
    y = y + 0.003 * np.random.default_rng(0).standard_normal(y.size)
    sf.write(folder / "talk.wav", y.astype(np.float32), rate, subtype="PCM_16")
    return folder / "talk.wav"


class _Lines:
    """Every line a stream gives, read on a thread, with a wait for a line containing a text."""

    def __init__(self, stream) -> None:
        self.lines: list[str] = []
        self.closed = False
        self._new: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream) -> None:
        for line in stream:
            self.lines.append(line.rstrip("\n"))
            self._new.put(line)
        self.closed = True
        self._new.put("")  # the end: the process closed it (exited)

    def wait_for(self, text: str, count: int = 1, timeout_s: float = 240.0) -> None:
        deadline = time.monotonic() + timeout_s
        while sum(text in line for line in self.lines) < count:
            try:
                line = self._new.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                line = ""
            if line == "" and (self.closed or time.monotonic() >= deadline):
                raise AssertionError(f"no {text!r} (x{count}) in: {self.lines}")


@pytest.mark.parametrize("packaged", ["0", "1"], ids=["dsp-defaults", "packaged-models"])
def test_ctrl_c_mid_transcription_denoise_and_separation_leaves_the_chat_working(tmp_path, talk,
                                                                                 packaged):
    # 0: pocketsphinx, the DSP denoiser, REPET-SIM; 1: Whisper base, DeepFilterNet 3, Spleeter
    env = {**os.environ, "ECHO_AGENT_PACKAGED": packaged}
    process = subprocess.Popen(
        [sys.executable, "-m", "agent.cli", "chat", str(talk), "--session", str(tmp_path / "s")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=tmp_path, env=env, bufsize=1)
    out, err = _Lines(process.stdout), _Lines(process.stderr)

    def send(*lines: str) -> None:
        process.stdin.write("".join(f"{line}\n" for line in lines))
        process.stdin.flush()

    def interrupt(request: str, number: int, delay_s: float) -> None:
        """Send ``request`` (a quick gain, then the long step), and SIGINT ``delay_s`` after the
        gain has run: inside the long step."""
        send(request)
        err.wait_for("[ok] gain(", count=number)
        time.sleep(delay_s)
        process.send_signal(signal.SIGINT)
        err.wait_for("cancelled; the session is as it was before that request", count=number)

    try:
        err.wait_for("session: ")
        # pocketsphinx decodes 40 s in about 1 s (model load included) on an idle machine: 0.3 s
        # after the gain it is loading or decoding
        interrupt("make it 1 dB louder and transcribe this", 1, 0.3)
        send("transcribe this", "remove the ums")
        interrupt("make it 1 dB louder and denoise this", 2, 0.3)
        send("denoise this")
        interrupt("make it 1 dB louder and extract the vocals", 3, 0.3)
        send("extract the vocals", "/history", "/quit")
        process.stdin.close()
        code = process.wait(timeout=300)
    finally:
        process.kill()
    time.sleep(0.2)  # the reader threads take the last lines
    stderr = "\n".join(err.lines)
    assert code == 0, stderr
    assert "Traceback" not in stderr and "unexpected" not in stderr, stderr
    assert stderr.count("cancelled; the session is as it was before that request") == 3
    answers = out.lines
    transcripts = [line for line in answers if line.startswith("talk: ")]
    heard_by = "by pocketsphinx" if packaged == "0" else "by faster-whisper:base"
    assert len(transcripts) == 1 and heard_by in transcripts[0], answers
    assert int(transcripts[0].split()[1]) >= 15  # words heard in the five sentences
    assert any(line.startswith("Transcript: ") and len(line.split()) > 15 for line in answers)
    assert not any("failed" in line for line in answers), answers
    removal = next(line for line in answers if line.startswith("removed "))
    assert "filler" in removal or "nothing" in removal
    assert any(line.startswith("denoised with ") for line in answers), answers
    assert any(line.startswith("separated talk with ") for line in answers), answers
    history = answers[answers.index("1. opened " + str(talk)):]
    assert not any("+1.0 dB" in line for line in history), history  # every cancelled gain undone
    assert any("denoised with" in line for line in history)
    assert any(line.split(". ", 1)[-1].startswith("separated talk") for line in history)
