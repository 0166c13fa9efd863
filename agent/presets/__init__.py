"""Batch presets: readable plan files shipped with echo-agent (``agent/presets/*.yaml``).

A preset is a plan (the steps ``echo-agent run`` takes) with a few batch settings; any plan file
given to ``echo-agent batch --plan`` may use them too::

    name: podcast
    description: one line for `echo-agent presets`
    group: file          # file (one job per input) or episode (one job per folder of inputs)
    reference: batch     # tone reference: --reference FILE, else the batch's first output
    each: [...]          # episode presets: steps run on every speaker track
    steps: [...]         # {"tool": NAME, "args": {...}}, run in order
    export: current      # current (the current track) or stems (every track the steps made)
    checks: {...}        # loudness / acx checks of every output, reported in the manifest

Arguments may name the job's tracks: ``$reference`` (the tone reference; a step that needs it is
skipped in the job that makes the reference), ``$first`` (the first input's track), ``$tracks``
(every input track), ``$mix`` (every input track as a remix part). In ``each`` the track
argument is filled in, and a step whose reference is its own track is skipped.

Standard library and PyYAML only: ``echo-agent presets`` lists these without loading numpy.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from tools.core.errors import AudioInputError

PRESETS_DIR = Path(__file__).resolve().parent
GROUPS = ("file", "episode")
EXPORTS = ("current", "stems")
CHECKS = ("loudness", "acx")
_KEYS = {"name", "description", "group", "reference", "each", "steps", "export", "checks"}


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def preset_path(name: str) -> Path:
    path = PRESETS_DIR / f"{name}.yaml"
    if not path.is_file():
        raise AudioInputError(f"preset {name!r} does not exist; expected one of: "
                              f"{', '.join(preset_names())} ('echo-agent presets' lists them)")
    return path


def _read(path: Path) -> Any:
    import yaml

    if not path.is_file():
        raise AudioInputError(f"{path}: no such plan file")
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        return json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise AudioInputError(f"{path}: not a valid plan ({str(exc).splitlines()[0]})") from None


def _steps(path: Path, value: Any, what: str) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise AudioInputError(f'{path}: {what} must be a list of {{"tool": ..., "args": {{...}}}}')
    out = []
    for number, item in enumerate(value, start=1):
        if not isinstance(item, dict) or "tool" not in item or set(item) - {"tool", "args"}:
            raise AudioInputError(f"{path}: {what} step {number} must have tool (and args) only")
        if not isinstance(item.get("args") or {}, dict):
            raise AudioInputError(f"{path}: {what} step {number}: args must be an object")
        out.append({"tool": str(item["tool"]), "args": dict(item.get("args") or {})})
    return out


def load_recipe(path: str | Path) -> dict[str, Any]:
    """A plan or preset file as a recipe dict (every batch setting filled in)."""
    path = Path(path)
    data = _read(path)
    if isinstance(data, list):
        data = {"steps": data}
    if not isinstance(data, dict):
        raise AudioInputError(f'{path}: a plan is a list of {{"tool": ..., "args": {{...}}}} '
                              "steps, or an object with steps")
    unknown = set(data) - _KEYS
    if unknown:
        raise AudioInputError(f"{path}: unknown keys {sorted(unknown)}; expected some of: "
                              f"{', '.join(sorted(_KEYS))}")
    recipe = {
        "name": str(data.get("name") or path.stem),
        "description": " ".join(str(data.get("description") or "").split()),
        "group": data.get("group") or "file",
        "reference": data.get("reference"),
        "each": _steps(path, data["each"], "each") if data.get("each") else [],
        "steps": _steps(path, data.get("steps") or [], "steps"),
        "export": data.get("export") or "current",
        "checks": data.get("checks") or {},
    }
    for key, allowed in (("group", GROUPS), ("export", EXPORTS)):
        if recipe[key] not in allowed:
            raise AudioInputError(f"{path}: {key}={recipe[key]!r}; expected one of: "
                                  f"{', '.join(allowed)}")
    if recipe["reference"] not in (None, "batch"):
        raise AudioInputError(f"{path}: reference={recipe['reference']!r}; expected batch or none")
    if not isinstance(recipe["checks"], dict) or set(recipe["checks"]) - set(CHECKS):
        raise AudioInputError(f"{path}: checks must map some of {', '.join(CHECKS)} to settings")
    if not recipe["steps"] and not recipe["each"]:
        raise AudioInputError(f"{path}: the plan has no steps")
    return recipe


def recipe_sha256(recipe: dict[str, Any]) -> str:
    text = json.dumps(recipe, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def substitute(args: dict[str, Any], names: dict[str, Any], *, track: str | None,
               tool: str | None = None) -> dict[str, Any] | None:
    """``args`` with ``$name`` values replaced by the job's tracks; None when the step is to be
    skipped (it needs a reference this job has not, or it would match a track to itself)."""
    tracks = names.get("tracks") or []
    values = {"$reference": names.get("reference"), "$first": names.get("first"),
              "$tracks": list(tracks), "$mix": [{"track": t} for t in tracks]}
    out: dict[str, Any] = {}
    for key, value in args.items():
        if isinstance(value, str) and value.startswith("$"):
            if value not in values:
                raise AudioInputError(f"{key}={value!r}: unknown name; expected one of: "
                                      f"{', '.join(values)}")
            value = values[value]
            if value is None:
                return None
        out[key] = value
    if track is not None:
        if tool is None or "track" in _fields(tool):
            out.setdefault("track", track)
        if out.get("reference") == out.get("track"):
            return None
    return out


def _fields(tool: str) -> set[str]:
    from tools.registry import get_tool

    return set(get_tool(tool).args_model.model_fields)


def check_recipe(recipe: dict[str, Any]) -> None:
    """Validate every step with stand-in track names before any file is processed."""
    from agent.plan import PlanStep, validate_plan

    names = {"reference": "reference", "tracks": ["a", "b"], "first": "a"}
    for what, track in (("each", "b"), ("steps", None)):
        steps = [PlanStep(step["tool"], substitute(step["args"], names, track=track,
                                                   tool=step["tool"]) or {})
                 for step in recipe[what]]
        validate_plan(steps)


def describe(name: str) -> str:
    recipe = load_recipe(preset_path(name))
    return recipe["description"]
