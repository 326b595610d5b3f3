"""Property-based fuzzing of the real service from its own OpenAPI schema (``/docs.json``: the typed endpoints
and the mounted ``/v2`` routes) with schemathesis: no 5xx, and every response that the schema describes matches
it. Bounded in examples per operation (the operations are driven from here rather than through schemathesis's
pytest plugin)."""

from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

EXAMPLES = 40


def exercise(operation, server: str, statuses: list[int]):
    """A hypothesis test of one operation: generated cases, each called and validated."""

    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
              database=None)
    def run(case) -> None:
        response = case.call(base_url=server, timeout=60)
        statuses.append(response.status_code)
        case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])

    return run


def test_generated_requests_get_no_5xx_and_conform_to_the_schema(api_schema, server):
    tried = {}
    for result in api_schema.get_all_operations():
        operation, statuses = result.ok(), []
        exercise(operation, server, statuses)()
        tried[operation.label] = sorted(set(statuses))
    print(f"schemathesis: {tried}")
    assert {"POST /predict", "POST /predict_batch", "POST /diagnose", "POST /logits", "GET /models",
            "POST /v2/models/{name}/infer", "GET /v2/models/{name}/stats", "POST /v2/repository/index",
            "POST /v2/repository/models/{name}/unload"} <= set(tried)
