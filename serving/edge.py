"""The one ASGI middleware in front of BentoML's app, for what every response needs:

- request metrics labelled by the route template that answered (``/v2/models/{name}/infer``), unknown paths
  as ``other``, so a scan of random URLs adds no series (BentoML's own request metrics label by raw path and
  are switched off);
- ``X-Content-Type-Options: nosniff`` on every response, and ``Retry-After`` on every 503;
- every 4xx body is the object the OpenAPI document describes, ``{"error": message}``: BentoML 1.4 answers an
  error of a typed endpoint with a one-element JSON list (bentoml/BentoML#4232, fix proposed in PR #5709),
  which is unwrapped, and Starlette's plain-text 404 and 405 get a message naming the path.
"""

from __future__ import annotations

import json
import time
from typing import Any

from starlette.datastructures import MutableHeaders

from serving import telemetry

RETRY_AFTER_SECONDS = 1


def route_label(scope: dict) -> str:
    """The template of the route that answered, or ``other``."""
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) and path else "other"


def error_body(body: bytes, status: int, scope: dict) -> bytes:
    """A 4xx body as ``{"error": ...}``: BentoML's ``[{"error": ...}]`` unwrapped, a plain-text one replaced."""
    try:
        payload = json.loads(body)
    except ValueError:
        path = scope["path"][:100]
        message = {404: f"no such endpoint {path!r} (GET /docs.json lists them)",
                   405: f"{path} does not take {scope['method'][:10]}"}.get(status, body.decode("utf-8", "replace"))
        return json.dumps({"error": message}).encode()
    if isinstance(payload, list) and len(payload) == 1 and isinstance(payload[0], dict) and "error" in payload[0]:
        return json.dumps(payload[0]).encode()
    return body


class Edge:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, status = time.perf_counter(), 500
        held: dict | None = None
        chunks: list[bytes] = []

        async def edge_send(message: dict) -> None:
            nonlocal status, held
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(raw=list(message.get("headers", [])))
                headers["x-content-type-options"] = "nosniff"
                if status == 503 and "retry-after" not in headers:
                    headers["retry-after"] = str(RETRY_AFTER_SECONDS)
                message = {**message, "headers": headers.raw}
                if 400 <= status < 500 and headers.get("content-type", "").split(";")[0] in ("application/json",
                                                                                             "text/plain"):
                    held = message  # small: read it whole, then answer with the error object
                    return
            elif message["type"] == "http.response.body" and held is not None:
                chunks.append(message.get("body", b""))
                if message.get("more_body"):
                    return
                body = error_body(b"".join(chunks), status, scope)
                headers = MutableHeaders(raw=held["headers"])
                headers["content-length"] = str(len(body))
                headers["content-type"] = "application/json"
                await send({**held, "headers": headers.raw})
                message = {"type": "http.response.body", "body": body}
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                telemetry.record_request(route_label(scope), scope["method"], status, time.perf_counter() - started)

        await self.app(scope, receive, edge_send)
