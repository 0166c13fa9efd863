"""transcribe: pocketsphinx alignment and decoding, the faster-whisper path with a tiny random-weight
model built offline, model look-up and its errors, the transcript cache, and the exports."""

from __future__ import annotations

import ast
import base64
import json
import re
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import SPEECH_TEXT, espeak
from tools.algorithms.transcript import Segment, Transcript, Word
from tools.algorithms.transcript_export import export, from_json, to_json, to_srt, to_text, to_vtt
from tools.algorithms.vad import speech_activity
from tools.core.audio import Audio, load
from tools.core.errors import SetupError
from tools.core.session import Session
from tools.models import sphinx, whisper
from tools.registry import call_tool
from tools.transcribe import get_transcript

RANDOM_MODEL_VERSION = "v1"


# ----------------------------------------------------------------------------- helpers


def _trimmed(path: Path) -> np.ndarray:
    """espeak's samples without their leading and trailing digital silence."""
    audio = load(path)
    loud = np.flatnonzero(np.abs(audio.samples[0]) > 1e-3)
    return audio.samples[0, loud[0]:loud[-1] + 1]


def _assert_well_formed(transcript: Transcript, duration_s: float) -> None:
    words = transcript.words
    assert words
    for word in words:
        assert 0.0 <= word.start_s <= word.end_s <= duration_s + 1e-6, word
        assert 0.0 <= word.probability <= 1.0, word
    starts = [w.start_s for w in words]
    assert starts == sorted(starts)


@pytest.fixture(scope="module")
def two_phrases(tmp_path_factory):
    """Two espeak phrases with exactly 1.0 s of digital silence between them: (audio, gap_start)."""
    folder = tmp_path_factory.mktemp("phrases")
    first = _trimmed(espeak("Good morning and welcome to the show.", folder / "a.wav"))
    second = _trimmed(espeak("Today we talk about microphones.", folder / "b.wav"))
    rate = 22_050
    gap = np.zeros(rate, dtype=np.float32)
    lead = np.zeros(rate // 4, dtype=np.float32)
    samples = np.concatenate([lead, first, gap, second, lead])
    return Audio.from_array(samples, rate), (lead.size + first.size) / rate


# ----------------------------------------------------------------------------- pocketsphinx


def test_align_puts_words_on_both_sides_of_a_known_gap(two_phrases):
    audio, gap_start = two_phrases
    text = "Good morning and welcome to the show. Today we talk about microphones."
    started = time.perf_counter()
    aligned = sphinx.align(audio, text)
    elapsed = time.perf_counter() - started
    _assert_well_formed(aligned, audio.duration_s)
    words = aligned.words
    assert [w.text for w in words] == text.split()
    for before, after in zip(words[:-1], words[1:], strict=True):
        assert after.start_s >= before.end_s - 0.1
    show, today = words[6], words[7]
    assert abs(show.end_s - gap_start) < 0.1
    assert abs(today.start_s - (gap_start + 1.0)) < 0.1
    assert abs(words[0].start_s - 0.25) < 0.1
    assert [s.text for s in aligned.segments] == ["Good morning and welcome to the show.",
                                                  "Today we talk about microphones."]
    assert aligned.backend == "pocketsphinx-align"
    assert elapsed < audio.duration_s  # alignment is far faster than real time


def test_align_handles_words_missing_from_the_dictionary(speech_wav):
    audio = load(speech_wav)
    aligned = sphinx.align(audio, SPEECH_TEXT.replace("microphones", "mikrofonez"))
    assert len(aligned.words) == len(SPEECH_TEXT.split())
    _assert_well_formed(aligned, audio.duration_s)


# ----------------------------------------------------------------------------- random Whisper


def _tiktoken_source(cache: Path) -> tuple[str, list[str]]:
    """multilingual.tiktoken and the language codes, from the openai-whisper sdist (cached)."""
    sdists = sorted(cache.glob("openai_whisper-*.tar.gz"))
    if not sdists:
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
             "--quiet", "openai-whisper", "-d", str(cache)],
            capture_output=True, text=True, timeout=120, check=False)
        sdists = sorted(cache.glob("openai_whisper-*.tar.gz"))
        if not sdists:
            pytest.skip("cannot build the random Whisper tokenizer: `pip download openai-whisper` "
                        f"failed ({proc.stderr.strip()[-200:]})")
    with tarfile.open(sdists[-1]) as tar:
        names = tar.getnames()
        ranks = tar.extractfile(next(n for n in names if n.endswith("assets/multilingual.tiktoken")))
        source = tar.extractfile(next(n for n in names if n.endswith("whisper/tokenizer.py")))
        tiktoken, module = ranks.read().decode(), source.read().decode()
    for node in ast.parse(module).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "LANGUAGES":
            return tiktoken, list(ast.literal_eval(node.value))
    pytest.skip("whisper/tokenizer.py in the openai-whisper sdist has no LANGUAGES table")


