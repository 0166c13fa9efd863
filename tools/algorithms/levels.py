"""Frame levels of a whole track, read block by block: what the dynamics tools set thresholds from.

``frame_levels_db`` gives the RMS of every ``frame_s`` frame in dBFS (the loudest channel of each
frame, so a one-sided stereo track is measured by its loud side); ``loud_level_db`` is the level of
the loud parts (the 90th percentile of the frames within 60 dB of the loudest: the voice, not the
pauses) and ``noise_floor_db`` the level of the quiet parts (the 10th percentile: room tone).
"""

from __future__ import annotations

import numpy as np

from tools.algorithms.streaming import Source, read_blocks

FRAME_S = 0.05
SILENCE_DB = -120.0


def frame_levels_db(source: Source, sample_rate: int, *, frame_s: float = FRAME_S,
                    start: int = 0, stop: int | None = None) -> np.ndarray:
    """RMS level (dBFS, loudest channel) of consecutive ``frame_s`` frames of
    ``source[:, start:stop]``; a last partial frame counts if at least half a frame long."""
    frame = max(int(round(frame_s * sample_rate)), 1)
    levels, carry = [], None
    for block in read_blocks(source, block=frame * 1024, start=start, stop=stop):
        block = block if carry is None else np.concatenate([carry, block], axis=-1)
        count = block.shape[-1] // frame
        power = np.square(block[:, :count * frame], dtype=np.float64)
        levels.append(power.reshape(block.shape[0], count, frame).mean(axis=2).max(axis=0))
        carry = block[:, count * frame:]
    if carry is not None and carry.shape[-1] >= frame // 2 and carry.shape[-1]:
        levels.append(np.square(carry, dtype=np.float64).mean(axis=1).max(keepdims=True))
    power = np.concatenate(levels) if levels else np.zeros(0)
    return np.where(power > 1e-12, 10 * np.log10(np.maximum(power, 1e-30)), SILENCE_DB)


def loud_level_db(levels_db: np.ndarray) -> float:
    """The level of the loud parts: 90th percentile of the frames within 60 dB of the loudest."""
    if levels_db.size == 0 or levels_db.max() <= SILENCE_DB:
        return SILENCE_DB
    active = levels_db[levels_db > levels_db.max() - 60.0]
    return float(np.percentile(active, 90))


def noise_floor_db(levels_db: np.ndarray) -> float:
    """The level of the quiet parts: 10th percentile of the frames that are not digital silence
    (``SILENCE_DB`` when all are)."""
    sound = levels_db[levels_db > SILENCE_DB]
    return float(np.percentile(sound, 10)) if sound.size else SILENCE_DB
