"""JSON depth is measured in linear time, whatever the input, and deep or broken documents are 400s."""

import time

import pytest

from serving.bodies import MAX_JSON_DEPTH, json_depth, parse_json
from serving.errors import RequestError


@pytest.mark.parametrize(("text", "depth"), [
    (b"{}", 1), (b"1", 0), (b'{"a": [1, [2, "x]]]"], "b\\"[": {}}', 3), (b"[" * 40 + b"]" * 40, 40),
    (b'["\\\\", ["]"]]', 2), (b'"[[[', 0), (b'"\\"\\"\\', 0),
])
def test_depth_counts_brackets_outside_strings(text, depth):
    assert json_depth(text) == depth


@pytest.mark.parametrize("hostile", [
    b'"' + b'\\"' * 2_000_000 + b"\\",  # an unterminated string of escaped quotes
    b'"\\"' * 1_000_000,
    b"[" * 4_000_000,
    b'{"a":' * 800_000,
])
def test_depth_is_linear_on_hostile_input(hostile):
    started = time.perf_counter()
    json_depth(hostile)
    assert time.perf_counter() - started < 1.0


def test_deep_or_broken_documents_are_client_errors():
    assert parse_json(b'{"a": [[1]]}') == {"a": [[1]]}
    for raw, words in ((b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1), "nests deeper"),
                       (b"[" * 100_000, "nests deeper"), (b"{nope", "not valid JSON"), (b"\xff\xfe", "not valid")):
        with pytest.raises(RequestError, match=words) as error:
            parse_json(raw)
        assert error.value.status == 400
