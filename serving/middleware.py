"""ASGI middleware in front of the BentoML app: ``GET /model``, ``GET /ui`` (the static page) and the request
body limit (413 before the body is read when Content-Length says so, or as soon as a streamed body passes
the limit)."""

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


class HowvitsMiddleware:
    def __init__(self, app: Any, max_body_bytes: int) -> None:
        self.app, self.max_body_bytes = app, max_body_bytes

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

        async def tracking_send(message: dict) -> None:
            """Error bodies become one JSON object: BentoML wraps its own as a one-element list."""
            nonlocal started, error_start
            if message["type"] == "http.response.start":
                started = True
                if message["status"] >= 400:
                    error_start = message
                    return
            if error_start is not None and message["type"] == "http.response.body":
                body = message.get("body", b"")
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
                return
            await send(message)

        try:
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