def _byte_unicode() -> dict[int, str]:
    """GPT-2's byte-to-character table for byte-level BPE."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), 256)]
    table, extra = {}, 0
    for byte in range(256):
        if byte in keep:
            table[byte] = chr(byte)
        else:
            table[byte] = chr(256 + extra)
            extra += 1
    return table


def _tokenizer_json(tiktoken: str, languages: list[str], path: Path) -> None:
    """Whisper's multilingual tokenizer as a Hugging Face tokenizer.json (BPE merges recovered
    from the tiktoken ranks), with its special tokens in Whisper's order."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    ranks = {}
    for line in tiktoken.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    table = _byte_unicode()

    def text(token: bytes) -> str:
        return "".join(table[b] for b in token)

    def split(token: bytes, limit: int) -> list[bytes]:
        parts = [bytes([b]) for b in token]
        while len(parts) > 2:
            pairs = [(ranks.get(parts[i] + parts[i + 1], limit), i) for i in range(len(parts) - 1)]
            rank, i = min(pairs)
            if rank >= limit:
                break
            parts[i:i + 2] = [parts[i] + parts[i + 1]]
        return parts

    merges = []
    for token, rank in sorted(ranks.items(), key=lambda item: item[1]):
        if len(token) > 1:
            left, right = split(token, rank)
            merges.append((text(left), text(right)))
    tokenizer = Tokenizer(models.BPE(vocab={text(t): r for t, r in ranks.items()}, merges=merges))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|startoftranscript|>", *[f"<|{c}|>" for c in languages[:99]],
                "<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>",
                "<|nocaptions|>", "<|notimestamps|>"]
    tokenizer.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    tokenizer.save(str(path))


def build_random_whisper(folder: Path, cache: Path) -> Path:
    """A tiny random-weight Whisper (2+2 layers, width 64, the real 51865-token vocabulary)
    converted to CTranslate2 int8 by the real converter: about 10 s."""
    transformers = pytest.importorskip("transformers", reason="the random Whisper is built with "
                                       "transformers (pip install -e '.[test]')")
    import torch
    from ctranslate2.converters import TransformersConverter

    tiktoken, languages = _tiktoken_source(cache)
    hf = folder / "hf"
    hf.mkdir(parents=True, exist_ok=True)
    _tokenizer_json(tiktoken, languages, hf / "tokenizer.json")
    special = {"unk_token": "<|endoftext|>", "bos_token": "<|endoftext|>",
               "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>"}
    tokenizer = transformers.WhisperTokenizerFast(tokenizer_file=str(hf / "tokenizer.json"), **special)
    tokenizer.save_pretrained(hf)
    torch.manual_seed(0)
    config = transformers.WhisperConfig(
        vocab_size=51865, d_model=64, encoder_layers=2, decoder_layers=2,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=128,
        decoder_ffn_dim=128, decoder_start_token_id=50258, pad_token_id=50257, bos_token_id=50257,
        eos_token_id=50257)
    model = transformers.WhisperForConditionalGeneration(config).eval()
    lang_to_id = {f"<|{c}|>": tokenizer.convert_tokens_to_ids(f"<|{c}|>") for c in languages[:99]}
    model.generation_config = transformers.GenerationConfig(
        decoder_start_token_id=50258, eos_token_id=50257, pad_token_id=50257, suppress_tokens=[],
        begin_suppress_tokens=[220, 50257], alignment_heads=[[1, 0], [1, 1]],
        lang_to_id=lang_to_id, no_timestamps_token_id=50363, is_multilingual=True)
    model.save_pretrained(hf)
    out = folder / "faster-whisper-random"
    TransformersConverter(str(hf), copy_files=["tokenizer.json"]).convert(
        str(out), quantization="int8", force=True)
    config_path = out / "config.json"
    converted = json.loads(config_path.read_text())
    if not converted.get("lang_ids"):  # some converter versions write an empty list
        converted["lang_ids"] = sorted(lang_to_id.values())
        config_path.write_text(json.dumps(converted))
    return out


