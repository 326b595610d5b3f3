"""Who may change what is served: repository control (load and unload) is off unless the operator starts the
service with ``HOWVITS_MODEL_CONTROL=explicit`` and a token, as Triton keeps it off unless started with
``--model-control-mode=explicit``.

When on, a control request must carry ``Authorization: Bearer <token>`` (compared in constant time) and a JSON
body type: a cross-site form or a ``fetch(..., {mode: "no-cors"})`` can send neither a custom header nor
``application/json``, so no page a user opens can unload a model through the user's browser.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus

from serving.errors import RequestError
from serving.settings import ModelControl, ServiceSettings


@dataclass(frozen=True)
class ControlPolicy:
    mode: ModelControl
    token: bytes = b""

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> ControlPolicy:
        return cls(settings.model_control, settings.token.encode())

    @property
    def enabled(self) -> bool:
        return self.mode is ModelControl.EXPLICIT and bool(self.token)

    def check(self, headers: Mapping[str, str]) -> None:
        """Allow a control request, or refuse it: 403 when control is off, 401 without the right token, 415
        unless the body is declared JSON."""
        if not self.enabled:
            raise RequestError("repository control is off: the operator enables it by starting the service with "
                               "HOWVITS_MODEL_CONTROL=explicit and a control token", HTTPStatus.FORBIDDEN)
        scheme, _, given = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), self.token):
            raise RequestError("repository control needs the operator's token: Authorization: Bearer <token>",
                               HTTPStatus.UNAUTHORIZED, {"WWW-Authenticate": 'Bearer realm="repository control"'})
        media = headers.get("content-type", "").split(";")[0].strip().lower()
        if media != "application/json":
            raise RequestError(f"a control request's body is JSON (Content-Type application/json, got "
                               f"{media or 'none'!r})", HTTPStatus.UNSUPPORTED_MEDIA_TYPE)
