"""ASGI middleware in front of the BentoML app.

- ``GET /model`` (``?model=`` a loaded name), ``GET /models`` and ``GET /ui`` (the static page, with a
  Content-Security-Policy of hashes of its own script and style) are answered here; every response carries
  ``X-Content-Type-Options: nosniff``.
- The Open Inference Protocol under ``/v2`` is answered here by :mod:`serving.oip`, with the body read under
  the request limit.
- Unknown paths are a 404 answered here; requests are counted by :mod:`serving.telemetry` with unknown paths
  as ``other``, and ``GET /metrics`` is served here.
- The API's request bodies are limited (413 before reading when Content-Length says so, or as soon as a
  streamed body passes the limit), parsed once with explicit limits by :mod:`serving.requests`, and handed on
  re-encoded; a wrong content type is a 415 before the body is read.
- Error bodies become one JSON object ``{"error": ...}``; a 503 carries ``Retry-After``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from collections.abc import Mapping
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from serving import oip, telemetry
from serving.requests import FieldKind, Limits, RequestError, encode_multipart, parse_batch, parse_multipart

UI_PAGE = Path(__file__).with_name("ui") / "index.html"
BENTOML_PATHS = ("/", "/docs.json", "/schema.json", "/readyz", "/livez", "/healthz")
SECURITY_HEADERS = [(b"x-content-type-options", b"nosniff")]
RETRY_AFTER_SECONDS = 1


def _json_response(status: int, payload: Any) -> tuple[dict, dict]:
    body = json.dumps(payload, default=str).encode()
    start = {"type": "http.response.start", "status": status,
             "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                         *SECURITY_HEADERS]}
    return start, {"type": "http.response.body", "body": body}


async def _send_json(send: Any, status: int, payload: Any) -> None:
    for message in _json_response(status, payload):
        await send(message)


def _page_policy(page: str) -> str:
    """A CSP allowing exactly the page's own inline script and style (by hash) and nothing from elsewhere."""
    def hashes(tag: str) -> str:
        blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", page, flags=re.S)
        return " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(b.encode()).digest()).decode()}'" for b in blocks)

    return (f"default-src 'none'; script-src {hashes('script')}; style-src {hashes('style')}; "
            f"img-src 'self' blob: data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
            f"frame-ancestors 'none'")



