"""denoise: turn down background noise under speech (hiss, hum, fans, traffic, crowds, room tone).

Backends (``backend=``):

- ``deepfilternet``: DeepFilterNet 3, a neural full-band speech enhancer (48 kHz), with the real
  weights from the ``models`` extra (libDF, :mod:`tools.models.libdf`), DeepFilterNet's cache or a
  folder (:mod:`tools.models.deepfilter`); a :class:`SetupError` when none is found. Its input is
  brought to :data:`MODEL_LEVEL_DBFS` (one gain for the whole file) and the output back by the
  same gain: DFN3's results depend on the level it hears.
- ``hybrid``: no weights to download: RNNoise (weights inside the pyrnnoise package) guides a
  classical noise-tracking Wiener filter (:mod:`tools.models.wiener`).
- ``rnnoise``: RNNoise alone, delay-compensated.
- ``classical``: the noise-tracking Wiener filter alone (no neural network).
- ``auto`` (default): DeepFilterNet 3 on wideband audio when it is installed, else ``hybrid``; the
  result says which ran and why.

Why ``auto`` chooses so (measured here with the real weights, evals/suites/denoise.py; SI-SDR in
dB at 0 / 5 / 10 / 15 dB input SNR, 30 dB attenuation limit unless said):

- Narrowband speech (nothing above 5.5 kHz, e.g. telephone or 8 kHz recordings; NOIZEUS,
  sp01-sp02 x 8 noises): hybrid 4.7 / 9.1 / 13.6 / 18.0; DFN3 -5.6 / 2.6 / 7.5 / 12.0, with a
  12 dB limit 0.7 / 5.8 / 9.9 / 14.1, with the level raised to -15 dBFS as well 1.4 / 7.0 /
  10.6 / 12.8; DFN3 guiding the Wiener filter instead of RNNoise 4.7 / 9.1 / 13.6 / 17.9 (no gain
  for four times the cost). DFN3 was trained on full-band speech; the hybrid wins by 3 to 5 dB.
- Wideband speech (LibriSpeech over the corpus' 5 real noises, 16 kHz): at -20 dBFS, DFN3 10.3 /
  13.1 / 15.2 / 17.8 against hybrid 8.9 / 12.3 / 15.4 / 17.9; at -35 dBFS DFN3 falls to 8.5 /
  11.0 / 13.0 / 15.1 unless its input is brought to -20 dBFS (then the -20 dBFS numbers again),
  which is why the level goes to :data:`MODEL_LEVEL_DBFS`. DNSMOS OVRL there: DFN3 2.98 / 3.21,
  hybrid 2.80 / 3.15 at 0 / 10 dB. At 48 kHz (noisy-speech-48k): DFN3 19.9 dB SI-SDR, OVRL 3.05;
  hybrid 18.6 dB, 2.99.
- RNNoise alone is below the hybrid everywhere (wideband 6.7 / 9.6 / 11.7 / 13.1).

Every backend resamples to its own rate and back, handles any channel count (each channel alone),
works through :func:`tools.core.overlap_add.overlap_add_blocks` in 30 s segments (memory bounded by
the segment) and returns audio sample-aligned with the input, of the same length, channels and
rate. The tool reads the session's track window by window and stores the result block by block
(``session.track`` / ``commit_blocks``); the level and bandwidth checks read it once more, in
blocks (or 400 spread windows), so an hours-long track never sits in memory.
``attenuation_limit_db`` caps how far the noise is turned down: small values ("a little") keep some
of the background, as the reduction amount of iZotope RX's de-noise modules.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from math import gcd
from typing import Any, Literal

import numpy as np
from pydantic import Field
from scipy.signal import resample_poly

from tools.core.audio import Audio
from tools.core.errors import ToolArgumentError
from tools.core.overlap_add import overlap_add_blocks
from tools.core.session import Session
from tools.core.tool import Tool, ToolArgs, ToolResult, commit_blocks, track_field
from tools.models import Denoiser, sources
from tools.models.deepfilter import find_model_dir, load_deepfilternet, search_dirs
from tools.models.rnnoise import RNNoise
from tools.models.wiener import is_wideband, wiener_denoise

Backend = Literal["auto", "deepfilternet", "hybrid", "rnnoise", "classical"]
BACKENDS: tuple[str, ...] = ("auto", "deepfilternet", "hybrid", "rnnoise", "classical")
BACKEND_NAMES = {
    "deepfilternet": "DeepFilterNet 3",
    "hybrid": "RNNoise-guided Wiener filter",
    "rnnoise": "RNNoise",
    "classical": "noise-tracking Wiener filter",
}
DEFAULT_ATTENUATION_DB = 30.0
# words a person uses -> attenuation limit, e.g. for a CLI ``--strength`` option
STRENGTH_DB = {"light": 6.0, "moderate": 12.0, "strong": 30.0, "max": 60.0}
MIN_ATTENUATION_DB, MAX_ATTENUATION_DB = 3.0, 100.0
SEGMENT_S = 30.0
OVERLAP_S = 0.5
CONTEXT_S = 1.0
MIN_MODEL_INPUT_S = 0.5  # shorter chunks are zero-padded before a model sees them
MODEL_KEY = "denoise:deepfilternet"
MODEL_LEVEL_DBFS = -20.0  # DeepFilterNet 3 hears the file at this RMS level (see the docstring)
MAX_LEVEL_GAIN_DB = 40.0
WIDEBAND_WINDOWS = 400
_READ_SAMPLES = 1 << 20
SILENT_FRAME_DBFS = -70.0


class Args(ToolArgs):
    attenuation_limit_db: float = Field(
        default=DEFAULT_ATTENUATION_DB, ge=MIN_ATTENUATION_DB, le=MAX_ATTENUATION_DB,
        description="How far the noise is turned down at most, in dB, from 3 to 100: 6 for 'a "
                    "little' (keeps some background), 12 moderate, 30 strong (default), 60 or more "
                    "for 'as much as possible'.")
    backend: Backend = Field(
        default="auto",
        description="Which denoiser: 'auto' (default: DeepFilterNet 3 if installed and the audio "
                    "is wideband, else 'hybrid'), 'deepfilternet', 'hybrid' (RNNoise + Wiener "
                    "filter, offline, best on narrowband/telephone audio), "
                    "'rnnoise', 'classical' (Wiener filter only, no neural network).")
    track: str | None = track_field()


@dataclass(frozen=True)
class DenoiseResult:
    """The denoised audio, the backend that ran (a key of ``BACKEND_NAMES``) and, when ``auto``
    did not use DeepFilterNet 3, why (``fallback``)."""

    audio: Audio
    backend: str
    fallback: str | None = None

    @property
    def description(self) -> str:
        return BACKEND_NAMES[self.backend]


def _resample(samples: np.ndarray, from_hz: int, to_hz: int) -> np.ndarray:
    if from_hz == to_hz:
        return samples
    divisor = gcd(from_hz, to_hz)
    return resample_poly(samples, to_hz // divisor, from_hz // divisor, axis=-1).astype(np.float32)


def _at_model_rate(model: Denoiser, sample_rate: int, attenuation_limit_db: float, *,
                   gain: np.ndarray | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """A chunk function: resample to the model's rate, scale by ``gain`` (per channel,
    ``(channels, 1)``), denoise, undo the gain, resample back, same length."""
    minimum = int(MIN_MODEL_INPUT_S * model.sample_rate)

    def run(chunk: np.ndarray) -> np.ndarray:
        n = chunk.shape[-1]
        x = _resample(chunk, sample_rate, model.sample_rate)
        m = x.shape[-1]
        if m < minimum:
            x = np.pad(x, ((0, 0), (0, minimum - m)))
        if gain is not None:
            x = x * gain
        y = model.denoise(x, attenuation_limit_db=attenuation_limit_db)[:, :m]
        if gain is not None:
            y = y / gain
        y = _resample(y, model.sample_rate, sample_rate)[:, :n]
        return np.pad(y, ((0, 0), (0, n - y.shape[-1]))) if y.shape[-1] < n else y

    return run


def level_gain(signal: Any, sample_rate: int, *, target_dbfs: float = MODEL_LEVEL_DBFS
               ) -> np.ndarray:
    """Per channel, the one gain that brings it to ``target_dbfs`` RMS, measured over its 50 ms
    frames that are not digital silence (long silent gaps do not count), at most
    :data:`MAX_LEVEL_GAIN_DB` either way; 1 for a silent channel. float32 ``(channels, 1)``.
    Per channel, so that a stereo file gives each channel what it would give alone.
    ``signal``: ``(channels, n)`` array or a reader with the same slicing (read block by block)."""
    channels, n = signal.shape
    frame = max(min(int(0.05 * sample_rate), n), 1)
    total, count = np.zeros(channels), np.zeros(channels)
    step = max(_READ_SAMPLES // frame, 1) * frame
    for lo in range(0, n - n % frame, step):
        hi = min(lo + step, n - n % frame)
        x = np.asarray(signal[..., lo:hi], dtype=np.float64).reshape(channels, -1, frame)
        power = np.mean(x**2, axis=-1)
        active = power > 10 ** (SILENT_FRAME_DBFS / 10)
        total += np.where(active, power, 0.0).sum(axis=-1)
        count += active.sum(axis=-1)
    gains = np.ones((channels, 1), dtype=np.float32)
    for channel in np.flatnonzero(count):
        gain_db = np.clip(target_dbfs - 10 * np.log10(total[channel] / count[channel]),
                          -MAX_LEVEL_GAIN_DB, MAX_LEVEL_GAIN_DB)
        gains[channel] = 10 ** (gain_db / 20)
    return gains


def wideband_signal(signal: Any, sample_rate: int) -> bool:
    """:func:`tools.models.wiener.is_wideband` of ``signal`` (array or reader), judged on up to
    :data:`WIDEBAND_WINDOWS` windows of 0.1 s spread over it (all of it when shorter)."""
    n = signal.shape[-1]
    width = max(sample_rate // 10, 1)
    if n <= WIDEBAND_WINDOWS * width:
        return is_wideband(np.asarray(signal[..., 0:n]), sample_rate)
    starts = np.linspace(0, n - width, WIDEBAND_WINDOWS).astype(int)
    excerpt = np.concatenate([np.asarray(signal[..., a:a + width]) for a in starts], axis=-1)
    return is_wideband(excerpt, sample_rate)


def _check(backend: str, attenuation_limit_db: float) -> None:
    if backend not in BACKENDS:
        raise ToolArgumentError(f"backend={backend!r} is unknown; expected one of: "
                                f"{', '.join(BACKENDS)}")
    if not MIN_ATTENUATION_DB <= attenuation_limit_db <= MAX_ATTENUATION_DB:
        raise ToolArgumentError(f"attenuation_limit_db={attenuation_limit_db:g} must be from "
                                f"{MIN_ATTENUATION_DB:g} to {MAX_ATTENUATION_DB:g} dB")


def resolve_backend(backend: str, *, model: Denoiser | None = None,
                    model_dir: str | os.PathLike | None = None, wideband: bool = True
                    ) -> tuple[str, Denoiser | None, str | None]:
    """(backend that will run, its model if it needs a loaded one, why ``auto`` did not run
    DeepFilterNet 3, or None)."""
    if backend == "deepfilternet":
        return backend, model or load_deepfilternet(model_dir), None
    if backend != "auto":
        return backend, None, None
    if not wideband:
        return "hybrid", None, ("narrowband audio (nothing above 5.5 kHz): the hybrid measures "
                                "3 to 5 dB better than DeepFilterNet 3 there")
    if model is not None:
        return "deepfilternet", model, None
    found = find_model_dir(model_dir)
    if found is not None:
        return "deepfilternet", load_deepfilternet(found), None
    looked = ", ".join(str(path) for path in search_dirs(model_dir))
    reason = (f"fallback: DeepFilterNet 3 weights were not found (looked in {looked}), so the "
              f"offline default ran instead; to use DeepFilterNet 3: {sources.EXTRA_HINT}, or "
              f"run once with backend=deepfilternet on a connected machine, or set "
              f"ECHO_AGENT_DFN_DIR")
    return "hybrid", None, reason


@dataclass(frozen=True)
class DenoisePlan:
    """What :func:`plan_denoise` decided: the backend (a key of ``BACKEND_NAMES``), why ``auto``
    did not run DeepFilterNet 3 (or None), and the chunk function at the signal's rate."""

    backend: str
    fallback: str | None
    process: Callable[[np.ndarray], np.ndarray]

    @property
    def description(self) -> str:
        return BACKEND_NAMES[self.backend]


