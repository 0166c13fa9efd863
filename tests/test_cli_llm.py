"""The command line with an LLM endpoint: `do` and `chat` pointed at a local chat-completions server."""

from __future__ import annotations

import pytest
from chat_server import call, chat_server_fixture  # noqa: F401 (the chat_server fixture)

from tests.conftest import noise
from tools.core.audio import load
from tools.core.dsp import rms_db


@pytest.fixture
def source(write):
    return write(noise(duration_s=3.0, sample_rate=16_000, level_db=-26), "in.wav")


def test_do_with_a_local_server(cli, tmp_path, source, chat_server):
    chat_server.script([call("gain", {"gain_db": 6})], "Done: 6 dB louder.")
    out = tmp_path / "out.wav"
    result = cli("do", "make it 6 dB louder", "-i", source, "-o", out,
                 "--base-url", chat_server.base_url, "--model", "local-model")
    assert result.exit_code == 0, result.stderr
    assert "LLM: local-model at " + chat_server.base_url in result.stderr
    assert rms_db(load(out).samples) == pytest.approx(rms_db(load(source).samples) + 6, abs=0.01)
    body = chat_server.requests[0]
    assert body["model"] == "local-model" and body["messages"][-1]["content"] == "make it 6 dB louder"


def test_unreachable_server_is_a_setup_error_and_writes_nothing(cli, tmp_path, source):
    out = tmp_path / "out.wav"
    result = cli("do", "make it 6 dB louder", "-i", source, "-o", out,
                 "--base-url", "http://127.0.0.1:9/v1", "--model", "m")
    assert result.exit_code == 2
    assert "127.0.0.1:9" in result.stderr.strip().splitlines()[-1]
    assert not out.exists()


def test_model_without_endpoint_is_a_usage_error(cli, tmp_path, source):
    result = cli("do", "make it louder", "-i", source, "-o", tmp_path / "o.wav", "--model", "gpt-x")
    assert result.exit_code == 2
    assert "needs an endpoint" in result.stderr


def test_offline_flag_wins_over_configuration(cli, tmp_path, source, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    result = cli("do", "make it 6 dB louder", "-i", source, "-o", tmp_path / "o.wav", "--offline")
    assert result.exit_code == 0, result.stderr