class HowvitsMiddleware:
    def __init__(self, app: Any, limits: Limits, fields: Mapping[str, Mapping[str, FieldKind]],
                 batch_shape: tuple[int, ...], max_batch: int, protocol: oip.Limits,
                 busy: Mapping[str, str] | None = None) -> None:
        self.app, self.limits, self.fields, self.busy = app, limits, fields, dict(busy or {})
        self.protocol = protocol
        self.batch_shape, self.max_batch = batch_shape, max_batch
        self.page = UI_PAGE.read_bytes()
        self.page_policy = _page_policy(self.page.decode()).encode()

    def _known(self, path: str) -> bool:
        return path in self.fields or path in ("/logits", "/model", "/models", "/ui", "/metrics", *BENTOML_PATHS) or \
            path.startswith("/static_content/")

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path, method = scope["path"].rstrip("/") or "/", scope["method"]
        v2 = oip.route(path) if path == "/v2" or path.startswith("/v2/") else None
        known = v2 is not None or self._known(path)
        endpoint = ("/static_content" if path.startswith("/static_content/") else path) if known else "other"
        if v2 is not None:
            endpoint = v2[1]
        started_at, status = time.perf_counter(), [500]

        async def counted_send(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                telemetry.record(endpoint, method, status[0], time.perf_counter() - started_at)

        if not known:
            return await _send_json(counted_send, 404, {"error": f"no such endpoint {path[:100]!r}"})
        if v2 is not None:
            return await self._protocol(scope, receive, counted_send, method, *v2)
        if path in ("/model", "/models", "/ui", "/metrics") and method in ("GET", "HEAD"):
            return await self._static(path, counted_send, scope.get("query_string", b""))
        await self._forward(scope, receive, counted_send, path, method)

    async def _forward(self, scope: dict, receive: Any, send: Any, path: str, method: str) -> None:
        started = False
        error_start: dict | None = None
        error_body: list[bytes] = []

        async def tracking_send(message: dict) -> None:
            """Security headers on every response; error bodies become one JSON object (BentoML wraps its own
            as a one-element list); a 503 says when to come back."""
            nonlocal started, error_start
            if message["type"] == "http.response.start":
                started = True
                message = {**message, "headers": [*message.get("headers", []), *SECURITY_HEADERS]}
                if message["status"] >= 400:
                    error_start = message
                    return
            if error_start is None or message["type"] != "http.response.body":
                await send(message)
                return
            error_body.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = _error_body(b"".join(error_body))
            if error_start["status"] == HTTPStatus.SERVICE_UNAVAILABLE and path in self.busy:
                body = json.dumps({"error": self.busy[path]}).encode()  # BentoML hides 5xx messages
            headers = [(k, v) for k, v in error_start.get("headers", []) if k.lower() != b"content-length"]
            if error_start["status"] == HTTPStatus.SERVICE_UNAVAILABLE:
                headers.append((b"retry-after", str(RETRY_AFTER_SECONDS).encode()))
            await send({**error_start, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            error_start = None

        if method != "POST" or (path not in self.fields and path != "/logits"):
            return await self.app(scope, receive, tracking_send)
        try:
            scope, receive = await self._canonical(scope, receive, path)
        except RequestError as err:
            return await _send_json(send, err.status, {"error": str(err)})
        await self.app(scope, receive, tracking_send)
        if not started:
            await _send_json(send, 500, {"error": "the service sent no response"})

    async def _canonical(self, scope: dict, receive: Any, path: str) -> tuple[dict, Any]:
        """Read the body under the limits, parse it once and return a scope and receive that replay it
        re-encoded."""
        headers = [(k.lower(), v) for k, v in scope.get("headers") or []]
        types = [v.decode("latin-1") for k, v in headers if k == b"content-type"]
        if len(types) > 1:
            raise RequestError("the request has more than one Content-Type header")
        content_type = types[0] if types else ""
        media = content_type.split(";")[0].strip().lower()
        wanted = "application/json" if path == "/logits" else "multipart/form-data"
        if path != "/logits" and media in ("application/x-www-form-urlencoded", "application/json"):
            files = [name for name, kind in self.fields[path].items() if kind in (FieldKind.FILE, FieldKind.FILES)]
            raise RequestError(f"{' and '.join(files)} must be uploaded as a file: send multipart/form-data (a URL "
                               f"or a path given as text is never fetched or opened)")
        if media != wanted:
            what = "a JSON object {\"batch\": ...}" if path == "/logits" else \
                "multipart/form-data, with each image as an uploaded file"
            raise RequestError(f"send {what} (got Content-Type {media or 'none'!r})",
                               HTTPStatus.UNSUPPORTED_MEDIA_TYPE)
        limit = self.limits.max_request_bytes
        lengths = [v for k, v in headers if k == b"content-length"]
        if len(lengths) > 1 or (lengths and not lengths[0].isdigit()):
            raise RequestError("the request has an unusable Content-Length")
        if lengths and int(lengths[0]) > limit:
            raise RequestError(f"request body of {int(lengths[0]):,} bytes exceeds the limit of {limit:,} bytes",
                               HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
        body = await _read_body(receive, limit)
        if path == "/logits":
            canonical, canonical_type = parse_batch(body, self.batch_shape, self.max_batch), "application/json"
        else:
            form = parse_multipart(body, content_type, self.fields[path], self.limits)
            canonical, canonical_type = encode_multipart(form)
        kept = [(k, v) for k, v in headers if k not in (b"content-type", b"content-length", b"transfer-encoding")]
        scope = {**scope, "headers": [*kept, (b"content-type", canonical_type.encode()),
                                      (b"content-length", str(len(canonical)).encode())]}
        return scope, _replay(canonical)

    async def _protocol(self, scope: dict, receive: Any, send: Any, method: str, expected: str, template: str,
                        params: dict[str, str]) -> None:
        """One Open Inference Protocol request; every refusal is its ``{"error": ...}`` with a 4xx."""
        from serving import state

        if method != expected and not (method == "HEAD" and expected == "GET"):
            return await _send_json(send, 405, {"error": f"{template} takes {expected}, not {method[:10]}"})
        headers: dict[bytes, bytes] = {}
        for key, value in scope.get("headers") or []:
            if key.lower() in headers:
                return await _send_json(send, 400, {"error": f"the request repeats the {key.decode('latin-1')} header"})
            headers[key.lower()] = value

        async def body(limit: int) -> bytes:
            length = headers.get(b"content-length", b"")
            if length and (not length.isdigit() or int(length) > limit):
                raise RequestError(f"request body exceeds the limit of {limit:,} bytes",
                                   HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
            return await _read_body(receive, limit)

        async def respond(status: int, payload: bytes, extra: list[tuple[bytes, bytes]]) -> None:
            await send({"type": "http.response.start", "status": status,
                        "headers": [*extra, (b"content-length", str(len(payload)).encode()), *SECURITY_HEADERS]})
            await send({"type": "http.response.body", "body": payload if method != "HEAD" else b""})

        try:
            await oip.handle(state.current(), method, template, params, headers, body, respond, self.protocol)
        except RequestError as err:
            await _send_json(send, err.status, {"error": str(err)})

    async def _static(self, path: str, send: Any, query: bytes = b"") -> None:
        from serving import state

        if path == "/metrics":
            body, media = telemetry.exposition()
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", media.encode()), (b"content-length", str(len(body)).encode()),
                                    *SECURITY_HEADERS]})
            await send({"type": "http.response.body", "body": body})
            return
        if path == "/ui":
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"text/html; charset=utf-8"),
                                    (b"content-length", str(len(self.page)).encode()),
                                    (b"content-security-policy", self.page_policy), *SECURITY_HEADERS]})
            await send({"type": "http.response.body", "body": self.page})
            return
        service = state.current()
        if service is None:
            await _send_json(send, 503, {"error": "the models are still loading"})
            return
        if path == "/models":
            await _send_json(send, 200, service.models_info())
            return
        name = parse_qs(query.decode("latin-1")).get("model", [""])[0]
        try:
            await _send_json(send, 200, service.model_info(name))
        except LookupError as err:
            await _send_json(send, 404, {"error": str(err)})


