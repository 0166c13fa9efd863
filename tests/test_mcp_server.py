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
