"""The dependency-free YAML writer: whatever JSON holds, YAML readers read back the same."""

from __future__ import annotations

import json

import pytest

from ws_routes.asyncapi.yaml import quoted, to_yaml

yaml = pytest.importorskip("yaml", reason="PyYAML (the [test] extra) reads the output back")

HOSTILE_STRINGS = [
    "",
    " ",
    "yes",
    "No",
    "on",
    "off",
    "null",
    "~",
    "true",
    "1",
    "0x1f",
    "1e3",
    ".inf",
    "- item",
    "key: value",
    "# comment",
    "&anchor",
    "*alias",
    "!tag",
    "|",
    ">",
    "'",
    '"',
    "\\",
    "%YAML 1.2",
    "---",
    "...",
    "{a: 1}",
    "[1, 2]",
    "tab\there",
    "line\nbreak",
    "cr\rlf",
    "nel\x85next",
    "ls\u2028ps\u2029",
    "bom\ufeff",
    "nul\x00bell\x07del\x7f",
    "ünïcödé",
    "emoji 😀 𝄞",
    "\ud800 lone surrogate",
    "trailing space ",
    "a" * 5000,
]


@pytest.mark.parametrize("text", HOSTILE_STRINGS)
def test_hostile_strings_round_trip_as_values_and_keys(text):
    data = {"value": text, text: [text, {text: text}], "list": [[], {}, None, True, 0, -1.5]}
    assert yaml.safe_load(to_yaml(data)) == data
    assert yaml.safe_load(quoted(text)) == text


def test_document_shapes_round_trip():
    data = {
        "nested": {"deeper": {"deepest": [1, [2, [3, {"x": None}]]]}},
        "empty": {},
        "none": [],
        "numbers": [0, 1, -1, 2**53, 1.25, 1e-300, -0.0],
        "booleans": [True, False],
        "$ref": "#/components/schemas/A",
        "on": "plain key that YAML 1.1 reads as a boolean is quoted",
    }
    text = to_yaml(data)
    assert yaml.safe_load(text) == json.loads(json.dumps(data))
    assert '"on":' in text and "$ref:" in text


@pytest.mark.parametrize(
    "bad", [{"a": float("nan")}, {"a": float("inf")}, {1: "x"}, {"a": {1, 2}}, {"a": object()}]
)
def test_what_json_cannot_hold_is_refused(bad):
    with pytest.raises((TypeError, ValueError)):
        to_yaml(bad)