def plan_denoise(signal: Any, sample_rate: int, *, backend: str = "auto",
                 attenuation_limit_db: float = DEFAULT_ATTENUATION_DB,
                 model: Denoiser | None = None, model_dir: str | os.PathLike | None = None
                 ) -> DenoisePlan:
    """Choose the backend for ``signal`` (``(channels, n)`` array or reader) and build its chunk
    function (see :func:`denoise` for the arguments)."""
    _check(backend, attenuation_limit_db)
    rate = sample_rate
    wideband = wideband_signal(signal, rate)
    ran, loaded, fallback = resolve_backend(backend, model=model, model_dir=model_dir,
                                            wideband=wideband)
    if ran == "deepfilternet":
        process = _at_model_rate(loaded, rate, attenuation_limit_db,
                                 gain=level_gain(signal, rate))
    elif ran == "rnnoise":
        process = _at_model_rate(RNNoise(), rate, attenuation_limit_db)
    elif ran == "hybrid":
        guide = _at_model_rate(RNNoise(), rate, MAX_ATTENUATION_DB)

        def process(chunk: np.ndarray) -> np.ndarray:
            return wiener_denoise(chunk, rate, attenuation_limit_db=attenuation_limit_db,
                                  guide=guide(chunk), wideband=wideband)
    else:

        def process(chunk: np.ndarray) -> np.ndarray:
            return wiener_denoise(chunk, rate, attenuation_limit_db=attenuation_limit_db)

    return DenoisePlan(ran, fallback, process)


