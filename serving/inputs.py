"""The typed endpoints' inputs, each parsed once, here, under explicit limits.

BentoML calls an input model's ``from_http_request`` to turn a request into the endpoint's arguments; these
bases replace its parsing (which would fetch a URL given for a file field, write every upload to a temporary
file and take JSON or urlencoded bodies too) with a strict one, and keep BentoML's schema, OpenAPI document and
clients:

- :class:`FormInput`: ``multipart/form-data`` only, read through Starlette's form parser (python-multipart)
  with a byte limit on the body, a deadline, and limits on files, fields and part sizes. A file field takes
  only an uploaded file (its bytes are handed on in memory, never a path), a scalar field only a short text
  value parsed strictly (a JSON-quoted string, as ``bentoml.SyncHTTPClient`` sends it, is accepted); unknown
  fields and repeated ones are refused. A URL or a path given as text is a 400: nothing is fetched or opened.
- :class:`JSONInput`: a JSON body read under the limits, parsed with bounded depth (off the event loop when
  large), then checked by the subclass.
"""

from __future__ import annotations

import math
import re
import typing
from dataclasses import dataclass
from enum import StrEnum
from http import HTTPStatus
from pathlib import Path
from typing import Annotated, Any, ClassVar

from _bentoml_sdk.io_models import IODescriptor
from pydantic import ConfigDict
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request

from serving.bodies import check_length, limited_receive, load_json, read_body, within
from serving.errors import RequestError


class FieldKind(StrEnum):
    FILE = "file"
    FILES = "files"
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    NAME = "name"
    """A model name: letters, digits, '.', '_', '-' (never a path or URL)."""


@dataclass(frozen=True)
class Limits:
    """What one request may send; set once by the service from its settings (:meth:`FormInput.configure`)."""

    max_request_bytes: int = 11 << 20
    max_files: int = 64
    deadline_s: float = 60.0
    max_text_bytes: int = 64
    """A scalar field's value."""


_INT = re.compile(r"[+-]?\d{1,12}")
_FLOAT = re.compile(r"[+-]?(\d{1,12}(\.\d{0,12})?|\.\d{1,12})([eE][+-]?\d{1,3})?")
_BOOL = {"true": True, "1": True, "yes": True, "on": True, "false": False, "0": False, "no": False, "off": False}
_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def scalar(name: str, kind: FieldKind, text: str) -> int | float | bool | str:
    """A scalar field's value, or a 400 that says what the field takes."""
    value = text.strip()
    if kind is FieldKind.INT and _INT.fullmatch(value):
        return int(value)
    if kind is FieldKind.FLOAT and _FLOAT.fullmatch(value) and math.isfinite(float(value)):
        return float(value)
    if kind is FieldKind.BOOL and value.lower() in _BOOL:
        return _BOOL[value.lower()]
    if kind is FieldKind.NAME:
        if len(value) >= 2 and value[0] == value[-1] == '"':  # bentoml's client sends strings as JSON
            value = value[1:-1]
        if value == "" or _MODEL_NAME.fullmatch(value):
            return value
    what = {FieldKind.INT: "an integer", FieldKind.FLOAT: "a finite number", FieldKind.BOOL: "true or false",
            FieldKind.NAME: "a model name (GET /models lists them)"}
    raise RequestError(f"{name} must be {what.get(kind, 'a file')}, got {value[:40]!r}")


def field_kinds(spec: type[IODescriptor]) -> dict[str, FieldKind]:
    """What each field of an input model takes, from its annotations (``Path``: a file)."""

    def bare(annotation: Any) -> Any:
        return typing.get_args(annotation)[0] if typing.get_origin(annotation) is Annotated else annotation

    kinds = {int: FieldKind.INT, float: FieldKind.FLOAT, bool: FieldKind.BOOL, Path: FieldKind.FILE,
             str: FieldKind.NAME}
    found = {}
    for name, info in spec.model_fields.items():
        annotation = bare(info.annotation)
        many = typing.get_origin(annotation) is list and bare(typing.get_args(annotation)[0]) is Path
        found[name] = FieldKind.FILES if many else kinds[annotation]
    return found


