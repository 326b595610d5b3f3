"""Service fixtures: the ASGI app in-process, and real ``bentoml serve`` processes on free loopback ports: one
with the defaults, one as an operator hardens it (repository control on with a token from a file, one diagnosis
at a time with one waiting, a 2 s body deadline)."""

import os

import pytest

from tests.servers import bentoml_serve

os.environ.setdefault("HOWVITS_THREADS", "1")
TOKEN = "test-control-token-0123456789abcdef"


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
def strict_server(tmp_path_factory):
    token_file = tmp_path_factory.mktemp("secrets") / "control-token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    with bentoml_serve(timeout=180, HOWVITS_MODELS="alternet-tiny-cifar10,resnet-tiny-cifar10",
                       HOWVITS_MODEL_CONTROL="explicit", HOWVITS_CONTROL_TOKEN_FILE=str(token_file),
                       HOWVITS_MAX_DIAGNOSE="1", HOWVITS_DIAGNOSE_QUEUE="1", HOWVITS_BODY_TIMEOUT_S="2") as url:
        yield url


@pytest.fixture(scope="session")
def api_schema(server):
    """The service's own OpenAPI schema, as a running server publishes it."""
    import schemathesis

    return schemathesis.openapi.from_url(f"{server}/docs.json")