def denoise_blocks(signal: Any, sample_rate: int, plan: DenoisePlan, *,
                   segment_s: float = SEGMENT_S, progress: Callable[[int, int], None] | None = None
                   ) -> Iterator[tuple[int, np.ndarray]]:
    """``(start, block)`` pairs of the denoised ``signal``, in order, through
    :func:`tools.core.overlap_add.overlap_add_blocks` (memory: one segment)."""
    segment = max(int(segment_s * sample_rate), 1)
    return overlap_add_blocks(signal, plan.process, segment=segment,
                              overlap=min(int(OVERLAP_S * sample_rate), segment - 1),
                              context=int(CONTEXT_S * sample_rate), progress=progress)


def denoise(audio: Audio, *, backend: str = "auto",
            attenuation_limit_db: float = DEFAULT_ATTENUATION_DB, model: Denoiser | None = None,
            model_dir: str | os.PathLike | None = None, segment_s: float = SEGMENT_S,
            progress: Callable[[int, int], None] | None = None) -> DenoiseResult:
    """Denoise ``audio`` (``(channels, n)``, any rate); the output has the same shape and rate and
    is sample-aligned with the input.

    Args:
        backend: one of ``BACKENDS`` (see the module docstring).
        attenuation_limit_db: the most the noise is turned down, in dB (3 to 100).
        model: a loaded DeepFilterNet-like :class:`~tools.models.Denoiser` to use for ``auto`` or
            ``deepfilternet`` (the session's cached one, or a tiny one in tests).
        model_dir: a DeepFilterNet 3 folder to look in first.
        segment_s: seconds per processed segment (memory is bounded by one segment).
        progress: ``progress(segments_done, segments_total)``.
    """
    plan = plan_denoise(audio.samples, audio.sample_rate, backend=backend,
                        attenuation_limit_db=attenuation_limit_db, model=model,
                        model_dir=model_dir)
    out = np.empty(audio.samples.shape, dtype=np.float32)
    for start, block in denoise_blocks(audio.samples, audio.sample_rate, plan,
                                       segment_s=segment_s, progress=progress):
        out[:, start:start + block.shape[-1]] = block
    return DenoiseResult(audio.replace(out), plan.backend, plan.fallback)


