"""inpaint_gap: fill a missing or damaged span from its surroundings.

Five methods; unless the caller names one, a pause gets room tone and any other gap the method of
``DEFAULT_BY_GAP_S`` for its length (the best PLCMOS v2 on the repair suite's dev speech):

- ``ar``: two-sided least-squares AR interpolation (:mod:`tools.algorithms.ar`), each channel
  alone; refused beyond ``AR_MAX_S``, where its fill fades out.
- ``ar_pitch``: LSAR with a model long enough to hold the voice's pitch period, fitted to 128 ms
  on each side and re-fitted once (:func:`tools.algorithms.gap_fill.ar_pitch_fill`); speech gaps
  up to ``AR_PITCH_MAX_S``.
- ``periodic``: the last pitch periods repeated from both sides, joined in phase
  (:func:`tools.algorithms.gap_fill.pitch_fill`); up to ``PERIODIC_MAX_S``.
- ``similarity``: copies the stretch of the same recording whose surroundings best match the
  gap's surroundings (log band energies, then the waveform at both seams), with level matching
  and equal-power crossfades. All channels come from the same place, so the stereo image holds.
  Refused when nothing in the search window matches well enough to pass unnoticed.
- ``room_tone``: noise shaped like the recording's quietest parts, at the local noise-floor level,
  for pauses and silences; each channel alone.

The span's content is ignored. Only ``SEARCH_RADIUS_S`` around the gap is read (:func:`fill_gap`),
and the session keeps the rest of the track's blocks (an edit list): memory and disk follow the gap.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator
from scipy.signal import fftconvolve

from tools.algorithms import ar, gap_fill
from tools.core.audio import Audio
from tools.core.edits import Keep
from tools.core.errors import ToolArgumentError, ToolError
from tools.core.session import Session
from tools.core.tool import Tool, ToolArgs, ToolResult, commit_pieces, track_field

Method = Literal["auto", "ar", "ar_pitch", "periodic", "similarity", "room_tone"]
AUTO_AR_MAX_S = 0.010
AR_MAX_S = 0.100
AR_PITCH_MAX_S = PERIODIC_MAX_S = 0.300
# the default for a gap in sound, by length (up to the first bound that holds), beyond: similarity.
# Each bound is a gap length of the repair suite's PLCMOS table, and its method the best PLCMOS
# on dev speech there (issue 15: 20 ms periodic 3.21 / ar 3.19, 50 ms ar_pitch 3.09, 250 ms
# ar_pitch 2.81; at 100 ms ar 3.117 / ar_pitch 3.112 tie (< 0.02): the simpler rule, ar_pitch).
# Up to 10 ms (below the table) AR, whose fill is then near exact (the suite's SNR rows).
DEFAULT_BY_GAP_S = ((AUTO_AR_MAX_S, "ar"), (0.020, "periodic"), (0.250, "ar_pitch"))
MODEL_METHODS = ("ar", "ar_pitch", "periodic")
# ... except that a gap longer than this whose surroundings recur this closely is copied
CLOSE_MATCH_FROM_S, CLOSE_MATCH_DB = 0.050, 7.0
SIMILARITY_MAX_S = 4.0
ROOM_TONE_MAX_S = 60.0
SEARCH_RADIUS_S = 60.0
QUIET_MARGIN_DB = 10.0  # surroundings within this of the noise floor count as a pause
PAUSE_BELOW_LOUD_DB = 25.0  # ... if they are also this far under the loud parts
QUIET_NEAR_S = 0.050
ROOM_TONE_MIN_S = 0.020  # shorter gaps in a pause are left to AR, which is exact there
CROSSFADE_S = 0.010
MATCH_LIMIT_DB = 12.0  # RMS band-level difference of the surroundings above which a copy shows
MAX_LEVEL_MATCH_DB = 12.0


class Args(ToolArgs):
    start_s: float = Field(ge=0, description="Start of the span to fill, in seconds from the start of the track (>= 0).")
    end_s: float = Field(gt=0, description="End of the span to fill, in seconds (> start_s).")
    method: Method | None = Field(default=None, description="How to fill: 'ar' (interpolation, gaps up to 100 ms), 'ar_pitch' (interpolation that keeps the voice's pitch, speech gaps up to 300 ms), 'periodic' (repeats the last pitch periods from both sides, up to 300 ms), 'similarity' (copy a matching stretch of the recording, gaps up to 4 s), 'room_tone' (matching background noise, for pauses, up to 60 s), or 'auto'/null to choose from the gap's length and surroundings.")
    track: str | None = track_field()

    @model_validator(mode="after")
    def _ordered(self) -> Args:
        if self.end_s <= self.start_s:
            raise ValueError(f"end_s={self.end_s} must be greater than start_s={self.start_s}")
        return self


@dataclass(frozen=True)
class Inpainted:
    """The repaired audio, the method used, and what that method chose (for the result text)."""

    audio: Audio
    method: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Fill:
    """New samples for ``start .. stop`` of every channel (the gap plus any crossfades)."""

    start: int
    stop: int
    samples: np.ndarray
    method: str
    details: dict[str, Any] = field(default_factory=dict)

    def apply(self, samples: np.ndarray) -> np.ndarray:
        """A float64 copy of ``samples`` with this fill in place."""
        out = np.array(samples, dtype=np.float64)
        out[:, self.start : self.stop] = self.samples
        return out


def _frame_power(x: np.ndarray, frame: int) -> np.ndarray:
    """Mean power of consecutive ``frame``-sample frames of ``x`` (1-D)."""
    count = x.size // frame
    return np.mean(np.square(x[: count * frame].reshape(count, frame), dtype=np.float64), axis=1)


def _window(n: int, start: int, stop: int, rate: int) -> tuple[int, int]:
    radius = int(SEARCH_RADIUS_S * rate)
    return max(start - radius, 0), min(stop + radius, n)


def levels(x: np.ndarray, rate: int, *, exclude: tuple[int, int] | None = None
           ) -> tuple[float, float]:
    """``(floor, loud)`` powers of ``x`` (1-D): the 10th and 95th percentiles of its 50 ms frame
    powers, digital silence left out (``(0, 0)`` when all of it is silent)."""
    frame = max(int(QUIET_NEAR_S * rate), 1)
    if exclude is not None:
        x = np.concatenate([x[: exclude[0]], x[exclude[1] :]])
    power = _frame_power(x, frame)
    power = power[power > 1e-20]
    if power.size == 0:
        return 0.0, 0.0
    return float(np.percentile(power, 10)), float(np.percentile(power, 95))


def is_pause(samples: np.ndarray, start: int, stop: int, rate: int) -> bool:
    """True when the audio right before and after ``start..stop`` is at the noise floor in every
    channel: within ``QUIET_MARGIN_DB`` of the quiet parts, and at least ``PAUSE_BELOW_LOUD_DB``
    under the loud parts (dense music, whose quietest frames are still music, has no pauses)."""
    lo, hi = _window(samples.shape[1], start, stop, rate)
    near = int(QUIET_NEAR_S * rate)
    for x in samples:
        floor, loud = levels(x[lo:hi], rate, exclude=(start - lo, stop - lo))
        sides = np.concatenate([x[max(start - near, 0) : start], x[stop : stop + near]])
        power = float(np.mean(np.square(sides, dtype=np.float64))) if sides.size else 0.0
        if power > 1e-20 and (power > floor * 10 ** (QUIET_MARGIN_DB / 10)
                              or power > loud * 10 ** (-PAUSE_BELOW_LOUD_DB / 10)):
            return False
    return True


# ----------------------------------------------------------------------------- room tone


def room_tone(x: np.ndarray, start: int, stop: int, rate: int, *, seed: int,
              extra: int = 0) -> np.ndarray:
    """``stop - start + 2 * extra`` samples of noise with the spectrum of the quietest frames of
    ``x`` (1-D, within the search window), at the power of the audio right next to the gap but
    never more than ``QUIET_MARGIN_DB`` above those quiet frames."""
    m = stop - start + 2 * extra
    lo, hi = _window(x.size, start, stop, rate)
    region = np.concatenate([x[lo:start], x[stop:hi]]).astype(np.float64)
    frame = 1 << int(np.clip(np.round(np.log2(0.046 * rate)), 8, 14))
    power = _frame_power(region, frame)
    usable = np.flatnonzero(power > 1e-20)
    if usable.size == 0:
        return np.zeros(m)
    quiet = usable[np.argsort(power[usable])[: max(3, usable.size // 10)]]
    frames = region[: power.size * frame].reshape(-1, frame)[quiet]
    spectrum = np.sqrt(np.mean(np.abs(np.fft.rfft(frames * np.hanning(frame), axis=1)) ** 2, 0))
    shape = np.fft.fftshift(np.fft.irfft(spectrum, frame)) * np.hanning(frame)
    rng = np.random.default_rng(seed)
    tone = fftconvolve(rng.standard_normal(m + frame), shape, mode="valid")[:m]
    near = int(QUIET_NEAR_S * rate)
    around = np.concatenate([x[max(start - near, 0) : start], x[stop : stop + near]])
    quiet_power = float(np.mean(power[quiet]))
    level = quiet_power * 10 ** (QUIET_MARGIN_DB / 10)
    if around.size:
        level = min(level, float(np.mean(np.square(around, dtype=np.float64))))
    return tone * np.sqrt(level / max(float(np.mean(tone**2)), 1e-30))


# ----------------------------------------------------------------------------- similarity


def _band_levels(mono: np.ndarray, rate: int, frame: int, hop: int) -> np.ndarray:
    """Log band energies (dB), shape ``(frames, 24)``: Hann frames, 24 log-spaced bands from
    60 Hz to 0.45 x the sample rate."""
    count = max((mono.size - frame) // hop + 1, 0)
    edges = np.geomspace(60.0, 0.45 * rate, 25) * frame / rate
    edges = np.clip(edges.astype(int), 1, frame // 2)
    out = np.empty((count, 24))
    window = np.hanning(frame)
    for first in range(0, count, 256):  # bounded chunks of frames
        idx = np.arange(first, min(first + 256, count))
        frames = mono[idx[:, None] * hop + np.arange(frame)] * window
        power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
        sums = np.add.reduceat(power, edges[:-1], axis=1)[:, :24]
        out[idx] = 10 * np.log10(sums + 1e-12)
    return out


def find_match(samples: np.ndarray, start: int, stop: int, rate: int) -> tuple[int, float]:
    """Start of the best source stretch for ``start..stop`` and its surroundings' band-level
    distance (RMS dB). Raises ToolError when the window holds no candidate at all."""
    n, m = samples.shape[1], stop - start
    context = int(min(max(m, int(0.25 * rate)), rate))
    frame = 1 << int(np.clip(np.round(np.log2(0.046 * rate)), 8, 14))
    hop = frame // 4
    lo, hi = _window(n, start, stop, rate)
    lo = start - ((start - lo) // hop) * hop  # frame grid aligned with the gap's start
    mono = samples[:, lo:hi].mean(axis=0).astype(np.float64)
    levels = _band_levels(mono, rate, frame, hop)
    starts = np.arange(levels.shape[0]) * hop + lo
    left = np.flatnonzero((starts >= start - context) & (starts + frame <= start))
    right = np.flatnonzero((starts >= stop) & (starts + frame <= stop + context))
    ctx = np.concatenate([left, right])
    if ctx.size == 0:
        raise ToolError("not enough audio around the gap to match against")
    distance_to_gap = np.concatenate([start - starts[left] - frame, starts[right] - stop])
    weights = 1.0 - 0.5 * distance_to_gap / max(context, 1)
    shift_min, shift_max = -int(ctx.min()), levels.shape[0] - 1 - int(ctx.max())
    shifts = np.arange(shift_min, shift_max + 1)
    far = np.abs(shifts * hop) >= m + context
    shifts = shifts[far]
    if shifts.size == 0:
        raise ToolError(
            f"no audio to copy from: the search window (+-{SEARCH_RADIUS_S:g} s) holds no "
            f"stretch of {m / rate:.2f} s with surroundings outside the gap"
        )
    score = np.zeros(shifts.size)
    for j, w in zip(ctx, weights, strict=True):
        score += w * np.mean((levels[j + shifts] - levels[j]) ** 2, axis=1)
    score /= weights.sum()
    best = int(np.argmin(score))
    source = start + int(shifts[best]) * hop
    return _align(samples, start, stop, source, hop, rate), float(np.sqrt(score[best]))


def _align(samples: np.ndarray, start: int, stop: int, source: int, radius: int,
           rate: int) -> int:
    """Move ``source`` by up to ``radius`` samples to where the waveform lines up best with the
    audio at both seams (normalised cross-correlation of 20 ms on each side)."""
    n, m = samples.shape[1], stop - start
    width = int(0.02 * rate)
    mono = samples.mean(axis=0)
    lags = np.arange(-radius, radius + 1)
    lags = lags[(source + lags - width >= 0) & (source + lags + m + width <= n)]
    if lags.size == 0 or start < width or stop + width > n:
        return source
    total = np.zeros(lags.size)
    for template, offset in ((mono[start - width : start], -width), (mono[stop : stop + width], m)):
        base = source + lags[0] + offset
        span = mono[base : base + lags.size - 1 + width].astype(np.float64)
        views = np.lib.stride_tricks.sliding_window_view(span, width)
        norms = np.sqrt(np.sum(views**2, axis=1) * np.sum(template.astype(np.float64) ** 2))
        total += views @ template / np.maximum(norms, 1e-20)
    return int(source + lags[int(np.argmax(total))])


def _paste(x: np.ndarray, piece: np.ndarray, start: int, stop: int, fade: int) -> np.ndarray:
    """The new samples of ``x`` (1-D) over ``start - fade .. stop + fade``: ``piece`` (that long)
    over the gap, blended into the audio just outside it by equal-power crossfades."""
    out = np.array(piece, dtype=np.float64)
    if fade:
        m = stop - start
        theta = (np.arange(fade) + 0.5) / fade * (np.pi / 2)
        out[:fade] = x[start - fade : start] * np.cos(theta) + piece[:fade] * np.sin(theta)
        out[fade + m :] = piece[fade + m :] * np.cos(theta) + x[stop : stop + fade] * np.sin(theta)
    return out


def _fade_length(n: int, start: int, stop: int, rate: int) -> int:
    return int(max(min(CROSSFADE_S * rate, start, n - stop), 0))


def splice(samples: np.ndarray, start: int, stop: int, source: int, rate: int) -> Fill:
    """Copy ``source .. source + (stop - start)`` over the gap in every channel, with a level
    ramp matching each side and equal-power crossfades just outside the gap."""
    n, m = samples.shape[1], stop - start
    fade = min(_fade_length(n, start, stop, rate), source, n - source - m)
    near = int(0.1 * rate)
    limit = 10 ** (MAX_LEVEL_MATCH_DB / 20)
    out = np.empty((samples.shape[0], m + 2 * fade))
    for c, x in enumerate(samples):
        gains = []
        for here, there in ((x[max(start - near, 0) : start], x[max(source - near, 0) : source]),
                            (x[stop : stop + near], x[source + m : source + m + near])):
            ratio = np.sqrt((np.mean(np.square(here, dtype=np.float64)) + 1e-20)
                            / (np.mean(np.square(there, dtype=np.float64)) + 1e-20))
            gains.append(float(np.clip(ratio, 1 / limit, limit)))
        piece = x[source - fade : source + m + fade] * np.geomspace(gains[0], gains[1], m + 2 * fade)
        out[c] = _paste(x, piece, start, stop, fade)
    return Fill(start - fade, stop + fade, out, "similarity")


# ----------------------------------------------------------------------------- the tool


def choose_method(samples: np.ndarray, start: int, stop: int, rate: int) -> str:
    """'room_tone' inside pauses, else ``DEFAULT_BY_GAP_S``'s method for the length, 'similarity'
    beyond."""
    length_s = (stop - start) / rate
    if length_s >= ROOM_TONE_MIN_S and is_pause(samples, start, stop, rate):
        return "room_tone"
    return next((name for bound, name in DEFAULT_BY_GAP_S if length_s <= bound), "similarity")


def fill_span(samples: np.ndarray, start: int, stop: int, rate: int, *,
              method: str = "auto") -> Fill:
    """Fill ``samples[:, start:stop]`` (``(channels, n)``) from its surroundings. Raises
    ToolError with the reason for a gap that the method cannot fill believably."""
    length_s = (stop - start) / rate
    match = None
    if method == "auto":
        method = choose_method(samples, start, stop, rate)
        if method in MODEL_METHODS and length_s > CLOSE_MATCH_FROM_S:
            try:  # a near-exact repetition (music, a loop) is copied: closer than any model
                match = find_match(samples, start, stop, rate)
            except ToolError:
                pass
            method = "similarity" if match and match[1] <= CLOSE_MATCH_DB else method
    limits = {"ar": AR_MAX_S, "ar_pitch": AR_PITCH_MAX_S, "periodic": PERIODIC_MAX_S,
              "similarity": SIMILARITY_MAX_S, "room_tone": ROOM_TONE_MAX_S}
    if length_s > limits[method]:
        why = {"ar": "interpolation fades towards silence over a longer gap",
               "ar_pitch": "its interpolation fades towards silence over a longer gap",
               "periodic": "repeated pitch periods buzz over a longer gap",
               "similarity": "a copied stretch that long rarely fits both ends",
               "room_tone": "that is longer than any pause worth filling"}[method]
        raise ToolError(f"the gap is {length_s * 1e3:.0f} ms, longer than {method} can fill "
                        f"believably ({limits[method] * 1e3:.0f} ms): {why}")
    if method == "ar":
        fills = [ar.interpolate_gap(x, start, stop, sample_rate=rate) for x in samples]
        details = {"order": fills[0].order, "context_ms": 1e3 * fills[0].context / rate}
        return Fill(start, stop, np.stack([f.samples for f in fills]), "ar", details)
    if method in ("ar_pitch", "periodic"):
        fn = gap_fill.ar_pitch_fill if method == "ar_pitch" else gap_fill.pitch_fill
        return Fill(start, stop, np.stack([fn(x, start, stop, sample_rate=rate) for x in samples]),
                    method)
    if method == "room_tone":
        fade = _fade_length(samples.shape[1], start, stop, rate)
        seed = zlib.crc32(f"{start}:{stop}".encode())
        pieces = [_paste(x, room_tone(x, start, stop, rate, seed=seed + c, extra=fade),
                         start, stop, fade) for c, x in enumerate(samples)]
        return Fill(start - fade, stop + fade, np.stack(pieces), "room_tone")
    source, distance_db = match or find_match(samples, start, stop, rate)
    if distance_db > MATCH_LIMIT_DB:
        raise ToolError(
            f"no stretch of the recording matches the gap's surroundings well enough to fill "
            f"{length_s:.2f} s unnoticed (best differs by {distance_db:.1f} dB RMS, limit "
            f"{MATCH_LIMIT_DB:g} dB); try a shorter span, or method='room_tone' in a pause"
        )
    fill = splice(samples, start, stop, source, rate)
    return Fill(fill.start, fill.stop, fill.samples, "similarity",
                {"source_s": source / rate, "match_db": distance_db})


def fill_gap(signal: Any, *, start_s: float, end_s: float, method: str | None = None) -> Fill:
    """The fill for ``start_s..end_s`` of ``signal`` (an Audio or a track view), in its samples;
    only the ``SEARCH_RADIUS_S`` (+1 s) around the gap is read, all any method looks at."""
    rate, n, span = signal.sample_rate, signal.shape[1], f"start_s={start_s:g}..end_s={end_s:g}"
    start, stop = signal.sample_index(start_s), signal.sample_index(end_s)
    if end_s <= start_s:
        raise ToolArgumentError(f"end_s={end_s:g} must be greater than start_s={start_s:g}")
    if (outside := start_s >= n / rate or end_s > n / rate + 1e-3) or stop <= start:
        raise ToolArgumentError(f"{span} is " + (f"not inside the track (0 to {n / rate:.3f} s)"
                                                 if outside else "shorter than one sample"))
    reach = int((SEARCH_RADIUS_S + 1.0) * rate)
    lo, hi = max(start - reach, 0), min(stop + reach, n)
    fill = fill_span(np.asarray(signal.read(lo, hi)), start - lo, stop - lo, rate,
                     method=method or "auto")
    details = {k: v + lo / rate if k == "source_s" else v for k, v in fill.details.items()}
    return Fill(fill.start + lo, fill.stop + lo, fill.samples, fill.method, details)


def inpaint_gap(audio: Audio, *, start_s: float, end_s: float, method: str | None = None
                ) -> Inpainted:
    """Fill ``start_s..end_s`` (seconds) of ``audio`` from its surroundings; same length out."""
    fill = fill_gap(audio, start_s=start_s, end_s=end_s, method=method)
    return Inpainted(audio.replace(fill.apply(audio.samples)), fill.method, fill.details)


def _run(session: Session, args: Args) -> ToolResult:
    view = session.track(args.track)  # only the gap's search window is read
    fill = fill_gap(view, start_s=args.start_s, end_s=args.end_s, method=args.method)
    extra = f", copied from {fill.details['source_s']:.2f} s" if fill.method == "similarity" else ""
    summary = (f"filled {args.start_s:.3f} s to {args.end_s:.3f} s "
               f"({(args.end_s - args.start_s) * 1e3:.0f} ms) by {fill.method}{extra}")
    pieces = [Keep(0, fill.start), fill.samples.astype(np.float32), Keep(fill.stop, view.shape[1])]
    return commit_pieces(session, args.track, pieces, tool="inpaint_gap", args=args,
                         summary=summary, data={"method": fill.method, **fill.details})


TOOL = Tool(
    name="inpaint_gap",
    description=(
        "Fill a gap, dropout or damaged span (a time range) with sound reconstructed from its "
        "surroundings, keeping the length: 'fill the gap at 0:04', 'repair 2.30 to 2.35 s', "
        "'patch the glitch at 1:12'. Gaps up to 250 ms are interpolated (keeping the voice's "
        "pitch), longer ones copied from a matching part of the recording, pauses filled with "
        "room tone; a gap too long to fill believably is refused with the reason."
    ),
    args_model=Args,
    run=_run,
)
