"""Checks of an edit's outcome: the ``expect`` keys of shared/requests/README.md.

Each check compares the input ``before`` with the output ``after`` (both :class:`tools.core.audio.Audio`)
and raises AssertionError saying what is wrong. :func:`check_outcome` runs the checks one ``expect``
dict names. ``refuse`` is the caller's to check (the request must fail and nothing be edited);
:func:`check_unchanged` helps with the "nothing edited" half.

Extra keys beyond the README: ``unchanged`` (true: output equals input), ``channels`` and
``sample_rate_hz`` (the output's format).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tools.core.audio import Audio
from tools.core.dsp import integrated_loudness, rms_db

SEAM_S = 0.030      # audio within this of a cut or trim edge may differ (crossfade, edge fades)
EXACT = 1e-5        # audio that must be unchanged may differ by this much (float32 round trips)
SILENT_DB = -60.0


def _index(audio: Audio, seconds: float) -> int:
    return int(round(seconds * audio.sample_rate))


def _same(a: np.ndarray, b: np.ndarray, what: str) -> None:
    assert a.shape == b.shape, f"{what}: shapes differ {a.shape} vs {b.shape}"
    if a.size:
        worst = float(np.max(np.abs(a.astype(np.float64) - b)))
        assert worst <= EXACT, f"{what}: differs by up to {worst:.2e}"


def check_gain_db(before: Audio, after: Audio, gain_db: float, *, tol_db: float = 0.3) -> None:
    assert after.num_samples == before.num_samples, (
        f"gain must not change the duration: {before.duration_s:.3f} s -> {after.duration_s:.3f} s")
    change = rms_db(after.samples) - rms_db(before.samples)
    assert abs(change - gain_db) <= tol_db, f"level changed by {change:+.2f} dB, expected {gain_db:+.2f} dB"


def check_duration_change(before: Audio, after: Audio, change_s: float, *, tol_s: float = 0.05) -> None:
    change = after.duration_s - before.duration_s
    assert abs(change - change_s) <= tol_s, f"duration changed by {change:+.3f} s, expected {change_s:+.3f} s"


def check_duration(after: Audio, duration_s: float, *, tol_s: float = 0.05) -> None:
    assert abs(after.duration_s - duration_s) <= tol_s, (
        f"duration is {after.duration_s:.3f} s, expected {duration_s:.3f} s")


def check_lufs(after: Audio, lufs: float, *, tol: float = 0.5) -> None:
    measured = integrated_loudness(after.samples, after.sample_rate)
    assert abs(measured - lufs) <= tol, f"integrated loudness is {measured:.2f} LUFS, expected {lufs:.2f}"


def check_silent(after: Audio, span: Sequence[float], *, floor_db: float = SILENT_DB) -> None:
    """``span`` [start_s, end_s] of the output is below ``floor_db`` dBFS (sample peak)."""
    start, end = _index(after, span[0]), _index(after, span[1])
    assert 0 <= start < end <= after.num_samples, f"silent span {list(span)} is outside the output"
    peak = float(np.max(np.abs(after.samples[:, start:end])))
    level = 20 * np.log10(max(peak, 1e-12))
    assert level < floor_db, f"{span[0]:g}-{span[1]:g} s peaks at {level:.1f} dBFS, not silent"


def _fade_gains(after: np.ndarray, reference: np.ndarray, *, frames: int = 20) -> np.ndarray:
    """Per-frame RMS of ``after`` over RMS of ``reference`` (the same audio without the fade)."""
    n = after.shape[1] // frames * frames
    a = after[:, :n].astype(np.float64).reshape(after.shape[0], frames, -1)
    r = reference[:, :n].astype(np.float64).reshape(reference.shape[0], frames, -1)
    return np.sqrt(np.mean(a ** 2, axis=(0, 2)) / np.maximum(np.mean(r ** 2, axis=(0, 2)), 1e-20))


def _check_smooth(gains: np.ndarray, what: str) -> None:
    assert gains[0] > 0.8, f"{what}: starts at {gains[0]:.2f} of the level, not near full level"
    assert gains[-1] < 0.15, f"{what}: ends at {gains[-1]:.2f} of the level, not near silence"
    assert gains[2] < 0.98, f"{what}: still at full level {gains[2]:.2f} after 15% of it (too short a fade)"
    rises = np.diff(gains)
    assert np.all(rises <= 0.05), f"{what}: not a smooth fall (gains {np.round(gains, 2).tolist()})"


def check_fade_out(before: Audio, after: Audio, seconds: float, *, skip_start_s: float = 0.0) -> None:
    """The last ``seconds`` of the output fall smoothly to silence; the audio before them equals the
    input (input and output aligned at their starts; ``skip_start_s`` leaves out a fade in)."""
    n, fade = after.num_samples, _index(after, seconds)
    assert before.num_samples >= n >= fade > 0, "fade-out check needs the output no longer than the input"
    reference = before.samples[:, n - fade:n]
    gains = _fade_gains(after.samples[:, n - fade:], reference)
    _check_smooth(gains, f"fade-out over the last {seconds:g} s")
    guard = _index(after, 0.002)
    start = _index(after, skip_start_s) + (guard if skip_start_s else 0)
    _same(after.samples[:, start:n - fade - guard], before.samples[:, start:n - fade - guard],
          "audio before the fade-out")


def check_fade_in(before: Audio, after: Audio, seconds: float, *, skip_end_s: float = 0.0) -> None:
    """The first ``seconds`` of the output rise smoothly from silence; the audio after them equals
    the input (aligned at the start; ``skip_end_s`` leaves out a fade out)."""
    fade = _index(after, seconds)
    assert 0 < fade <= min(after.num_samples, before.num_samples), "fade-in longer than the audio"
    gains = _fade_gains(after.samples[:, :fade], before.samples[:, :fade])[::-1]
    _check_smooth(gains, f"fade-in over the first {seconds:g} s")
    guard = _index(after, 0.002)
    end = after.num_samples - _index(after, skip_end_s) - (guard if skip_end_s else 0)
    _same(after.samples[:, fade + guard:end], before.samples[:, fade + guard:end],
          "audio after the fade-in")


def _spans(spans: Sequence) -> list[tuple[float, float | None]]:
    if spans and not isinstance(spans[0], (list, tuple)):
        spans = [spans]
    return sorted((float(a), None if b is None else float(b)) for a, b in spans)


def check_removed(before: Audio, after: Audio, spans: Sequence) -> None:
    """The output is the input with ``spans`` ([start_s, end_s] or a list of them, end None for the
    end of the input) removed, apart from ``SEAM_S`` around each edge of a removed span."""
    rate, total = before.sample_rate, before.num_samples
    assert after.sample_rate == rate, "sample rate changed"
    removed = [(_index(before, a), total if b is None else _index(before, b)) for a, b in _spans(spans)]
    expected = total - sum(b - a for a, b in removed)
    assert abs(after.num_samples - expected) <= rate // 1000, (
        f"output is {after.duration_s:.3f} s, expected {expected / rate:.3f} s")
    guard = _index(before, SEAM_S)
    edges = [0] + [i for span in removed for i in span] + [total]
    out = 0
    for start, end in zip(edges[::2], edges[1::2], strict=True):  # the kept pieces of the input
        lo = start + (guard if start > 0 else 0)
        hi = end - (guard if end < total else 0)
        if hi > lo:
            _same(after.samples[:, out + lo - start:out + hi - start], before.samples[:, lo:hi],
                  f"input {lo / rate:.3f}-{hi / rate:.3f} s in the output")
        out += end - start


def check_kept(before: Audio, after: Audio, span: Sequence[float | None]) -> None:
    """The output is ``span`` [start_s, end_s] of the input (end None: to the end), apart from
    ``SEAM_S`` at each edge."""
    start = _index(before, span[0])
    end = before.num_samples if span[1] is None else _index(before, span[1])
    assert abs(after.num_samples - (end - start)) <= before.sample_rate // 1000, (
        f"output is {after.duration_s:.3f} s, expected {(end - start) / before.sample_rate:.3f} s")
    guard = _index(before, SEAM_S)
    length = min(after.num_samples, end - start)
    _same(after.samples[:, guard:length - guard], before.samples[:, start + guard:start + length - guard],
          f"kept input {span[0]}-{span[1]} s")


def check_unchanged(before: Audio, after: Audio) -> None:
    assert after.sample_rate == before.sample_rate, "sample rate changed"
    _same(after.samples, before.samples, "output")


def check_format(after: Audio, *, channels: int | None = None, sample_rate_hz: int | None = None) -> None:
    if channels is not None:
        assert after.channels == channels, f"{after.channels} channels, expected {channels}"
    if sample_rate_hz is not None:
        assert after.sample_rate == sample_rate_hz, f"{after.sample_rate} Hz, expected {sample_rate_hz}"


def check_outcome(before: Audio, after: Audio, expect: dict) -> None:
    """Run every check ``expect`` names (all but ``refuse``, which the caller checks)."""
    known = {"gain_db", "duration_change_s", "duration_s", "lufs", "silent", "fade_in_s", "fade_out_s",
             "removed", "kept", "unchanged", "channels", "sample_rate_hz", "refuse"}
    if unknown := set(expect) - known:
        raise ValueError(f"unknown expect keys: {sorted(unknown)}")
    if "gain_db" in expect:
        check_gain_db(before, after, expect["gain_db"])
    if "duration_change_s" in expect:
        check_duration_change(before, after, expect["duration_change_s"])
    if "duration_s" in expect:
        check_duration(after, expect["duration_s"])
    if "lufs" in expect:
        check_lufs(after, expect["lufs"])
    if "silent" in expect:
        check_silent(after, expect["silent"])
    if "fade_out_s" in expect:
        check_fade_out(before, after, expect["fade_out_s"], skip_start_s=expect.get("fade_in_s", 0.0))
    if "fade_in_s" in expect:
        check_fade_in(before, after, expect["fade_in_s"], skip_end_s=expect.get("fade_out_s", 0.0))
    if "removed" in expect:
        check_removed(before, after, expect["removed"])
    if "kept" in expect:
        check_kept(before, after, expect["kept"])
    if expect.get("unchanged"):
        check_unchanged(before, after)
    if "channels" in expect or "sample_rate_hz" in expect:
        check_format(after, channels=expect.get("channels"), sample_rate_hz=expect.get("sample_rate_hz"))