def session_model(session: Session, backend: str, view: Any) -> Denoiser | None:
    """The session's DeepFilterNet 3, loaded once, when ``backend`` may use it and it exists."""
    if backend not in ("auto", "deepfilternet"):
        return None
    if MODEL_KEY not in session.models:
        if backend == "auto" and (not wideband_signal(view, view.sample_rate)
                                  or find_model_dir() is None):
            return None
        session.models[MODEL_KEY] = load_deepfilternet()
    return session.models[MODEL_KEY]


def _run(session: Session, args: Args) -> ToolResult:
    view = session.track(args.track)  # read window by window: long tracks never sit in memory
    plan = plan_denoise(view, view.sample_rate, backend=args.backend,
                        attenuation_limit_db=args.attenuation_limit_db,
                        model=session_model(session, args.backend, view))
    blocks = denoise_blocks(view, view.sample_rate, plan,
                            progress=lambda done, total: session.progress("denoise", done, total))
    summary = (f"denoised with {plan.description}, noise turned down by up to "
               f"{args.attenuation_limit_db:g} dB")
    if plan.fallback:
        summary += f" ({plan.fallback})"
    return commit_blocks(session, args.track, (block for _, block in blocks),
                         sample_rate=view.sample_rate, channels=view.channels, tool="denoise",
                         args=args, summary=summary,
                         data={"backend": plan.backend, "fallback": plan.fallback})


TOOL = Tool(
    name="denoise",
    description=(
        "Reduce background noise under speech: hiss, hum, fans, air conditioning, traffic, crowd "
        "babble, room tone. Use for 'denoise this', 'clean up the hiss', 'remove the background "
        "noise', 'reduce the noise a little/a lot' ('a little' -> attenuation_limit_db 6 to 10, "
        "'a lot' -> 40 to 60). Made for speech recordings (voice, podcasts, interviews)."
    ),
    args_model=Args,
    run=_run,
)
