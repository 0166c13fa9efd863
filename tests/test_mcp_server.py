"""echo-agent mcp driven by the mcp SDK's real client over stdio: tools listed, open_file, a
gain, a cut, export_file inside the root; a path outside the root is a tool error."""

from __future__ import annotations

import sys

import anyio
import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("mcp")


def _rms_db(x: np.ndarray) -> float:
    return 20 * np.log10(np.sqrt(np.mean(np.square(x))))


async def _drive(root, outside) -> tuple[list[str], list]:
    from mcp import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    params = StdioServerParameters(command=sys.executable,
                                   args=["-m", "agent.cli", "mcp", "--root", str(root)])
    async with stdio_client(params) as (read, write), ClientSession(read, write) as client:
        await client.initialize()
        names = [t.name for t in (await client.list_tools()).tools]
        results = [await client.call_tool("open_file", {"path": str(root / "tone.wav")}),
                   await client.call_tool("gain", {"gain_db": -6}),
                   await client.call_tool("cut", {"start_s": 1.0, "end_s": 2.0}),
                   await client.call_tool("export_file", {"path": str(root / "out.wav")}),
                   await client.call_tool("open_file", {"path": str(outside)}),
                   await client.call_tool("export_file", {"path": str(outside)})]
    return names, results


def test_mcp_stdio_edit_and_roots(tmp_path):
    root, elsewhere = tmp_path / "root", tmp_path / "elsewhere"
    root.mkdir()
    elsewhere.mkdir()
    rate = 16000
    t = np.arange(4 * rate) / rate
    tone = (0.25 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    sf.write(root / "tone.wav", tone, rate, subtype="FLOAT")
    sf.write(elsewhere / "secret.wav", tone, rate)

    names, results = anyio.run(_drive, root, elsewhere / "secret.wav")
    assert {"open_file", "export_file", "gain", "cut", "normalize_loudness"} <= set(names)
    assert [r.is_error for r in results] == [False, False, False, False, True, True]
    assert "outside the allowed folders" in results[4].content[0].text
    out, out_rate = sf.read(root / "out.wav", dtype="float32")
    assert out_rate == rate
    assert len(out) / rate == pytest.approx(3.0, abs=0.002)
    assert _rms_db(out) == pytest.approx(_rms_db(tone) - 6.0, abs=0.1)
    assert sorted(p.name for p in elsewhere.iterdir()) == ["secret.wav"]


async def _http_clients(url: str, root) -> list[str]:
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    texts = []
    async with streamable_http_client(url) as (r1, w1), ClientSession(r1, w1) as one:
        await one.initialize()
        async with streamable_http_client(url) as (r2, w2), ClientSession(r2, w2) as two:
            await two.initialize()
            await one.call_tool("open_file", {"path": str(root / "long.wav")})
            await two.call_tool("open_file", {"path": str(root / "short.wav")})
            for client in (one, two):
                result = await client.call_tool("info", {})
                assert not result.is_error, result.content[0].text
                texts.append(result.content[0].text)
    return texts


def test_mcp_http_gives_each_client_its_own_session(tmp_path):
    import socket
    import subprocess
    import time

    rate = 16000
    sf.write(tmp_path / "long.wav", np.zeros(5 * rate, np.float32) + 0.1, rate)
    sf.write(tmp_path / "short.wav", np.zeros(2 * rate, np.float32) + 0.1, rate)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "agent.cli", "mcp", "--root", str(tmp_path),
                               "--http", str(port)])
    try:
        for _ in range(300):
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        long_info, short_info = anyio.run(_http_clients, f"http://127.0.0.1:{port}/mcp", tmp_path)
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert "5.0" in long_info and "2.0" in short_info
