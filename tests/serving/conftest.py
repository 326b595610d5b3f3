"""Service fixtures: the ASGI app in-process, and one real ``bentoml serve`` on a free loopback port."""

import os

import pytest

from tests.servers import bentoml_serve

os.environ.setdefault("HOWVITS_THREADS", "1")


@pytest.fixture(scope="session")
def app_client():
    from starlette.testclient import TestClient

    from serving.service import Classifier

    with TestClient(Classifier.to_asgi()) as client:
        yield client


@pytest.fixture(scope="session")
def server():
    """``bentoml serve serving.service:Classifier`` as a user runs it; yields its base URL."""
    with bentoml_serve(timeout=180) as url:
        yield url


@pytest.fixture(scope="session")
def api_schema(server):
    """The service's own OpenAPI schema, as a running server publishes it."""
    import schemathesis

    return schemathesis.openapi.from_url(f"{server}/docs.json")
