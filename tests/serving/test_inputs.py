"""The typed endpoints' inputs, parsed once under explicit limits: a good form gives typed values and the
uploaded bytes; every hostile form, body type, size or pace is a 4xx naming what is wrong."""

import asyncio
import json
from http import HTTPStatus

import numpy as np
import pytest
from starlette.requests import Request

from serving.errors import RequestError
from serving.inputs import FieldKind, Limits, StrictInput, scalar
from serving.service import DiagnoseInput, LogitsInput, PredictBatchInput

BOUNDARY = "b0undary"
TYPE = f"multipart/form-data; boundary={BOUNDARY}"


@pytest.fixture(autouse=True)
def small_limits():
    StrictInput.configure(Limits(max_request_bytes=4000, max_files=3, deadline_s=0.5))
    yield
    StrictInput.configure(Limits())


def body(*parts: tuple[list[str], bytes]) -> bytes:
    chunks = [f"--{BOUNDARY}\r\n".encode() + "\r\n".join(headers).encode() + b"\r\n\r\n" + data + b"\r\n"
              for headers, data in parts]
    return b"".join(chunks) + f"--{BOUNDARY}--\r\n".encode()


def file_part(name: str = "image", data: bytes = b"\x89PNG...", filename: str = "x.png") -> tuple[list[str], bytes]:
    return [f'Content-Disposition: form-data; name="{name}"; filename="{filename}"', "Content-Type: image/png"], data


def value_part(name: str, value: str) -> tuple[list[str], bytes]:
    return [f'Content-Disposition: form-data; name="{name}"'], value.encode()


