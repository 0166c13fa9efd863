"""No-reference speech quality judges: DNSMOS P.835 (SIG, BAK, OVRL) and PLCMOS v2.

- DNSMOS P.835 (Reddy et al., ICASSP 2022): predicts the ITU-T P.835 ratings a listening panel
  would give, from 1 to 5: SIG (the speech itself), BAK (the background; 5 = unnoticeable) and
  OVRL (overall), plus P.808 (overall quality, one model more). The scoring is speechmos' own
  code (``speechmos.dnsmos.DNSMOS``: 9.01 s windows hopped by 1 s, the polynomial calibration of
  Microsoft's DNSMOS script), run on the hash-checked ONNX files in echo-agent's cache.
- PLCMOS v2 (Diener et al., Interspeech 2023): the quality of packet-loss concealment, 1 to 5, as
  rated by listeners; for judging gap and dropout repair. speechmos averages 15 random "rater
  embeddings"; here they come from a seeded generator, so a file always gets the same score.

Both models take 16 kHz mono: the input is mixed down and resampled (polyphase) first; samples
beyond [-1, 1] are clipped (DNSMOS refuses them). The models come from ``speechmos`` 0.0.1.1
(the ``models`` extra; MIT, Microsoft), which needs onnxruntime, librosa and requests but does
not declare them. Sessions are made once per process (:func:`scorer`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from math import gcd

import numpy as np

from tools.core.errors import SetupError, ToolArgumentError
from tools.models import packaged, sources

RATE_HZ = 16_000
MIN_DURATION_S = 1.0
PLCMOS_ROUNDS = 15


@dataclass(frozen=True)
class Dnsmos:
    """DNSMOS P.835 scores, 1 (bad) to 5 (excellent)."""

    sig: float
    bak: float
    ovrl: float
    p808: float

    def as_dict(self) -> dict[str, float]:
        return {"SIG": self.sig, "BAK": self.bak, "OVRL": self.ovrl, "P808": self.p808}


def to_16k_mono(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """``(channels, n)`` or ``(n,)`` at any rate -> float32 ``(m,)`` at 16 kHz in [-1, 1]."""
    from scipy.signal import resample_poly

    x = np.asarray(samples, dtype=np.float64)
    mono = x.mean(axis=0) if x.ndim == 2 else x
    if sample_rate != RATE_HZ:
        divisor = gcd(int(sample_rate), RATE_HZ)
        mono = resample_poly(mono, RATE_HZ // divisor, int(sample_rate) // divisor)
    return np.clip(mono, -1.0, 1.0).astype(np.float32)


def _need_speechmos():
    try:
        from speechmos import dnsmos as dnsmos_module
        from speechmos import plcmos as plcmos_module
    except ImportError as exc:
        raise SetupError(f"the DNSMOS/PLCMOS judges need speechmos with onnxruntime, librosa "
                         f"and requests ({exc}); install them: {sources.EXTRA_HINT}") from None
    return dnsmos_module, plcmos_module


def _folder(model: sources.PackagedModel):
    folder = sources.packaged(model)
    if folder is None:
        raise SetupError(f"the {model.key} model is not installed (needs "
                         f"{', '.join(sources.missing_packages(model))}); install it: "
                         f"{sources.EXTRA_HINT}")
    return folder


@functools.lru_cache(maxsize=1)
def scorer():
    """speechmos' DNSMOS over the checked files in echo-agent's cache (made once)."""
    dnsmos_module, _ = _need_speechmos()
    folder = _folder(packaged.DNSMOS)
    return dnsmos_module.DNSMOS(str(folder / "sig_bak_ovr.onnx"), str(folder / "model_v8.onnx"))


def _checked(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    if sample_rate <= 0:
        raise ToolArgumentError(f"sample_rate={sample_rate} must be positive")
    audio = to_16k_mono(samples, sample_rate)
    if audio.size < MIN_DURATION_S * RATE_HZ:
        raise ToolArgumentError(f"the audio is {audio.size / RATE_HZ:.2f} s long; quality "
                                f"scores need at least {MIN_DURATION_S:g} s of speech")
    return audio


def dnsmos(samples: np.ndarray, sample_rate: int) -> Dnsmos:
    """DNSMOS P.835 of ``samples`` (``(channels, n)`` or ``(n,)``, any rate)."""
    audio = _checked(samples, sample_rate)
    result = scorer()(audio, RATE_HZ, False)
    return Dnsmos(float(result["sig_mos"]), float(result["bak_mos"]), float(result["ovrl_mos"]),
                  float(result["p808_mos"]))


@functools.lru_cache(maxsize=1)
def _plcmos_session():
    _need_speechmos()
    import onnxruntime

    folder = _folder(packaged.PLCMOS)
    return onnxruntime.InferenceSession(str(folder / "plcmos_v2.onnx"),
                                        providers=["CPUExecutionProvider"])


def plcmos(samples: np.ndarray, sample_rate: int, *, seed: int = 0) -> float:
    """PLCMOS v2 of ``samples`` (any rate and channels): 1 to 5, higher is better concealment.
    The features are speechmos' (``PLCMOS.stft_transform``); the rater embeddings come from
    ``numpy.random.default_rng(seed)``."""
    _, plcmos_module = _need_speechmos()
    audio = _checked(samples, sample_rate)
    # an instance without __init__ (which would load speechmos' own copy of the model): the
    # feature methods use no instance state
    extractor = plcmos_module.PLCMOS.__new__(plcmos_module.PLCMOS)
    features = np.float32(extractor.stft_transform(audio))[np.newaxis, np.newaxis, ...]
    session = _plcmos_session()
    rng = np.random.default_rng(seed)
    scores = [float(session.run(None, {
        "degraded_audio": features,
        "rater_embed": rng.normal(size=(1, 64)).astype(np.float32)})[0].squeeze())
        for _ in range(PLCMOS_ROUNDS)]
    return float(np.mean(scores))



def quality_facts(samples: np.ndarray, sample_rate: int) -> dict[str, float]:
    """DNSMOS as flat facts for ``echo-agent info --quality``: ``dnsmos_sig``, ``_bak``, ``_ovrl``,
    ``_p808`` (1 to 5), rounded to 2 decimals."""
    scores = dnsmos(samples, sample_rate)
    return {f"dnsmos_{k.lower()}": round(v, 2) for k, v in scores.as_dict().items()}


def describe_quality(facts: dict[str, float]) -> str:
    return (f"DNSMOS SIG {facts['dnsmos_sig']:.2f}, BAK {facts['dnsmos_bak']:.2f}, "
            f"OVRL {facts['dnsmos_ovrl']:.2f} (1-5)")
