"""Every request body is parsed once, here, under explicit limits, and handed on in a canonical form.

Image endpoints take ``multipart/form-data`` only. Each part must carry exactly one ``Content-Disposition:
form-data`` with an ASCII field name the endpoint knows; a file field accepts only an uploaded file (a part with
a filename) and a scalar field only a short text value, which is parsed strictly here. The body handed on to
BentoML is rebuilt from what was accepted (fresh boundary, no client filenames or part headers), so BentoML's
own parser only ever sees a body this module wrote: it can never be asked to fetch a URL or open a path, and
the two parsers cannot read one request in two ways. ``/logits`` takes a JSON object ``{"batch": [...]}``
whose shape, element types and finiteness are checked before it is re-encoded.
"""

from __future__ import annotations

import json
import math
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from http import HTTPStatus
from typing import Any


class FieldKind(StrEnum):
    FILE = "file"
    FILES = "files"
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    NAME = "name"
    """A model name: letters, digits, '.', '_', '-' (never a path or URL)."""


class RequestError(ValueError):
    """A request that is refused, with the status and message to answer."""

    def __init__(self, message: str, status: HTTPStatus = HTTPStatus.BAD_REQUEST) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int
    """One file part at most (the image size limit); the whole body may add ``max_framing_bytes``."""
    max_files: int
    max_parts: int = 80
    max_text_bytes: int = 64
    """A scalar field's value."""
    max_header_bytes: int = 2048
    """All header lines of one part together."""
    max_framing_bytes: int = 1 << 20

    @property
    def max_request_bytes(self) -> int:
        return self.max_body_bytes + self.max_framing_bytes


@dataclass
class Form:
    files: dict[str, list[bytes]] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)


_INT = re.compile(r"[+-]?\d{1,12}")
_FLOAT = re.compile(r"[+-]?(\d{1,12}(\.\d{0,12})?|\.\d{1,12})([eE][+-]?\d{1,3})?")
_BOOL = {"true": "true", "1": "true", "yes": "true", "on": "true", "false": "false", "0": "false", "no": "false",
         "off": "false"}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def scalar(name: str, kind: FieldKind, text: str) -> str:
    """The canonical text of a scalar field, or a 400 that says what the field takes."""
    value = text.strip()
    if kind is FieldKind.INT and _INT.fullmatch(value):
        return str(int(value))
    if kind is FieldKind.FLOAT and _FLOAT.fullmatch(value) and math.isfinite(float(value)):
        return repr(float(value))
    if kind is FieldKind.BOOL and value.lower() in _BOOL:
        return _BOOL[value.lower()]
    if kind is FieldKind.NAME and _MODEL_NAME.fullmatch(value):
        return value
    what = {FieldKind.INT: "an integer", FieldKind.FLOAT: "a finite number", FieldKind.BOOL: "true or false",
            FieldKind.NAME: "a model name (GET /models lists them)"}
    raise RequestError(f"{name} must be {what.get(kind, 'a file')}, got {value[:40]!r}")


def _parameters(value: str) -> tuple[str, dict[str, str]]:
    """``form-data; name="image"; filename="x.png"`` -> ``("form-data", {"name": ..., "filename": ...})``."""
    kind, _, rest = value.partition(";")
    params = {}
    for match in re.finditer(r'\s*([A-Za-z0-9_*-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)\s*(?:;|$)', rest):
        key, raw = match[1].lower(), match[2].strip()
        if key in params:
            raise RequestError(f"a part repeats the {key!r} parameter of its Content-Disposition")
        params[key] = raw[1:-1].replace('\\"', '"') if raw.startswith('"') else raw
    return kind.strip().lower(), params