@pytest.fixture(scope="session")
def random_whisper(request) -> Path:
    """The random-weight model folder, built once and kept in pytest's cache folder."""
    cache = Path(request.config.cache.mkdir(f"echo-agent-whisper-{RANDOM_MODEL_VERSION}"))
    folder = cache / "model" / "faster-whisper-random"
    if not whisper.is_model_folder(folder):
        build_random_whisper(cache / "model", cache)
    return folder


def test_random_whisper_transcribes_end_to_end_with_word_times(random_whisper, two_phrases):
    audio, _ = two_phrases
    model = whisper.WhisperTranscriber(random_whisper, max_new_tokens=12, beam_size=1)
    assert (model.device, model.compute_type) == ("cpu", "int8")
    calls = []
    transcript = model.transcribe(audio, language="en", progress=lambda d, t: calls.append((d, t)))
    _assert_well_formed(transcript, audio.duration_s)
    assert transcript.backend == "faster-whisper:faster-whisper-random"
    assert transcript.language == "en"
    assert calls[-1] == (audio.duration_s, audio.duration_s)
    speech = speech_activity(audio).regions()
    assert transcript.words[0].start_s >= speech[0][0] - 0.3  # the clips come from the VAD


def test_whisper_model_found_in_model_dir_and_env(random_whisper, monkeypatch, tmp_path):
    found, _ = whisper.find_model("random", model_dir=random_whisper)
    assert found == random_whisper
    found, _ = whisper.find_model("random", model_dir=random_whisper.parent)  # DIR/faster-whisper-random
    assert found == random_whisper
    monkeypatch.setenv(whisper.ENV_DIR, str(random_whisper.parent))
    assert whisper.resolve_model("random", download=False) == random_whisper
    loaded = whisper.load_whisper("random", download=False, max_new_tokens=4, beam_size=1)
    assert loaded.name == "faster-whisper:random"


def test_missing_model_offline_names_every_folder(monkeypatch, tmp_path):
    given, env = tmp_path / "given", tmp_path / "from-env"
    given.mkdir()
    env.mkdir()
    monkeypatch.setenv(whisper.ENV_DIR, str(env))
    with pytest.raises(SetupError) as error:
        whisper.resolve_model("small", model_dir=given)
    message = str(error.value)
    for part in (str(given), str(env), "--model-dir", whisper.ENV_DIR, "Hugging Face cache",
                 "HF_HUB_OFFLINE", "--backend pocketsphinx"):
        assert part in message


@pytest.fixture
def session(tmp_path, two_phrases):
    with Session.create(tmp_path / "session") as opened:
        opened.add_track("talk", two_phrases[0])
        yield opened


def test_transcripts_are_cached_per_audio_content(random_whisper, session, monkeypatch):
    decodes = []
    original = whisper.WhisperTranscriber.transcribe

    def counting(self, audio, **kwargs):
        decodes.append(audio.num_samples)
        return original(self, audio, **kwargs)

    monkeypatch.setattr(whisper.WhisperTranscriber, "transcribe", counting)
    session.settings.update(whisper_model_dir=str(random_whisper),
                            whisper_options={"max_new_tokens": 8, "beam_size": 1})
    first = get_transcript(session, backend="auto")
    assert first.backend.startswith("faster-whisper:")
    second = get_transcript(session, backend="auto")
    assert second == first and len(decodes) == 1
    assert len(list((session.root / "transcripts").glob("*.json"))) == 1
    session.models.clear()  # a new process: the transcript comes from disk, no decode
    assert get_transcript(session, backend="whisper") == first and len(decodes) == 1
    get_transcript(session, backend="whisper", language="fr")  # another language: decoded again
    assert len(decodes) == 2


