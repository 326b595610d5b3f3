"""Request bodies read under a size limit and a deadline, and JSON parsed under a depth limit.

Nothing is parsed before its size is known to be bounded: a Content-Length over the limit is a 413 before a
byte is read, a streamed body is cut off with a 413 as it passes the limit, and a body that trickles in slower
than ``deadline_s`` is a 408. JSON nesting is measured in linear time (strings blanked by one regular
expression, brackets counted by NumPy) before ``json.loads`` sees it, and large bodies are parsed in a worker
thread, so neither a deep nor a large document holds the event loop.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus
from typing import Any

import numpy as np

from serving.errors import RequestError

MAX_JSON_DEPTH = 32
"""An Open Inference Protocol request nests about ten deep (object, inputs, tensor, data as a 4-D array)."""
OFF_LOOP_BYTES = 64 << 10
"""Bodies at least this large are parsed in a worker thread (about a millisecond of json.loads)."""
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*+(?:"|\\?\Z)', re.S)
"""A string, or an unterminated one to the end: possessive, so every byte is scanned once whatever the input."""
_OPEN, _CLOSE = np.zeros(256, np.int8), np.zeros(256, np.int8)
_OPEN[[ord("["), ord("{")]] = 1
_CLOSE[[ord("]"), ord("}")]] = 1

Receive = Callable[[], Awaitable[dict]]


def check_length(headers: Mapping[str, str], limit: int) -> None:
    """A 413 when the declared Content-Length exceeds ``limit``; a 400 when it is not one plain number."""
    lengths = headers.getlist("content-length") if hasattr(headers, "getlist") else [headers.get("content-length")]
    lengths = [value for value in lengths if value is not None]
    if len(lengths) > 1 or (lengths and not lengths[0].isdigit()):
        raise RequestError("the request has an unusable Content-Length")
    if lengths and int(lengths[0]) > limit:
        raise RequestError(f"request body of {int(lengths[0]):,} bytes exceeds the limit of {limit:,} bytes",
                           HTTPStatus.REQUEST_ENTITY_TOO_LARGE)


def limited_receive(receive: Receive, limit: int) -> Receive:
    """``receive`` that raises a 413 as soon as the body passes ``limit`` bytes."""
    received = 0

    async def bounded() -> dict:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise RequestError(f"request body exceeds the limit of {limit:,} bytes",
                                   HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
        elif message["type"] == "http.disconnect":
            raise RequestError("the client went away before sending the whole body")
        return message

    return bounded


async def within(deadline_s: float, reading: Awaitable[Any]) -> Any:
    """Await ``reading`` (of a body), a 408 if it takes longer than ``deadline_s``."""
    try:
        async with asyncio.timeout(deadline_s):
            return await reading
    except TimeoutError:
        raise RequestError(f"the request body did not arrive within {deadline_s:g} s",
                           HTTPStatus.REQUEST_TIMEOUT) from None


async def read_body(receive: Receive, headers: Mapping[str, str], limit: int, deadline_s: float) -> bytes:
    """The whole body, under ``limit`` bytes and ``deadline_s`` seconds."""
    check_length(headers, limit)
    bounded = limited_receive(receive, limit)

    async def chunks() -> bytes:
        parts = []
        while True:
            message = await bounded()
            parts.append(message.get("body", b""))
            if not message.get("more_body"):
                return b"".join(parts)

    return await within(deadline_s, chunks())


def json_depth(raw: bytes) -> int:
    """The deepest nesting of arrays and objects in a JSON text, in linear time."""
    codes = np.frombuffer(_STRING.sub(b'""', raw), dtype=np.uint8)
    if codes.size == 0:
        return 0
    return int(np.cumsum(_OPEN[codes] - _CLOSE[codes], dtype=np.int64).max(initial=0))


def parse_json(raw: bytes, what: str = "the body") -> Any:
    """``json.loads`` of a text whose nesting was checked first; every failure is a 400 naming ``what``."""
    if json_depth(raw) > MAX_JSON_DEPTH:
        raise RequestError(f"{what} nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise RequestError(f"{what} is not valid JSON") from None


async def load_json(raw: bytes, what: str = "the body") -> Any:
    """:func:`parse_json`, in a worker thread for large bodies."""
    if len(raw) >= OFF_LOOP_BYTES:
        return await asyncio.to_thread(parse_json, raw, what)
    return parse_json(raw, what)
