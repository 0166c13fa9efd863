"""The registry's strict tool schemas, as `echo-agent tools --json` prints them."""

from __future__ import annotations

import json

import jsonschema
import pytest

from tools.core.errors import ToolArgumentError
from tools.registry import TOOLS, call_tool, validate_call


def _objects(node):
    """Every object schema inside ``node``."""
    if isinstance(node, dict):
        if node.get("type") == "object":
            yield node
        for value in node.values():
            yield from _objects(value)
    elif isinstance(node, list):
        for item in node:
            yield from _objects(item)


@pytest.fixture(scope="module")
def printed_tools():
    import contextlib
    import io

    from agent.cli import main

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        assert main(["tools", "--json"]) == 0
    return json.loads(buffer.getvalue())


def test_every_registered_tool_is_printed_once(printed_tools):
    names = [t["function"]["name"] for t in printed_tools]
    assert names == [t.name for t in TOOLS]
    assert len(set(names)) == len(names)


def test_schemas_are_strict(printed_tools):
    for entry in printed_tools:
        assert entry["type"] == "function"
        function = entry["function"]
        assert function["strict"] is True
        assert len(function["description"]) > 20, function["name"]
        parameters = function["parameters"]
        jsonschema.Draft202012Validator.check_schema(parameters)
        assert "$defs" not in json.dumps(parameters) and "$ref" not in json.dumps(parameters)
        for obj in _objects(parameters):
            assert obj["additionalProperties"] is False, function["name"]
            assert sorted(obj["required"]) == sorted(obj["properties"]), function["name"]
        for name, prop in parameters["properties"].items():
            assert prop.get("description"), f"{function['name']}.{name} has no description"


def test_optional_arguments_are_nullable_and_null_means_default(printed_tools):
    for entry, tool in zip(printed_tools, TOOLS, strict=True):
        parameters = entry["function"]["parameters"]
        for name, field in tool.args_model.model_fields.items():
            if field.is_required():
                continue
            variants = parameters["properties"][name].get("anyOf", [])
            assert {"type": "null"} in variants, f"{tool.name}.{name} is optional but not nullable"
    _, args = validate_call("cut", {"start_s": 1, "end_s": 2, "crossfade_ms": None, "track": None})
    assert args.crossfade_ms == 10.0


def test_a_strict_instance_validates_against_the_printed_schema(printed_tools):
    cut = next(t for t in printed_tools if t["function"]["name"] == "cut")["function"]["parameters"]
    jsonschema.validate({"start_s": 1.0, "end_s": 2.0, "crossfade_ms": None, "track": None}, cut)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"start_s": 1.0, "end_s": 2.0, "crossfade_ms": None, "track": None,
                             "extra": 1}, cut)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"start_s": 1.0}, cut)


@pytest.mark.parametrize(
    ("name", "arguments", "expected"),
    [
        ("gain", {"gain_db": 200}, "gain: gain_db=200: Input should be less than or equal to 60 (allowed: -60 to 60)"),
        ("cut", {"start_s": 3, "end_s": 1}, "cut: end_s=1.0 must be greater than start_s=3.0"),
        ("fade", {"direction": "sideways", "duration_s": 1}, "fade: direction=\"sideways\": Input should be 'in' or 'out'"),
        ("gain", {"gain_db": 3, "volume": 2}, "gain: unknown argument 'volume'; expected one of: gain_db, track"),
        ("gain", {}, "gain: missing required argument 'gain_db'"),
        ("gain", '{"gain_db": 3', "arguments are not valid JSON"),
        ("explode", {}, 'tool "explode" does not exist; expected one of: info, cut'),
    ],
)
def test_bad_arguments_give_one_line_naming_argument_value_and_range(name, arguments, expected):
    with pytest.raises(ToolArgumentError) as caught:
        validate_call(name, arguments)
    assert str(caught.value).startswith(expected)
    assert "\n" not in str(caught.value)


def test_call_tool_refuses_times_outside_the_track(tmp_path):
    from tests.conftest import sine
    from tools.core.session import Session

    with Session.create(tmp_path / "s") as session:
        session.add_track("a", sine(duration_s=2.0))
        with pytest.raises(ToolArgumentError, match=r"start_s=5 is at or beyond the end of the track \(2.000 s\)"):
            call_tool(session, "cut", {"start_s": 5, "end_s": 6})
        assert len(session.history()) == 1


def test_each_entry_names_the_tool_it_loads():
    loaded = [tool.load() for tool in TOOLS]
    assert [t.name for t in loaded] == [t.name for t in TOOLS]
    assert len({t.name for t in loaded}) == len(loaded)
    assert all(callable(t.run) and t.args_model.model_json_schema() for t in loaded)


def test_a_gain_call_imports_only_the_gain_tool(tmp_path):
    import subprocess
    import sys

    code = ("import sys; from tools.registry import validate_call; "
            "validate_call('gain', {'gain_db': 3}); "
            "print(sorted(m for m in sys.modules if m.count('.') == 1 and m.startswith('tools.')"
            " and m.split('.')[1] not in ('core', 'algorithms', 'models', 'registry')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=tmp_path)
    assert out.stdout.strip() == "['tools.gain']"