class StrictInput(IODescriptor):
    """An input model whose requests are parsed by :meth:`parse` (subclasses) under the service's limits."""

    model_config = ConfigDict(extra="forbid")
    limits: ClassVar[Limits] = Limits()

    @classmethod
    def configure(cls, limits: Limits) -> None:
        StrictInput.limits = limits

    @classmethod
    async def from_http_request(cls, request: Request, serde: Any) -> IODescriptor:
        return await cls.parse(request)

    @classmethod
    async def parse(cls, request: Request) -> IODescriptor:
        raise NotImplementedError


class FormInput(StrictInput):
    """Multipart forms: file fields arrive as ``bytes`` (``list[bytes]`` for a list), scalars as their values."""

    @classmethod
    async def parse(cls, request: Request) -> IODescriptor:
        kinds = field_kinds(cls)
        files = [name for name, kind in kinds.items() if kind in (FieldKind.FILE, FieldKind.FILES)]
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media in ("application/x-www-form-urlencoded", "application/json"):
            raise RequestError(f"{' and '.join(files)} must be uploaded as a file: send multipart/form-data (a URL "
                               f"or a path given as text is never fetched or opened)")
        if media != "multipart/form-data" or len(request.headers.getlist("content-type")) > 1:
            raise RequestError(f"send multipart/form-data, with each image as an uploaded file (got Content-Type "
                               f"{media or 'none'!r})", HTTPStatus.UNSUPPORTED_MEDIA_TYPE)
        limits = cls.limits
        check_length(request.headers, limits.max_request_bytes)
        bounded = Request(request.scope, limited_receive(request.receive, limits.max_request_bytes))
        try:
            form = await within(limits.deadline_s, bounded.form(
                max_files=limits.max_files, max_fields=len(kinds), max_part_size=1024))
        except (HTTPException, MultiPartException) as err:  # python-multipart's framing errors, Starlette's limits
            detail = err.detail if isinstance(err, HTTPException) else err.message
            raise RequestError(f"the multipart body is malformed or over its limits: {detail}") from None
        try:
            values = await cls._values(form, kinds)
        finally:
            await form.close()
        missing = [name for name, info in cls.model_fields.items() if info.is_required() and name not in values]
        if missing:
            raise RequestError(f"{' and '.join(missing)} missing: upload {'them' if len(missing) > 1 else 'it'} as "
                               f"a file field of a multipart/form-data body")
        return cls.model_construct(**values)

    @classmethod
    async def _values(cls, form: Any, kinds: dict[str, FieldKind]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name in form:
            if name not in kinds:
                raise RequestError(f"unknown field {name[:40]!r}; this endpoint accepts {sorted(kinds)}")
            items, kind = form.getlist(name), kinds[name]
            if kind in (FieldKind.FILE, FieldKind.FILES):
                if not all(isinstance(item, UploadFile) for item in items):
                    raise RequestError(f"{name} must be an uploaded file (a part with a filename), not a text value")
                if kind is FieldKind.FILE and len(items) > 1:
                    raise RequestError(f"{name} is sent {len(items)} times; it takes one file")
                if any(len(item.headers.getlist("content-type")) > 1 for item in items):
                    raise RequestError(f"a part of {name} has more than one Content-Type header")
                data = [await item.read() for item in items]
                values[name] = data if kind is FieldKind.FILES else data[0]
                continue
            if len(items) > 1:
                raise RequestError(f"{name} is sent {len(items)} times")
            if isinstance(items[0], UploadFile):
                raise RequestError(f"{name} is a value, not a file")
            if len(items[0].encode()) > cls.limits.max_text_bytes:
                raise RequestError(f"{name} is longer than {cls.limits.max_text_bytes} bytes")
            values[name] = scalar(name, kind, items[0])
        return values


class JSONInput(StrictInput):
    """A JSON object body, checked by :meth:`from_json`."""

    @classmethod
    async def parse(cls, request: Request) -> IODescriptor:
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media != "application/json":
            raise RequestError(f"send a JSON object (Content-Type application/json, got {media or 'none'!r})",
                               HTTPStatus.UNSUPPORTED_MEDIA_TYPE)
        limits = cls.limits
        body = await read_body(request.receive, request.headers, limits.max_request_bytes, limits.deadline_s)
        return cls.from_json(await load_json(body))

    @classmethod
    def from_json(cls, data: Any) -> IODescriptor:
        raise NotImplementedError
