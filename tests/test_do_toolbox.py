"""Issue 13's requests through `echo-agent do` (offline planner) on espeak-ng speech: the outcomes
its "Done when" asks for, measured; and the planner's reading of the everyday phrasings."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import fftconvolve, welch

from agent.offline import OfflineAgent
from agent.planner import plan_request
from evals.metrics import si_sdr_db
from tools.algorithms.pitch import f0_ratio, median_f0
from tools.algorithms.room import synthetic_ir
from tools.core.audio import Audio, load, save
from tools.core.session import Session


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    from conftest import SPEECH_TEXT, espeak

    path = espeak(SPEECH_TEXT, tmp_path_factory.mktemp("toolbox") / "speech.wav")
    audio = load(path)
    return audio.samples[0].astype(np.float64), audio.sample_rate


def _do(cli, tmp_path, request, samples, rate):
    source = save(Audio.from_array(np.asarray(samples, np.float32), rate), tmp_path / "in.wav")
    result = cli("do", request, "-i", source, "-o", tmp_path / "out.wav")
    assert result.exit_code == 0, result.stderr
    return load(tmp_path / "out.wav").samples


def test_speed_it_up_by_10_percent(cli, tmp_path, speech):
    x, rate = speech
    out = _do(cli, tmp_path, "speed it up by 10 percent", x, rate)
    assert out.shape[-1] / x.size == pytest.approx(1 / 1.1, rel=0.01)
    assert median_f0(out, rate) / median_f0(x, rate) == pytest.approx(1.0, abs=0.02)


def test_pitch_it_down_a_semitone(cli, tmp_path, speech):
    x, rate = speech
    out = _do(cli, tmp_path, "pitch it down a semitone", x, rate)
    assert f0_ratio(x, out, rate) == pytest.approx(0.944, rel=0.01)
    assert out.shape[-1] / x.size == pytest.approx(1.0, rel=0.005)


def test_remove_the_hum(cli, tmp_path, speech):
    x, rate = speech
    t = np.arange(x.size) / rate
    hum = sum(0.02 * 0.8 ** (k - 1) * np.sin(2 * np.pi * 50 * k * t + k) for k in range(1, 9))
    out = _do(cli, tmp_path, "remove the hum", x + hum, rate)[0]

    def level(y, f):
        return abs(np.mean(y * np.exp(-2j * np.pi * f * t)))

    for k in range(1, 9):
        assert 20 * np.log10(level(x + hum, 50 * k) / level(out, 50 * k)) >= 30, k
    assert si_sdr_db(x[None], out[None]) >= 20


def test_cut_everything_below_100_hz(cli, tmp_path, speech):
    x, rate = speech
    t = np.arange(x.size) / rate
    rumble = 0.05 * np.sin(2 * np.pi * 35 * t) + 0.05 * np.sin(2 * np.pi * 55 * t)
    noisy = x + rumble
    out = _do(cli, tmp_path, "cut everything below 100 Hz", noisy, rate)[0]

    def below_60_db(y):
        freqs, power = welch(y, fs=rate, nperseg=8192)
        return 10 * np.log10(power[freqs < 60].sum())

    assert below_60_db(noisy) - below_60_db(out) >= 20


def test_take_the_echo_out(cli, tmp_path, speech):
    x, rate = speech
    ir = synthetic_ir(rate, decay_s=1.0, seed=11)[0]
    reverberant = x + fftconvolve(x, ir)[:x.size]  # direct sound and room at equal energy
    out = _do(cli, tmp_path, "take the echo out", reverberant, rate)
    assert si_sdr_db(x[None], out) >= si_sdr_db(x[None], reverberant[None]) + 2


def test_same_room_for_two_tracks(tmp_path, speech):
    x, rate = speech
    half = x.size // 2
    host = x[:half] + fftconvolve(x[:half], synthetic_ir(rate, decay_s=0.9, seed=12)[0])[:half]
    with Session.create(tmp_path / "s") as session:
        session.add_track("host", Audio.from_array(host.astype(np.float32), rate))
        session.add_track("guest", Audio.from_array(x[half:].astype(np.float32), rate))
        reply = OfflineAgent().respond(
            session, "make the guest sound like they were in the same room as the host")
        assert not reply.failed and [c.name for c in reply.calls] == ["match_room"]
        assert "added a" in reply.text and session.history()[-1].tool == "match_room"


@pytest.mark.parametrize("request_, tool, args", [
    ("10% faster", "change_tempo", {"tempo_ratio": 1.1}),
    ("speed it up by 10 percent", "change_tempo", {"tempo_ratio": 1.1}),
    ("slow it down to 90%", "change_tempo", {"tempo_ratio": 0.9}),
    ("a semitone lower", "shift_pitch", {"semitones": -1.0}),
    ("pitch it down a semitone", "shift_pitch", {"semitones": -1.0}),
    ("up two semitones", "shift_pitch", {"semitones": 2.0}),
    ("cut everything under 100 Hz", "equalize", {"highpass_hz": 100.0, "slope_db_per_octave": 48}),
    ("cut the rumble below 80 Hz", "equalize", {"highpass_hz": 80.0}),
    ("less boomy", "equalize", {"preset": "less_boomy"}),
    ("brighten it", "equalize", {"preset": "brighten"}),
    ("make it sound like a telephone", "equalize", {"preset": "telephone"}),
    ("compress the voice", "compress", {}),
    ("level out the voice", "compress", {"preset": "level_voice"}),
    ("remove the hum", "remove_hum", {}),
    ("remove the 50 Hz hum", "remove_hum", {"fundamental_hz": 50.0}),
    ("take the echo out", "dereverb", {}),
    ("take the room out of it", "dereverb", {}),
    ("add a bit of reverb", "add_reverb", {"wet_db": -18.0}),
    ("add some echo", "add_echo", {}),
    ("make it sound like a big hall", "add_reverb", {"preset": "big_hall"}),
    ("make the guest sound like they were in the same room as the host", "match_room",
     {"track": "guest", "reference": "host"}),
    ("trim the silence at the start and end", "trim_silence", {}),
    ("trim the silence", "trim_silence", {}),
    ("remove the silence at the end", "trim_silence", {"where": "end"}),
    ("remove all the silence at the start", "trim_silence", {"where": "start"}),
    ("remove all the silence", "remove_disfluencies", {"kinds": ["pause"]}),
    ("cut out the silence between sentences", "remove_disfluencies", {"kinds": ["pause"]}),
    ("cut the quiet parts", "remove_disfluencies", {"kinds": ["pause"]}),
    ("make it sound like it was recorded in a hall", "add_reverb", {"preset": "hall"}),
    ("make it sound as if it was in a cathedral", "add_reverb", {"preset": "cathedral"}),
    ("make it sound like an old radio", "equalize", {"preset": "radio"}),
    ("pitch it down a tone", "shift_pitch", {"semitones": -2.0}),
    ("de-ess it", "deess", {}),
    ("gate the noise between phrases", "gate", {}),
    ("play it at 1.5x like a tape", "change_speed", {"speed_ratio": 1.5}),
    ("boost 3 dB at 4 kHz", "equalize",
     {"bands": [{"type": "peak", "frequency_hz": 4000.0, "gain_db": 3.0}]}),
    ("compress it 4:1 with a threshold of -20 dB", "compress", {"ratio": 4.0, "threshold_db": -20.0}),
])
def test_everyday_phrasings(request_, tool, args):
    assert [(c.tool, c.args) for c in plan_request(request_, duration_s=12.0)] == [(tool, args)]
