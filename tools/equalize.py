"""equalize: a parametric EQ: high-pass and low-pass filters, shelves and peaks, and named presets.

- High-pass / low-pass: Butterworth filters (scipy ``butter``, second-order sections), -3 dB at
  ``cutoff_hz``, 12 to 48 dB per octave (a DAW EQ's slopes). pedalboard's own HighpassFilter and
  LowpassFilter are first order (6 dB/octave) only, too gentle to "cut everything under 100 Hz".
- Shelves and peaks: pedalboard's LowShelfFilter, HighShelfFilter and PeakFilter (JUCE biquads,
  the Audio EQ Cookbook designs): a peak changes ``frequency_hz`` by exactly ``gain_db``; a shelf
  reaches ``gain_db`` well past its corner and half of it (in dB) at the corner.
- Presets are starting points a DAW's stock EQ ships ("remove rumble", "brighten", "telephone",
  "less boomy", ...); explicit settings are added to a preset's (a high-pass or low-pass given
  replaces the preset's).

All filters are causal IIR filters run block by block with their state carried over, so any
length streams; every channel gets the same filters. A band at or above 0.48 x the sample rate
(past what the track can hold) is left out, and the result says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pedalboard
from pydantic import Field, model_validator
from scipy.signal import butter

from tools.algorithms.streaming import (
    PluginStream,
    SosStream,
    Source,
    collect,
    read_blocks,
    source_of,
    stream_edit,
)
from tools.core.audio import Audio
from tools.core.errors import ToolArgumentError
from tools.core.session import Session
from tools.core.tool import Tool, ToolArgs, ToolResult, track_field

BandType = Literal["peak", "low_shelf", "high_shelf"]
Slope = Literal[12, 24, 36, 48]
Preset = Literal["remove_rumble", "less_boomy", "less_muddy", "brighten", "darken", "warmer",
                 "more_presence", "less_harsh", "telephone", "radio", "bass_boost", "less_bass",
                 "clear_voice"]
DEFAULT_Q = {"peak": 1.0, "low_shelf": 0.707, "high_shelf": 0.707}
NYQUIST_SHARE = 0.48  # bands at or above this share of the sample rate are left out
MAX_BANDS = 12


class Band(ToolArgs):
    type: BandType = Field(description="'peak' (a bell around frequency_hz), 'low_shelf' (everything below frequency_hz) or 'high_shelf' (everything above).")
    frequency_hz: float = Field(ge=20, le=24_000, description="Centre of a peak or corner of a shelf, in Hz, from 20 to 24000.")
    gain_db: float = Field(ge=-24, le=24, description="Boost (positive) or cut (negative) in dB, from -24 to +24.")
    q: float | None = Field(default=None, ge=0.1, le=18, description="Width: higher is narrower, from 0.1 to 18 (a peak of q 1 spans about 1.4 octaves, q 4 a third of an octave); null for 1.0 on peaks and 0.707 on shelves.")


class Args(ToolArgs):
    preset: Preset | None = Field(default=None, description="A named EQ: 'remove_rumble' (high-pass 80 Hz), 'less_boomy' (low shelf -4 dB at 180 Hz), 'less_muddy' (-4 dB at 300 Hz), 'brighten' (high shelf +4 dB from 5 kHz), 'darken' (-4 dB from 5 kHz), 'warmer', 'more_presence' (+3 dB at 4 kHz), 'less_harsh' (-4 dB at 3.5 kHz), 'telephone' (300-3400 Hz band), 'radio' (an old AM radio: 150-4500 Hz band), 'bass_boost', 'less_bass', 'clear_voice' (for speech); null for none. The explicit settings below are added to it.")
    highpass_hz: float | None = Field(default=None, ge=10, le=5_000, description="Cut everything below this frequency (high-pass, -3 dB here), in Hz, from 10 to 5000; null for none.")
    lowpass_hz: float | None = Field(default=None, ge=200, le=24_000, description="Cut everything above this frequency (low-pass, -3 dB here), in Hz, from 200 to 24000; null for none.")
    slope_db_per_octave: Slope | None = Field(default=None, description="Steepness of the high-pass and low-pass in dB per octave: 12, 24, 36 or 48 (48 for 'cut everything below'); null for 24 (or the preset's).")
    bands: list[Band] | None = Field(default=None, max_length=MAX_BANDS, description="Peaks and shelves, each with type, frequency_hz, gain_db and q (up to 12); null for none.")
    track: str | None = track_field()

    @model_validator(mode="after")
    def _something(self) -> Any:
        if self.preset is None and self.highpass_hz is None and self.lowpass_hz is None \
                and not self.bands:
            raise ValueError("give a preset, highpass_hz, lowpass_hz or bands (nothing to do)")
        return self


@dataclass(frozen=True)
class EqSettings:
    """A whole EQ: optional high-pass/low-pass (Hz, dB/octave) and (type, Hz, dB, q) bands."""

    highpass_hz: float | None = None
    lowpass_hz: float | None = None
    slope_db_per_octave: int = 24
    bands: tuple[tuple[str, float, float, float], ...] = ()
    skipped: tuple[str, ...] = field(default=())

    def describe(self) -> str:
        parts = []
        if self.highpass_hz:
            parts.append(f"high-pass {self.highpass_hz:g} Hz ({self.slope_db_per_octave} dB/oct)")
        if self.lowpass_hz:
            parts.append(f"low-pass {self.lowpass_hz:g} Hz ({self.slope_db_per_octave} dB/oct)")
        names = {"peak": "peak", "low_shelf": "low shelf", "high_shelf": "high shelf"}
        parts += [f"{names[t]} {g:+g} dB at {f:g} Hz (q {q:g})" for t, f, g, q in self.bands]
        return ", ".join(parts) or "nothing"


PRESETS: dict[str, EqSettings] = {
    "remove_rumble": EqSettings(highpass_hz=80.0),
    "less_boomy": EqSettings(bands=(("low_shelf", 180.0, -4.0, 0.707),)),
    "less_muddy": EqSettings(bands=(("peak", 300.0, -4.0, 1.2),)),
    "brighten": EqSettings(bands=(("high_shelf", 5000.0, 4.0, 0.707),)),
    "darken": EqSettings(bands=(("high_shelf", 5000.0, -4.0, 0.707),)),
    "warmer": EqSettings(bands=(("low_shelf", 200.0, 3.0, 0.707), ("high_shelf", 8000.0, -2.0, 0.707))),
    "more_presence": EqSettings(bands=(("peak", 4000.0, 3.0, 1.0),)),
    "less_harsh": EqSettings(bands=(("peak", 3500.0, -4.0, 1.5),)),
    "telephone": EqSettings(highpass_hz=300.0, lowpass_hz=3400.0, slope_db_per_octave=36,
                            bands=(("peak", 1500.0, 4.0, 1.0),)),
    "radio": EqSettings(highpass_hz=150.0, lowpass_hz=4500.0, slope_db_per_octave=24,
                        bands=(("peak", 2000.0, 3.0, 1.0),)),
    "bass_boost": EqSettings(bands=(("low_shelf", 120.0, 5.0, 0.707),)),
    "less_bass": EqSettings(bands=(("low_shelf", 150.0, -5.0, 0.707),)),
    "clear_voice": EqSettings(highpass_hz=80.0, bands=(("peak", 300.0, -3.0, 1.2),
                                                       ("peak", 4000.0, 3.0, 1.0))),
}


def settings_from(*, preset: str | None = None, highpass_hz: float | None = None,
                  lowpass_hz: float | None = None, slope_db_per_octave: int | None = None,
                  bands: list | tuple = ()) -> EqSettings:
    """One EqSettings from a preset plus explicit settings (see :class:`Args`)."""
    if preset is not None and preset not in PRESETS:
        raise ToolArgumentError(f"preset={preset!r} is unknown; expected one of: {', '.join(PRESETS)}")
    base = PRESETS[preset] if preset else EqSettings()
    extra = []
    for band in bands:
        kind, freq, gain, q = ((band.type, band.frequency_hz, band.gain_db, band.q)
                               if isinstance(band, Band) else tuple(band))
        extra.append((kind, float(freq), float(gain), float(q if q is not None else DEFAULT_Q[kind])))
    slope = slope_db_per_octave or base.slope_db_per_octave
    if slope not in (12, 24, 36, 48):
        raise ToolArgumentError(f"slope_db_per_octave={slope} must be one of: 12, 24, 36, 48")
    return EqSettings(highpass_hz=highpass_hz if highpass_hz is not None else base.highpass_hz,
                      lowpass_hz=lowpass_hz if lowpass_hz is not None else base.lowpass_hz,
                      slope_db_per_octave=slope, bands=base.bands + tuple(extra))


def for_rate(settings: EqSettings, sample_rate: int) -> EqSettings:
    """``settings`` without what lies at or above 0.48 x ``sample_rate`` (recorded in ``skipped``);
    refuses a high-pass there (it would remove everything) and a high-pass above the low-pass."""
    top = NYQUIST_SHARE * sample_rate
    skipped = []
    if settings.highpass_hz is not None and settings.highpass_hz >= top:
        raise ToolArgumentError(f"highpass_hz={settings.highpass_hz:g} is at or above what a "
                                f"{sample_rate} Hz track holds ({top:.0f} Hz); it would remove "
                                f"everything")
    lowpass = settings.lowpass_hz
    if lowpass is not None and lowpass >= top:
        skipped.append(f"low-pass {lowpass:g} Hz")
        lowpass = None
    if settings.highpass_hz is not None and lowpass is not None and settings.highpass_hz >= lowpass:
        raise ToolArgumentError(f"highpass_hz={settings.highpass_hz:g} must be below "
                                f"lowpass_hz={lowpass:g}")
    bands = []
    for band in settings.bands:
        if band[1] >= top:
            skipped.append(f"{band[0].replace('_', ' ')} at {band[1]:g} Hz")
        else:
            bands.append(band)
    return EqSettings(settings.highpass_hz, lowpass, settings.slope_db_per_octave, tuple(bands),
                      tuple(skipped))


def _sos(settings: EqSettings, sample_rate: int) -> np.ndarray | None:
    order = settings.slope_db_per_octave // 6
    parts = []
    if settings.highpass_hz is not None:
        parts.append(butter(order, settings.highpass_hz, "highpass", fs=sample_rate, output="sos"))
    if settings.lowpass_hz is not None:
        parts.append(butter(order, settings.lowpass_hz, "lowpass", fs=sample_rate, output="sos"))
    return np.concatenate(parts) if parts else None


def _board(settings: EqSettings) -> pedalboard.Pedalboard | None:
    makers = {"peak": pedalboard.PeakFilter, "low_shelf": pedalboard.LowShelfFilter,
              "high_shelf": pedalboard.HighShelfFilter}
    plugins = [makers[kind](cutoff_frequency_hz=freq, gain_db=gain, q=q)
               for kind, freq, gain, q in settings.bands]
    return pedalboard.Pedalboard(plugins) if plugins else None


def equalize_blocks(source: Source, sample_rate: int, settings: EqSettings) -> Iterator[np.ndarray]:
    """Blocks of ``source`` (``(channels, n)``) through the EQ ``settings`` (already
    :func:`for_rate`-checked); same length, block by block."""
    channels = source.shape[0]
    sos = _sos(settings, sample_rate)
    filters = SosStream(sos, channels) if sos is not None else None
    board = _board(settings)
    plugin = PluginStream(board, sample_rate) if board is not None else None
    for block in read_blocks(source):
        out = filters(block) if filters is not None else block
        if plugin is not None:
            out = plugin(out)
        if out.shape[-1]:
            yield out
    if plugin is not None:
        rest = plugin.flush(channels)
        if rest.shape[-1]:
            yield rest


def equalize(audio: Audio, *, preset: str | None = None, highpass_hz: float | None = None,
             lowpass_hz: float | None = None, slope_db_per_octave: int | None = None,
             bands: list | tuple = ()) -> Audio:
    """``audio`` through a preset and/or explicit EQ settings (see :class:`Args`); same shape."""
    settings = for_rate(settings_from(preset=preset, highpass_hz=highpass_hz, lowpass_hz=lowpass_hz,
                                      slope_db_per_octave=slope_db_per_octave, bands=bands),
                        audio.sample_rate)
    return audio.replace(collect(equalize_blocks(audio.samples, audio.sample_rate, settings),
                                 audio.channels))


def _run(session: Session, args: Args) -> ToolResult:
    source, rate = source_of(session, args.track)
    settings = for_rate(settings_from(preset=args.preset, highpass_hz=args.highpass_hz,
                                      lowpass_hz=args.lowpass_hz,
                                      slope_db_per_octave=args.slope_db_per_octave,
                                      bands=args.bands or ()), rate)
    label = f"'{args.preset.replace('_', ' ')}' " if args.preset else ""
    if settings.describe() == "nothing":  # every band past what the track holds
        raise ToolArgumentError(f"{', '.join(settings.skipped)}: above what a track at {rate} Hz "
                                f"holds (up to {rate / 2:g} Hz), so there is nothing to equalize")
    summary = f"equalized with {label}{settings.describe()}"
    if settings.skipped:
        summary += (f" (left out, above what a {rate} Hz track holds: "
                    f"{', '.join(settings.skipped)})")
    return stream_edit(session, args.track, equalize_blocks(source, rate, settings),
                       sample_rate=rate, tool="equalize", args=args, summary=summary,
                       data={"skipped": list(settings.skipped)})


TOOL = Tool(
    name="equalize",
    description=(
        "EQ: change the tonal balance with filters. High-pass to 'cut everything under 100 Hz' "
        "(highpass_hz 100, slope 48) or 'cut the rumble below 80 Hz'; low-pass to cut the top; "
        "peaks and shelves to boost or cut a range ('boost 3 dB at 4 kHz'); presets for everyday "
        "requests: 'remove rumble', 'less boomy', 'less muddy', 'brighten it', 'darker', 'warmer', "
        "'more presence', 'less harsh', 'make it sound like a telephone', 'like an old radio', 'more/less bass', "
        "'clearer voice'. To copy another track's tone use match_eq; for mains hum use remove_hum."
    ),
    args_model=Args,
    run=_run,
)