def parse_multipart(body: bytes, content_type: str, fields: Mapping[str, FieldKind], limits: Limits) -> Form:
    """Strictly parse a ``multipart/form-data`` body into accepted files and canonical scalar values."""
    from python_multipart.multipart import MultipartParser

    _, options = _parameters(content_type)
    boundary = options.get("boundary", "")
    if not 1 <= len(boundary) <= 70 or not boundary.isascii():
        raise RequestError("the multipart body has no usable boundary in its Content-Type")
    form = Form()
    part: dict[str, Any] = {}
    header = {"field": b"", "value": b""}
    parts, ended = 0, []

    def on_part_begin() -> None:
        nonlocal parts
        parts += 1
        if parts > limits.max_parts:
            raise RequestError(f"more than {limits.max_parts} parts", HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
        part.clear()
        part.update(headers={}, header_bytes=0, data=[], size=0)

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header["field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header["value"] += data[start:end]
        part["header_bytes"] += end - start
        if part["header_bytes"] > limits.max_header_bytes:
            raise RequestError(f"a part's headers exceed {limits.max_header_bytes} bytes")

    def on_header_end() -> None:
        name = header["field"].decode("latin-1").strip().lower()
        if name in part["headers"]:
            raise RequestError(f"a part has two {name} headers")
        part["headers"][name] = header["value"].decode("latin-1")
        header["field"] = header["value"] = b""

    def on_headers_finished() -> None:
        disposition = part["headers"].get("content-disposition")
        if disposition is None:
            raise RequestError("a part has no Content-Disposition header")
        kind, params = _parameters(disposition)
        name = params.get("name", "")
        if kind != "form-data" or "name*" in params or "filename*" in params:
            raise RequestError("each part must be Content-Disposition: form-data with a plain name")
        if not _NAME.fullmatch(name):
            raise RequestError(f"part name {name[:40]!r} is not a field name (ASCII letters, digits, underscore)")
        if name not in fields:
            raise RequestError(f"unknown field {name!r}; this endpoint accepts {sorted(fields)}")
        is_file = fields[name] in (FieldKind.FILE, FieldKind.FILES)
        if is_file and "filename" not in params:
            raise RequestError(f"{name} must be an uploaded file (a part with a filename), not a text value")
        if not is_file and "filename" in params:
            raise RequestError(f"{name} is a value, not a file")
        part["name"], part["limit"] = name, limits.max_body_bytes if is_file else limits.max_text_bytes

    def on_part_data(data: bytes, start: int, end: int) -> None:
        part["size"] += end - start
        if part["size"] > part["limit"]:
            status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE if part["limit"] > limits.max_text_bytes else \
                HTTPStatus.BAD_REQUEST
            raise RequestError(f"{part['name']} is larger than {part['limit']:,} bytes", status)
        part["data"].append(data[start:end])

    def on_part_end() -> None:
        name, data = part["name"], b"".join(part["data"])
        kind = fields[name]
        if kind in (FieldKind.FILE, FieldKind.FILES):
            files = form.files.setdefault(name, [])
            if files and kind is FieldKind.FILE:
                raise RequestError(f"{name} is sent twice; it takes one file")
            if len(files) >= limits.max_files:
                raise RequestError(f"more than {limits.max_files} files in {name}",
                                   HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
            files.append(data)
        else:
            if name in form.values:
                raise RequestError(f"{name} is sent twice")
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                raise RequestError(f"{name} is not UTF-8 text") from None
            form.values[name] = scalar(name, kind, text)

    callbacks = {"on_part_begin": on_part_begin, "on_header_field": on_header_field,
                 "on_header_value": on_header_value, "on_header_end": on_header_end,
                 "on_headers_finished": on_headers_finished, "on_part_data": on_part_data, "on_part_end": on_part_end,
                 "on_end": lambda: ended.append(True)}
    parser = MultipartParser(boundary.encode(), callbacks, max_header_count=8,
                             max_header_size=4 * limits.max_header_bytes)
    try:
        parser.write(body)
        parser.finalize()
    except RequestError:
        raise
    except Exception as err:  # python-multipart's own errors: malformed framing
        raise RequestError("the multipart body is malformed") from err
    if not parts:
        raise RequestError("the multipart body has no parts")
    if not ended:
        raise RequestError("the multipart body ends before its closing boundary")
    return form


def encode_multipart(form: Form) -> tuple[bytes, str]:
    """The canonical body of an accepted form and its Content-Type. The boundary is a constant unless a part
    contains it (drawing randomness for every request cost ~5% of a small one); then a random one, checked
    too, so a crafted upload costs at most a few scans."""
    parts = [data for files in form.files.values() for data in files] + [v.encode() for v in form.values.values()]
    boundary = "howvits-boundary"
    while any(boundary.encode() in data for data in parts):
        boundary = secrets.token_hex(16)
    chunks = []
    for name, files in form.files.items():
        for data in files:
            chunks += [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="upload"\r\n'
                       f"Content-Type: application/octet-stream\r\n\r\n".encode(), data, b"\r\n"]
    for name, value in form.values.items():
        chunks.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


def parse_batch(body: bytes, shape: tuple[int, ...], max_batch: int) -> bytes:
    """``{"batch": N x C x H x W numbers}`` checked strictly (shape, numbers only, finite) and re-encoded."""
    expected = f"(N, {', '.join(str(d) for d in shape[1:])}) with 1 <= N <= {max_batch}"
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise RequestError("the body is not valid JSON (or nests too deeply)") from None
    if not isinstance(data, dict) or set(data) != {"batch"}:
        raise RequestError(f'send {{"batch": ...}}: an array of shape {expected}')
    batch = data["batch"]
    if not isinstance(batch, list) or not 1 <= len(batch) <= max_batch:
        raise RequestError(f"batch must be an array of shape {expected}")
    dims = [len(batch), *shape[1:]]

    def check(value: Any, depth: int) -> None:
        if depth == len(dims):
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if not number or abs(value) > 1e6 or (isinstance(value, float) and not math.isfinite(value)):
                raise RequestError(f"batch must hold finite numbers of magnitude at most 1e6, got {str(value)[:40]}")
            return
        if not isinstance(value, list) or (dims[depth] > 0 and len(value) != dims[depth]):
            raise RequestError(f"batch must be an array of shape {expected}")
        for item in value:
            check(item, depth + 1)

    check(batch, 0)
    return json.dumps({"batch": batch}).encode()
