"""The batch manifest: ``OUTDIR/echo-agent-batch.json``, the one record of a batch.

Only the driver writes it, atomically (a temporary file, fsync, rename) after every finished
file, so an interrupted batch loses at most the files in flight. Each entry (keyed by the
input's relative name) holds its state (``done`` or ``failed``), the inputs' SHA-256, the
recipe's SHA-256, the outputs with their sizes, the one-line error of a failure and the job's
report (steps, checks, timings). A rerun skips an entry that is done with the same input, the
same recipe and its outputs in place; everything else runs again. A lock file keeps two
batches from writing the same OUTDIR at once.

Input hashes are cached by size and modification time (as git's index does), so a rerun over
hours of audio reads only the files that changed.

Standard library only.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

from tools.core.errors import SetupError

MANIFEST_NAME = "echo-agent-batch.json"
LOCK_NAME = ".echo-agent-batch.lock"
VERSION = 1


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _stat(path: Path) -> list[int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return [info.st_size, info.st_mtime_ns]


class Manifest:
    def __init__(self, outdir: Path) -> None:
        self.outdir = outdir
        self.path = outdir / MANIFEST_NAME
        self.data: dict[str, Any] = {"version": VERSION, "files": {}}
        self._lock = None
        self._hashed: dict[str, list] = {}  # key -> the input stats its hash was computed from
        if self.path.exists():
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise SetupError(f"{self.path}: not a readable batch manifest ({exc}); move it "
                                 "away to start the batch afresh") from None
            if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
                raise SetupError(f"{self.path}: not an echo-agent batch manifest; move it away")
            if data.get("version", VERSION) > VERSION:
                raise SetupError(f"{self.path}: manifest version {data['version']} is newer than "
                                 "this echo-agent; upgrade echo-agent")
            self.data = data

    # ------------------------------------------------------------------ locking
    def lock(self) -> None:
        handle = open(self.outdir / LOCK_NAME, "a+")  # noqa: SIM115 - held for the whole batch
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise SetupError(f"{self.outdir}: another echo-agent batch is writing here; wait for "
                             "it to finish or choose another -o folder") from None
        self._lock = handle

    def unlock(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    # ------------------------------------------------------------------ entries
    @property
    def files(self) -> dict[str, dict[str, Any]]:
        return self.data["files"]

    def input_sha256(self, key: str, inputs: tuple[Path, ...]) -> str:
        """One SHA-256 for the job's inputs (read again only when a size or mtime changed)."""
        entry = self.files.get(key, {})
        stats = [_stat(p) for p in inputs]
        if entry.get("input_stat") == stats and entry.get("input_sha256"):
            return entry["input_sha256"]
        digests = []
        for path in inputs:
            try:
                digests.append(sha256_file(path))
            except OSError:
                digests.append("unreadable")  # the job says why, in one line
        digest = digests[0] if len(digests) == 1 else hashlib.sha256(
            "".join(digests).encode()).hexdigest()
        self._hashed[key] = stats
        return digest

    def why_run(self, key: str, input_sha: str, recipe_sha: str) -> str | None:
        """Why this job must run (None: done already, with its outputs in place)."""
        entry = self.files.get(key)
        if entry is None:
            return "new"
        if entry.get("state") != "done":
            return "failed before" if entry.get("state") == "failed" else "not finished"
        if entry.get("input_sha256") != input_sha:
            return "input changed"
        if entry.get("recipe_sha256") != recipe_sha:
            return "settings changed"
        for out in entry.get("outputs", []):
            path = self.outdir / out["path"]
            size = _stat(path)
            if size is None:
                return f"output {out['path']} missing"
            if size[0] != out.get("bytes"):
                return f"output {out['path']} changed"
        return None

    def record(self, key: str, *, inputs: tuple[Path, ...], input_sha: str, recipe_sha: str,
               result: dict[str, Any]) -> None:
        previous = self.files.get(key, {})
        stats = self._hashed.get(key) or previous.get("input_stat") or [_stat(p) for p in inputs]
        outputs = []
        for path in result.get("outputs", []):
            path = Path(path)
            info = _stat(path)
            outputs.append({"path": os.path.relpath(path, self.outdir),
                            "bytes": info[0] if info else None})
        self.files[key] = {
            "state": "done" if result["ok"] else "failed",
            "inputs": [str(p) for p in inputs],
            "input_sha256": input_sha,
            "input_stat": stats,
            "recipe_sha256": recipe_sha,
            "outputs": outputs,
            "error": result.get("error", ""),
            "attempts": int(previous.get("attempts", 0)) + 1,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "worker": result.get("worker", ""),
            "wall_s": result.get("wall_s"),
            "cpu_s": result.get("cpu_s"),
            "peak_rss_mb": result.get("peak_rss_mb"),
            "report": result.get("report", {}),
        }
        self.save()

    def set_batch(self, **values: Any) -> None:
        self.data.setdefault("batch", {}).update(values)

    def save(self) -> None:
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.partial")
        text = json.dumps(self.data, indent=1, ensure_ascii=False, default=str) + "\n"
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)