def _error_body(body: bytes) -> bytes:
    """BentoML's error bodies as the schema documents them: one object ``{"error": str, "detail": str}``."""
    try:
        payload = json.loads(body)
    except ValueError:
        return json.dumps({"error": body.decode("utf-8", "replace")[:500] or "error"}).encode()
    if isinstance(payload, list) and len(payload) == 1:
        payload = payload[0]
    if not isinstance(payload, dict) or not isinstance(payload.get("error"), str):
        return json.dumps({"error": str(payload)[:500]}).encode()
    detail = payload.get("detail")
    if isinstance(detail, list):  # pydantic's validation errors
        payload["detail"] = "; ".join(f"{'.'.join(map(str, item.get('loc', ())))}: {item.get('msg', '')}"
                                      if isinstance(item, dict) else str(item) for item in detail)
    elif detail is not None and not isinstance(detail, str):
        payload["detail"] = str(detail)
    return json.dumps({k: v for k, v in payload.items() if k in ("error", "detail")}).encode()


async def _read_body(receive: Any, limit: int) -> bytes:
    chunks, received = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise RequestError("the client went away before sending the whole body")
        chunk = message.get("body", b"")
        received += len(chunk)
        if received > limit:
            raise RequestError(f"request body exceeds the limit of {limit:,} bytes",
                               HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
        chunks.append(chunk)
        if not message.get("more_body"):
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
