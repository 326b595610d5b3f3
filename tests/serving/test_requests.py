"""The request parser: one strict reading of each body, re-encoded so that nothing downstream reads it
differently."""

import json
from http import HTTPStatus

import pytest

from serving.requests import FieldKind, Form, Limits, RequestError, encode_multipart, parse_batch, parse_multipart

FIELDS = {"image": FieldKind.FILE, "images": FieldKind.FILES, "top_k": FieldKind.INT, "strength": FieldKind.FLOAT,
          "figure": FieldKind.BOOL}
LIMITS = Limits(max_body_bytes=1000, max_files=3, max_parts=6)
BOUNDARY = "b0undary"
TYPE = f"multipart/form-data; boundary={BOUNDARY}"


def body(*parts: tuple[list[str], bytes]) -> bytes:
    chunks = [f"--{BOUNDARY}\r\n".encode() + "\r\n".join(headers).encode() + b"\r\n\r\n" + data + b"\r\n"
              for headers, data in parts]
    return b"".join(chunks) + f"--{BOUNDARY}--\r\n".encode()


def file_part(name: str = "image", data: bytes = b"\x89PNG...", filename: str = "x.png") -> tuple[list[str], bytes]:
    return [f'Content-Disposition: form-data; name="{name}"; filename="{filename}"', "Content-Type: image/png"], data


def value_part(name: str, value: str) -> tuple[list[str], bytes]:
    return [f'Content-Disposition: form-data; name="{name}"'], value.encode()


def test_a_good_form_is_read_and_rebuilt_canonically():
    form = parse_multipart(body(file_part(), value_part("top_k", " +3 "), value_part("figure", "Yes"),
                                value_part("strength", "1e-1")), TYPE, FIELDS, LIMITS)
    assert form.files == {"image": [b"\x89PNG..."]} and form.values == {"top_k": "3", "figure": "true",
                                                                         "strength": "0.1"}
    canonical, content_type = encode_multipart(form)
    again = parse_multipart(canonical, content_type, FIELDS, LIMITS)
    assert again == form and b"x.png" not in canonical and b'filename="upload"' in canonical


def test_the_canonical_boundary_occurs_in_no_part():
    tricky = Form(files={"image": [b"\r\n--howvits-boundary\r\n--howvits-boundary--"]}, values={"top_k": "2"})
    canonical, content_type = encode_multipart(tricky)
    assert "howvits-boundary" not in content_type
    assert parse_multipart(canonical, content_type, FIELDS, LIMITS) == tricky


@pytest.mark.parametrize(("parts", "words"), [
    ([value_part("image", "http://127.0.0.1:9/secret.png")], "must be an uploaded file"),
    ([file_part("top_k")], "is a value, not a file"),
    ([file_part("picture")], "unknown field 'picture'"),
    ([file_part('ima"ge')], "not a field name"),
    ([(['Content-Disposition: form-data; name="im\x00age"; filename="x"'], b"x")], "not a field name"),
    ([(['Content-Disposition: form-data; name="bild\u00e9"; filename="x"'], b"x")], "not a field name"),
    ([(["Content-Disposition: form-data; name*=UTF-8''image; filename=x"], b"x")], "plain name"),
    ([(["Content-Type: image/png"], b"x")], "no Content-Disposition"),
    ([(['Content-Disposition: attachment; name="image"; filename="x"'], b"x")], "form-data"),
    ([(['Content-Disposition: form-data; name="image"; name="top_k"; filename="x"'], b"x")], "repeats"),
    ([(['Content-Disposition: form-data; name="image"; filename="x"', "Content-Type: image/png",
        "Content-Type: text/plain"], b"x")], "two content-type headers"),
    ([file_part(), file_part()], "sent twice"),
    ([file_part("images")] * 4, "more than 3 files"),
    ([value_part("top_k", "1"), value_part("top_k", "2")], "sent twice"),
    ([value_part("top_k", "9" * 100)], "larger than"),
    ([value_part("top_k", "12" * 10)], "an integer"),
    ([value_part("top_k", "2.5")], "an integer"),
    ([value_part("strength", "nan")], "a finite number"),
    ([value_part("strength", "1e400")], "a finite number"),
    ([value_part("figure", "maybe")], "true or false"),
    ([(['Content-Disposition: form-data; name="top_k"'], b"\xff\xfe")], "UTF-8"),
    ([file_part(data=b"x" * 1001)], "larger than 1,000 bytes"),
    ([(['Content-Disposition: form-data; name="image"; filename="' + "a" * 3000 + '"'], b"x")], "headers exceed"),
])
def test_hostile_parts_are_refused_with_a_reason(parts, words):
    with pytest.raises(RequestError, match=words):
        parse_multipart(body(*parts), TYPE, FIELDS, LIMITS)


