"""A refused request: the 4xx status and the message the client reads as ``{"error": message}``.

A :class:`bentoml.exceptions.BentoMLException`, so that BentoML's typed endpoints answer it with its status
wherever it is raised (in an input's parsing or in the endpoint); the Open Inference Protocol routes answer it
through their exception handler.
"""

from __future__ import annotations

from http import HTTPStatus

from bentoml.exceptions import BentoMLException


class RequestError(BentoMLException):
    """A request that is refused, with the status and message to answer (and headers, such as Retry-After)."""

    def __init__(self, message: str, status: HTTPStatus = HTTPStatus.BAD_REQUEST,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message, error_code=HTTPStatus(status))
        self.status = HTTPStatus(status)
        self.headers = headers or {}
