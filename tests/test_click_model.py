"""The learned click detector's weights and cut: the shipped model loads with today's features,
a model trained on other features is refused, and sensitivity moves the cut the right way."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tools import declick as dc
from tools.algorithms import click_model
from tools.algorithms.click_features import FEATURES
from tools.core.audio import Audio


def test_shipped_weights_load_and_score_in_range():
    model = click_model.load()
    assert model.coef.shape == (len(FEATURES),)
    p = model.probability(np.zeros((3, len(FEATURES))))
    assert p.shape == (3,) and np.all((0 < p) & (p < 1))


def test_weights_for_other_features_are_refused(tmp_path):
    data = json.loads(click_model.WEIGHTS_PATH.read_text())
    data["features"] = data["features"][:-1]
    path = tmp_path / "old.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="retrain"):
        click_model.load(path)


def test_cut_follows_sensitivity():
    cuts = [click_model.min_probability(s) for s in (0.0, 0.25, 0.5, 0.75, 1.0)]
    assert cuts[0] == pytest.approx(0.99) and cuts[2] == pytest.approx(0.8)
    assert cuts[4] == pytest.approx(0.3) and all(a > b for a, b in zip(cuts, cuts[1:], strict=False))
    for s in (0.0, 0.3, 0.5, 0.9, 1.0):
        assert dc.sensitivity_of(dc.settings_for(s)[0]) == pytest.approx(s)


def test_more_sensitivity_finds_more_faint_clicks_at_8_khz():
    rate = 8000
    rng = np.random.default_rng(3)
    x = 0.05 * rng.standard_normal(4 * rate)
    x = np.convolve(x, np.ones(4) / 4, mode="same")  # low-passed noise: a fricative-like bed
    positions = np.arange(2000, 30000, 2000)
    for p in positions:
        x[p] += 0.12
    audio = Audio.from_array(x[None].astype(np.float32), rate)
    found = [len(dc.declick(audio, sensitivity=s).clicks) for s in (0.0, 0.5, 1.0)]
    assert found[0] < found[1] < found[2] and found[2] >= 11  # of 14


def test_each_rate_gets_its_model():
    assert click_model.path_for(8000) == click_model.WEIGHTS_PATH
    assert click_model.path_for(11025) == click_model.WEIGHTS_PATH
    assert click_model.path_for(16000) == click_model.WEIGHTS_16K_PATH
    assert click_model.path_for(22050) == click_model.path_for(32000) == click_model.WEIGHTS_16K_PATH
    assert click_model.load_for(44100) is None and click_model.load_for(48000) is None
    wide = click_model.load_for(16000)
    assert wide.coef.shape == (len(FEATURES),)
    assert not np.allclose(wide.coef, click_model.load_for(8000).coef)
    assert "16000 Hz (varispeed" in json.loads(click_model.WEIGHTS_16K_PATH.read_text())["trained_on"]