def parse(spec, data: bytes, content_type: str | None = TYPE, chunks: int = 1, pause: float = 0.0,
          length: int | None = None):
    """``spec.parse`` of a request with this body, sent in ``chunks`` pieces ``pause`` seconds apart."""
    headers = [] if content_type is None else [(b"content-type", content_type.encode())]
    headers.append((b"content-length", str(len(data) if length is None else length).encode()))
    pieces = [data[i * len(data) // chunks:(i + 1) * len(data) // chunks] for i in range(chunks)]
    calls = []

    async def receive() -> dict:
        calls.append(1)
        await asyncio.sleep(pause)
        piece = pieces.pop(0) if pieces else b""
        return {"type": "http.request", "body": piece, "more_body": bool(pieces)}

    scope = {"type": "http", "method": "POST", "path": "/x", "headers": headers, "query_string": b""}
    result = asyncio.run(spec.parse(Request(scope, receive)))
    return result, calls


def test_a_good_form_gives_typed_values_and_the_uploaded_bytes():
    model, _ = parse(DiagnoseInput, body(file_part(data=b"\x00\x01png"), value_part("top_k", " +3 "),
                                         value_part("figure", "Yes"), value_part("strength", "1e-1"),
                                         value_part("model", '"vit-tiny-cifar10"')))
    assert model.image == b"\x00\x01png" and model.top_k == 3 and model.figure is True
    assert model.strength == 0.1 and model.model == "vit-tiny-cifar10" and model.draws == 8
    batch, _ = parse(PredictBatchInput, body(file_part("images", b"a"), file_part("images", b"b")))
    assert batch.images == [b"a", b"b"]


@pytest.mark.parametrize(("parts", "words"), [
    ([value_part("image", "http://127.0.0.1:9/secret.png")], "must be an uploaded file"),
    ([value_part("image", "/etc/passwd")], "must be an uploaded file"),
    ([file_part(), file_part("top_k")], "is a value, not a file"),
    ([file_part("picture")], "unknown field 'picture'"),
    ([file_part(), (['Content-Disposition: form-data; name="im\x00age"; filename="x"'], b"x")], "unknown field"),
    ([file_part(), (['Content-Disposition: form-data; name="bild\u00e9"; filename="x"'], b"x")], "unknown field"),
    ([(["Content-Disposition: form-data; name*=UTF-8''image; filename=x"], b"x")], "malformed"),
    ([(["Content-Type: image/png"], b"x")], "malformed"),
    ([(['Content-Disposition: form-data; name="image"; filename="x"', "Content-Type: image/png",
        "Content-Type: text/plain"], b"x")], "more than one Content-Type"),
    ([file_part(), file_part()], "sent 2 times; it takes one file"),
    ([file_part(), value_part("top_k", "1"), value_part("top_k", "2")], "sent 2 times"),
    ([file_part(), value_part("top_k", "9" * 100)], "longer than 64 bytes"),
    ([file_part(), value_part("top_k", "12" * 10)], "an integer"),
    ([file_part(), value_part("top_k", "2.5")], "an integer"),
    ([file_part(), value_part("strength", "nan")], "a finite number"),
    ([file_part(), value_part("strength", "1e400")], "a finite number"),
    ([file_part(), value_part("figure", "maybe")], "true or false"),
    ([file_part(), value_part("model", "../etc/passwd")], "a model name"),
    ([file_part(), value_part("top_k", "1" * 2000)], "over its limits"),
    ([value_part("top_k", "3")], "image missing"),
    ([(['Content-Disposition: form-data; name="image"; filename="' + "a" * 5000 + '"'], b"x")], "413"),
])
def test_hostile_forms_are_refused_with_a_reason(parts, words):
    with pytest.raises(RequestError) as error:
        parse(DiagnoseInput, body(*parts))
    assert 400 <= error.value.status < 500
    assert words in str(error.value) or (words == "413" and error.value.status == 413), str(error.value)


def test_too_many_files_and_framing_errors_are_client_errors():
    with pytest.raises(RequestError, match="over its limits"):
        parse(PredictBatchInput, body(*[file_part("images")] * 4))
    for data, content_type in ((b"garbage", TYPE), (body(file_part())[:-10], TYPE), (b"", TYPE),
                               (body(file_part()), "multipart/form-data"),
                               (body(file_part()), "multipart/form-data; boundary=" + "x" * 100)):
        with pytest.raises(RequestError) as error:
            parse(DiagnoseInput, data, content_type)
        assert 400 <= error.value.status < 500


@pytest.mark.parametrize(("content_type", "status", "words"), [
    ("application/x-www-form-urlencoded", 400, "must be uploaded as a file"),
    ("application/json", 400, "never fetched or opened"),
    ("text/plain", 415, "multipart/form-data"),
    (None, 415, "got Content-Type 'none'"),
])
def test_other_body_types_are_refused_before_reading(content_type, status, words):
    with pytest.raises(RequestError, match=words) as error:
        parse(DiagnoseInput, b"image=http://127.0.0.1:9/x.png", content_type)
    assert error.value.status == status


def test_size_is_bounded_before_and_while_reading_and_a_slow_body_times_out():
    with pytest.raises(RequestError) as error:
        parse(DiagnoseInput, body(file_part(data=b"x" * 10)), length=10**9)
    assert error.value.status == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    with pytest.raises(RequestError) as error:  # the length lies: cut off as the stream passes the limit
        parse(DiagnoseInput, body(file_part(data=b"x" * 9000)), chunks=9, length=100)
    assert error.value.status == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    with pytest.raises(RequestError) as error:
        parse(DiagnoseInput, body(file_part()), chunks=10, pause=0.2)
    assert error.value.status == HTTPStatus.REQUEST_TIMEOUT


def test_scalars_are_strict():
    assert scalar("top_k", FieldKind.INT, " 007 ") == 7
    assert scalar("figure", FieldKind.BOOL, "OFF") is False
    assert scalar("model", FieldKind.NAME, '""') == ""
    for kind, text in ((FieldKind.INT, "1e3"), (FieldKind.FLOAT, "inf"), (FieldKind.NAME, "http://x"),
                       (FieldKind.NAME, "a/b"), (FieldKind.BOOL, "2")):
        with pytest.raises(RequestError):
            scalar("field", kind, text)


GOOD = np.zeros((2, 3, 32, 32)).tolist()


def test_a_good_logits_batch_is_one_float32_array():
    StrictInput.configure(Limits(max_request_bytes=1 << 22))
    model, _ = parse(LogitsInput, json.dumps({"batch": GOOD}).encode(), "application/json")
    assert model.batch.dtype == np.float32 and model.batch.shape == (2, 3, 32, 32)


@pytest.mark.parametrize(("payload", "words"), [
    (b"[" * 100_000 + b"]" * 100_000, "nests deeper"),
    (b'{"batch": [1, 2', "not valid JSON"),
    (json.dumps({"batch": GOOD, "x": 1}).encode(), "send"),
    (json.dumps([1, 2]).encode(), "send"),
    (json.dumps({"batch": {"a": 1}}).encode(), "numbers only"),
    (json.dumps({"batch": []}).encode(), "shape"),
    (json.dumps({"batch": [0.5] * 12}).encode(), "shape"),
    (json.dumps({"batch": [[[[0.5] * 32] * 32] * 3] * 65}).encode(), "1 <= N <= 64"),
    (json.dumps({"batch": [[[[0.5] * 16] * 64] * 3]}).encode(), "got \\[1, 3, 64, 16\\]"),
    (json.dumps({"batch": [[[[0.5, 1]] * 2] * 3, [[[0.5, 1, 2]] * 2] * 3]}).encode(), "ragged"),
    (json.dumps({"batch": [[[["1"] * 32] * 32] * 3]}).encode(), "numbers only"),
    (json.dumps({"batch": [[[[True] * 32] * 32] * 3]}).encode(), "numbers only"),
    (json.dumps({"batch": [[[[None] * 32] * 32] * 3]}).encode(), "numbers only"),
    (json.dumps({"batch": [[[[float("nan")] * 32] * 32] * 3]}).encode(), "finite"),
    (json.dumps({"batch": [[[[1e7] * 32] * 32] * 3]}).encode(), "magnitude at most 1e6"),
    (('{"batch": [[[[' + "9" * 400 + "]]]]}").encode(), "numbers only"),
])
def test_hostile_batches_are_refused_naming_the_expected_shape(payload, words):
    StrictInput.configure(Limits(max_request_bytes=1 << 22))
    with pytest.raises(RequestError, match=words) as error:
        parse(LogitsInput, payload, "application/json")
    assert error.value.status == HTTPStatus.BAD_REQUEST