def test_auto_without_whisper_falls_back_to_pocketsphinx_and_says_so(session, monkeypatch,
                                                                     tmp_path):
    monkeypatch.setenv(whisper.ENV_DIR, str(tmp_path / "nothing-here"))
    result = call_tool(session, "transcribe", {})
    assert result.data["backend"] == "pocketsphinx"
    assert "far less accurate" in result.text
    assert "Whisper was not used" in result.text and str(tmp_path / "nothing-here") in result.text
    assert result.data["word_count"] > 0 and result.data["transcript"]
    transcript = get_transcript(session, backend="pocketsphinx")  # the same decode, cached
    _assert_well_formed(transcript, session.audio().duration_s)
    assert any("far less accurate" in note for note in transcript.notes)
    heard = {w.text.lower() for w in transcript.words}
    assert len(heard & {"good", "morning", "welcome", "show", "today", "talk", "about"}) >= 2
    with pytest.raises(SetupError):
        call_tool(session, "transcribe", {"backend": "whisper"})


# ----------------------------------------------------------------------------- exports


@pytest.fixture
def small_transcript() -> Transcript:
    words = [Word("Hello", 0.5, 0.9, 0.91), Word("there,", 0.9, 1.3, 0.8),
             Word("um,", 1.5, 1.8, 0.4), Word("friends.", 1.9, 2.6, 0.99)]
    long_words = [Word(f"word{i}", 3.0 + i * 0.5, 3.4 + i * 0.5, 0.7) for i in range(30)]
    return Transcript((Segment("Hello there, um, friends.", 0.5, 2.6, tuple(words)),
                       Segment(" ".join(w.text for w in long_words), 3.0, 17.9, tuple(long_words))),
                      language="en", backend="test", duration_s=3725.0)


SRT_CUE = re.compile(r"^(\d+)\n(\d\d):(\d\d):(\d\d),(\d{3}) --> (\d\d):(\d\d):(\d\d),(\d{3})\n(.+)$",
                     re.S)


def _seconds(h, m, s, ms) -> float:
    return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000


def test_srt_is_well_formed(small_transcript):
    srt = to_srt(small_transcript)
    blocks = srt.strip("\n").split("\n\n")
    assert len(blocks) >= 3  # the 15 s segment is split into cues of at most 7 s
    last_end = 0.0
    for index, block in enumerate(blocks, start=1):
        match = SRT_CUE.match(block)
        assert match, block
        start, end = _seconds(*match.group(2, 3, 4, 5)), _seconds(*match.group(6, 7, 8, 9))
        assert int(match.group(1)) == index and last_end <= start < end and end - start <= 7.0
        assert all(len(line) <= 42 for line in match.group(10).split("\n"))
        last_end = end
    assert blocks[0].endswith("Hello there, um, friends.")
    assert "00:00:00,500 --> 00:00:02,600" in blocks[0]


def test_vtt_json_and_text(small_transcript):
    vtt = to_vtt(small_transcript)
    assert vtt.startswith("WEBVTT\n\n00:00:00.500 --> 00:00:02.600\nHello there, um, friends.\n")
    assert all(re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3} --> \d\d:\d\d:\d\d\.\d{3}", line)
               for line in vtt.splitlines() if "-->" in line)
    data = json.loads(to_json(small_transcript))
    first = data["segments"][0]["words"][0]
    assert first == {"text": "Hello", "start_s": 0.5, "end_s": 0.9, "probability": 0.91}
    assert data["text"].startswith("Hello there, um, friends.")
    assert from_json(to_json(small_transcript)).words == small_transcript.words
    assert to_text(small_transcript).splitlines()[0] == "Hello there, um, friends."
    assert export(small_transcript, "txt") == to_text(small_transcript)
    with pytest.raises(ValueError, match="expected one of: json, srt, vtt, txt"):
        export(small_transcript, "docx")