def test_the_number_of_parts_is_capped_before_they_are_read():
    parts = [value_part("top_k", "1"), value_part("strength", "1"), value_part("figure", "1")]
    with pytest.raises(RequestError, match="more than 2 parts") as error:
        parse_multipart(body(*parts), TYPE, FIELDS, Limits(max_body_bytes=1000, max_files=3, max_parts=2))
    assert error.value.status == HTTPStatus.REQUEST_ENTITY_TOO_LARGE


def test_framing_errors_are_client_errors():
    for data, content_type in ((b"garbage", TYPE), (body(file_part())[:-10], TYPE), (b"", TYPE),
                               (body(file_part()), "multipart/form-data"),
                               (body(file_part()), "multipart/form-data; boundary=" + "x" * 100)):
        with pytest.raises(RequestError) as error:
            parse_multipart(data, content_type, FIELDS, LIMITS)
        assert 400 <= error.value.status < 500
    with pytest.raises(RequestError) as error:
        parse_multipart(body(file_part(data=b"x" * 2000)), TYPE, FIELDS, LIMITS)
    assert error.value.status == HTTPStatus.REQUEST_ENTITY_TOO_LARGE


SHAPE = (-1, 3, 2, 2)
GOOD = [[[[0.5, -1], [2, 3]]] * 3]


def test_a_good_batch_is_re_encoded():
    assert json.loads(parse_batch(json.dumps({"batch": GOOD}).encode(), SHAPE, 4)) == {"batch": GOOD}


@pytest.mark.parametrize(("payload", "words"), [
    (b"[" * 100_000 + b"]" * 100_000, "nests too deeply"),
    (b'{"batch": 1' + b"0" * 5000 + b"}", "not valid JSON"),
    (json.dumps({"batch": GOOD, "x": 1}).encode(), "send"),
    (json.dumps([1, 2]).encode(), "send"),
    (json.dumps({"batch": {"a": 1}}).encode(), "shape"),
    (json.dumps({"batch": []}).encode(), "shape"),
    (json.dumps({"batch": GOOD * 5}).encode(), "1 <= N <= 4"),
    (json.dumps({"batch": [0.5] * 12}).encode(), "shape"),
    (json.dumps({"batch": [[[[0.5, 1]] * 2] * 3, [[[0.5, 1, 2]] * 2] * 3]}).encode(), "shape"),
    (json.dumps({"batch": [[[["1", 2], [3, 4]]] * 3]}).encode(), "finite numbers"),
    (json.dumps({"batch": [[[[True, 2], [3, 4]]] * 3]}).encode(), "finite numbers"),
    (json.dumps({"batch": [[[[None, 2], [3, 4]]] * 3]}).encode(), "finite numbers"),
    (json.dumps({"batch": [[[[{"a": 1}, 2], [3, 4]]] * 3]}).encode(), "finite numbers"),
    (b'{"batch": [[[[NaN, 2], [3, 4]], [[1, 2], [3, 4]], [[1, 2], [3, 4]]]]}', "finite numbers"),
    (b'{"batch": [[[[Infinity, 2], [3, 4]], [[1, 2], [3, 4]], [[1, 2], [3, 4]]]]}', "finite numbers"),
    (('{"batch": [[[[' + "9" * 400 + ", 2], [3, 4]], [[1, 2], [3, 4]], [[1, 2], [3, 4]]]]}").encode(), "finite"),
])
def test_hostile_batches_are_refused_naming_the_expected_shape(payload, words):
    with pytest.raises(RequestError, match=words) as error:
        parse_batch(payload, SHAPE, 4)
    assert error.value.status == HTTPStatus.BAD_REQUEST


def test_the_canonical_form_carries_nothing_of_the_client():
    canonical, _ = encode_multipart(Form(files={"image": [b"abc"]}, values={"top_k": "2"}))
    assert canonical.count(b"Content-Disposition") == 2 and b"image/png" not in canonical
