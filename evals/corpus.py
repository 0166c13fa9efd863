"""Where the evaluation corpus lives.

The corpus is real recordings that are not part of this repository (several licences are
non-commercial: measure with them, never copy them in). It is found at ``$ECHO_AGENT_CORPUS`` if
that is set, else at ``../shared/corpus`` next to the repository checkout.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "ECHO_AGENT_CORPUS"
DEFAULT_CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"


class CorpusMissing(FileNotFoundError):
    """The corpus (or a part of it that a suite needs) is not where we looked."""

    def __init__(self, path: Path, *, detail: str = "") -> None:
        self.path = path
        message = f"corpus not found at {path}"
        if detail:
            message += f" ({detail})"
        super().__init__(message)


def corpus_root() -> Path:
    """The corpus folder: ``$ECHO_AGENT_CORPUS`` if set, else ``DEFAULT_CORPUS``.

    Raises :class:`CorpusMissing` naming the folder looked at and how to point elsewhere.
    """
    explicit = os.environ.get(ENV_VAR)
    if explicit:
        root = Path(explicit).expanduser()
        if not root.is_dir():
            raise CorpusMissing(root, detail=f"from ${ENV_VAR}; set it to the corpus folder")
        return root
    if not DEFAULT_CORPUS.is_dir():
        raise CorpusMissing(
            DEFAULT_CORPUS,
            detail=f"the default next to the repository; set ${ENV_VAR}=/path/to/corpus to use another",
        )
    return DEFAULT_CORPUS


def corpus_path(*parts: str) -> Path:
    """A file or folder inside the corpus, e.g. ``corpus_path("speech-reference", "jfk.flac")``.

    Raises :class:`CorpusMissing` if the corpus, or that part of it, is absent.
    """
    path = corpus_root().joinpath(*parts)
    if not path.exists():
        raise CorpusMissing(path, detail="the corpus is there but this part of it is not")
    return path
