"""The Open Inference Protocol's messages as pydantic models, for the OpenAPI document of the ``/v2`` routes
(the requests themselves are parsed by :mod:`serving.oip`, which also reads the binary tensor extension)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ErrorBody(BaseModel):
    error: str


class ServerMetadata(BaseModel):
    name: str
    version: str
    extensions: list[str]


class Live(BaseModel):
    live: bool


class Ready(BaseModel):
    ready: bool


class ModelReady(BaseModel):
    name: str
    ready: bool


class TensorMetadata(BaseModel):
    name: str
    datatype: str
    shape: list[int]


class ModelMetadata(BaseModel):
    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]


class InferInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Literal["input", "image"] = Field(description="input: FP32 (N, 3, H, W) normalised; image: BYTES (N,) "
                                                        "encoded images (base64 in JSON)")
    datatype: Literal["FP32", "BYTES"]
    shape: list[int] = Field(max_length=4)
    data: list[Any] | None = Field(None, description="row-major values (flat or nested); omit with binary data")
    parameters: dict[str, Any] | None = Field(None, description='{"binary_data_size": bytes after the JSON part}')


class RequestedOutput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Literal["logits", "probabilities"]
    parameters: dict[str, Any] | None = Field(None, description='{"binary_data": bool, "classification": k}')


class InferRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str | None = None
    inputs: list[InferInput] = Field(min_length=1, max_length=1)
    outputs: list[RequestedOutput] | None = None
    parameters: dict[str, Any] | None = Field(None, description='{"binary_data_output": bool}')


class OutputTensor(BaseModel):
    name: str
    datatype: str
    shape: list[int]
    data: list[Any] | None = None
    parameters: dict[str, Any] | None = None


class InferResponse(BaseModel):
    model_name: str
    model_version: str
    id: str | None = None
    outputs: list[OutputTensor]


class RepositoryIndexRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ready: bool = False


class RepositoryIndexEntry(BaseModel):
    name: str
    version: str
    state: Literal["READY", "UNAVAILABLE"]
    reason: str | None = None


class ControlRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    parameters: dict[str, Any] | None = Field(None, description='unload only: {"force": true} also unloads the '
                                                                "default or the last model")


class Duration(BaseModel):
    count: int
    ns: int


class InferenceStats(BaseModel):
    success: Duration
    fail: Duration
    queue: Duration
    compute_input: Duration
    compute_infer: Duration
    compute_output: Duration
    cache_hit: Duration
    cache_miss: Duration


class BatchStats(BaseModel):
    batch_size: int
    compute_input: Duration
    compute_infer: Duration
    compute_output: Duration


class ModelStats(BaseModel):
    name: str
    version: str
    last_inference: int
    inference_count: int
    execution_count: int
    inference_stats: InferenceStats
    batch_stats: list[BatchStats]
    memory_usage: list[Any]


class StatsResponse(BaseModel):
    model_stats: list[ModelStats]


def inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """A model's JSON schema with its ``$defs`` inlined (an OpenAPI request body given by hand has no
    components of its own)."""
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve(definitions[node["$ref"].rsplit("/", 1)[-1]])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    return resolve(schema)
