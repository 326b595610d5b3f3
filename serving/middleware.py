"""ASGI middleware in front of the BentoML app: ``GET /model``, ``GET /ui`` (the static page), the request
body limit (413 before the body is read when Content-Length says so, or as soon as a streamed body passes
the limit), multipart field names checked against each endpoint's fields (BentoML answers a file under an
unknown name with a 500), and error bodies as one JSON object."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

UI_PAGE = Path(__file__).with_name("ui") / "index.html"


async def _send_json(send: Any, status: int, payload: Any) -> None:
    body = json.dumps(payload, default=str).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class BodyTooLarge(Exception):
    pass


async def _read_body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def _replay(body: bytes) -> Any:
    sent = False

    async def receive() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


def multipart_field_names(body: bytes, content_type: str) -> list[str] | None:
    """The ``name`` of every part of a multipart body (None if the body cannot be parsed)."""
    from python_multipart.multipart import MultipartParser, parse_options_header

    _, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if not boundary:
        return None
    names: list[str] = []
    header: dict[str, bytes] = {"field": b"", "value": b""}

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header["field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header["value"] += data[start:end]

    def on_header_end() -> None:
        if header["field"].lower() == b"content-disposition":
            _, params = parse_options_header(header["value"])
            names.append(params.get(b"name", b"").decode("utf-8", "replace"))
        header["field"], header["value"] = b"", b""

    parser = MultipartParser(boundary, {"on_header_field": on_header_field, "on_header_value": on_header_value,
                                        "on_header_end": on_header_end})
    try:
        parser.write(body)
        parser.finalize()
    except Exception:
        return None
    return names


class HowvitsMiddleware:
    def __init__(self, app: Any, max_body_bytes: int, fields: dict[str, set[str]]) -> None:
        self.app, self.max_body_bytes, self.fields = app, max_body_bytes, fields

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path, method = scope["path"].rstrip("/") or "/", scope["method"]
        if path in ("/model", "/ui") and method in ("GET", "HEAD"):
            return await self._static(path, send)
        limit = self.max_body_bytes + 1024 * 1024  # room for multipart framing around one maximal image
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            return await _send_json(send, 413, {"error": f"request body of {int(length):,} bytes exceeds the "
                                                         f"limit of {limit:,} bytes"})
        received = 0
        started = False

        async def limited_receive() -> dict:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        error_start: dict | None = None
        error_body: list[bytes] = []

        async def tracking_send(message: dict) -> None:
            """Error bodies become one JSON object: BentoML wraps its own as a one-element list."""
            nonlocal started, error_start
            if message["type"] == "http.response.start":
                started = True
                if message["status"] >= 400:
                    error_start = message
                    return
            if error_start is None or message["type"] != "http.response.body":
                await send(message)
                return
            error_body.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = b"".join(error_body)
            try:
                payload = json.loads(body)
                if isinstance(payload, list) and len(payload) == 1 and isinstance(payload[0], dict):
                    body = json.dumps(payload[0]).encode()
            except ValueError:
                pass
            headers = [(k, v) for k, v in error_start.get("headers", []) if k.lower() != b"content-length"]
            await send({**error_start, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            error_start = None

        try:
            content_type = headers.get(b"content-type", b"").decode("latin-1")
            allowed = self.fields.get(path)
            if allowed is not None and content_type.startswith("multipart/form-data"):
                body = await _read_body(limited_receive)
                names = multipart_field_names(body, content_type)
                if names is None:
                    return await _send_json(send, 400, {"error": "the multipart body cannot be parsed"})
                unknown = sorted(set(names) - allowed)
                if unknown:
                    return await _send_json(send, 400, {"error": f"unknown field(s) {unknown}; this endpoint "
                                                                 f"accepts {sorted(allowed)}"})
                limited_receive = _replay(body)
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await _send_json(send, 413, {"error": f"request body exceeds the limit of {limit:,} bytes"})

    async def _static(self, path: str, send: Any) -> None:
        from serving import state

        if path == "/ui":
            body = UI_PAGE.read_bytes()
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"text/html; charset=utf-8"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        service = state.current()
        if service is None:
            await _send_json(send, 503, {"error": "the model is still loading"})
            return
        await _send_json(send, 200, service.model_info())
