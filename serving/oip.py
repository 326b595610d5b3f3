"""The Open Inference Protocol ("KServe v2") over REST, with Triton's binary tensor data, classification, model
repository, model configuration and statistics extensions: requests checked against a model's metadata and
responses built, for the routes of :mod:`serving.service` (so standard clients such as ``tritonclient.http``
and ``perf_analyzer`` work unchanged).

Each model takes exactly one of two inputs: ``input``, FP32 ``(N, 3, H, W)`` already normalised, or ``image``,
BYTES ``(N,)`` of encoded images (JPEG/PNG/WebP/BMP; base64 strings in JSON, raw in binary) decoded by the same
hardened decoder as ``/predict``. Outputs: ``logits`` and ``probabilities`` (FP32 ``(N, classes)``); an output
requested with the ``classification`` parameter ``k`` becomes Triton's BYTES ``(N, k)`` of
``"value:index:label"``. Errors are the protocol's ``{"error": message}`` with a 4xx, as Triton answers them.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import struct
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import numpy as np

from hub import postprocess
from serving.bodies import parse_json
from serving.errors import RequestError
from serving.repository import ServedModel

VERSION = "1"
"""Each name serves one version."""
EXTENSIONS = ["binary_tensor_data", "classification", "model_repository", "model_configuration", "statistics"]
PLATFORMS = {"onnxruntime": "onnxruntime_onnx", "onnxruntime-cuda": "onnxruntime_onnx", "tensorrt": "tensorrt_plan",
             "torch": "pytorch_libtorch"}
HEADER_LENGTH = b"inference-header-content-length"
OUTPUTS = ("logits", "probabilities")

# -- requests ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestedOutput:
    name: str
    binary: bool
    classification: int = 0


@dataclass(frozen=True)
class InferRequest:
    id: str | None
    input_name: str
    array: np.ndarray | None = None
    """``input``: the float batch."""
    images: list[bytes] = field(default_factory=list)
    """``image``: the encoded files."""
    outputs: list[RequestedOutput] = field(default_factory=list)


def _fail(message: str, status: HTTPStatus = HTTPStatus.BAD_REQUEST) -> RequestError:
    return RequestError(message, status)


def _parameters(obj: dict, where: str) -> dict:
    parameters = obj.get("parameters", {})
    if not isinstance(parameters, dict):
        raise _fail(f"{where}: parameters must be an object")
    return parameters


def _int(value: Any, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _fail(f"{what} must be an integer in [{low}, {high}], got {str(value)[:40]!r}")
    return value


def split_body(body: bytes, header_length: str | None) -> tuple[dict, bytes]:
    """The JSON header and the binary part that follows it (the binary tensor data extension)."""
    if header_length is not None:
        if not header_length.isdigit() or int(header_length) > len(body):
            raise _fail(f"Inference-Header-Content-Length {header_length[:20]!r} does not fit a body of "
                        f"{len(body)} bytes")
        cut = int(header_length)
        head, binary = body[:cut], body[cut:]
    else:
        head, binary = body, b""
    try:
        header = parse_json(head, "the request's JSON part")
    except RequestError as err:
        raise _fail(f"{err} (with binary tensors, set Inference-Header-Content-Length to the JSON part's "
                    f"length)") from None
    if not isinstance(header, dict):
        raise _fail("the request must be a JSON object with \"inputs\"")
    return header, binary


def _bytes_elements(raw: bytes, count: int) -> list[bytes]:
    """Triton's BYTES serialisation: each element a 4-byte little-endian length, then its bytes."""
    out, at = [], 0
    for _ in range(count):
        if at + 4 > len(raw):
            raise _fail("binary BYTES data ends inside an element's length")
        (size,) = struct.unpack_from("<I", raw, at)
        at += 4
        if at + size > len(raw):
            raise _fail("binary BYTES data ends inside an element")
        out.append(raw[at:at + size])
        at += size
    if at != len(raw):
        raise _fail(f"binary BYTES data holds {len(raw) - at} bytes after its {count} elements")
    return out


def serialize_bytes(elements: list[bytes]) -> bytes:
    return b"".join(struct.pack("<I", len(e)) + e for e in elements)


def parse_infer(header: dict, binary: bytes, model: ServedModel, max_batch: int, max_images: int) -> InferRequest:
    """Check an inference request against the model's metadata; every refusal says what was expected."""
    unknown = sorted(set(header) - {"id", "inputs", "outputs", "parameters"})
    if unknown:
        raise _fail(f"unknown request fields {unknown}")
    request_id = header.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise _fail("id must be a string")
    inputs = header.get("inputs")
    if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], dict):
        raise _fail("send exactly one input: \"input\" (FP32, normalised, (N, 3, H, W)) or \"image\" (BYTES, "
                    "encoded images, (N,))")
    tensor = inputs[0]
    name, datatype, shape = tensor.get("name"), tensor.get("datatype"), tensor.get("shape")
    if name not in ("input", "image"):
        raise _fail(f"unknown input {str(name)[:40]!r}; the inputs are \"input\" and \"image\"")
    rank = 4 if name == "input" else 2
    if not isinstance(shape, list) or not 1 <= len(shape) <= rank:
        raise _fail(f"input {name!r}: shape must be a list of at most {rank} dimensions")
    if not all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= 1 << 30 for d in shape):
        raise _fail(f"input {name!r}: shape must be a list of non-negative integers")
    parameters = _parameters(tensor, f"input {name!r}")
    count = math.prod(shape)
    if "binary_data_size" in parameters:
        size = _int(parameters["binary_data_size"], f"input {name!r}: binary_data_size", 0, len(binary))
        if size != len(binary):
            raise _fail(f"input {name!r}: binary_data_size is {size} but {len(binary)} bytes follow the JSON")
        raw, data = binary, None
        if "data" in tensor:
            raise _fail(f"input {name!r}: give data or binary_data_size, not both")
    else:
        if binary:
            raise _fail(f"{len(binary)} binary bytes follow the JSON but no input declares binary_data_size")
        raw, data = None, tensor.get("data")
        if data is None:
            raise _fail(f"input {name!r}: no data (or binary_data_size)")
    outputs = _requested_outputs(header, model)
    if name == "input":
        expected = [-1, *model.config.input_size]
        if datatype != "FP32":
            raise _fail(f"input \"input\" is FP32, got {str(datatype)[:20]!r}")
        if len(shape) != 4 or shape[1:] != expected[1:]:
            raise _fail(f"input \"input\" has shape {expected} for this model, got {shape}")
        if not 1 <= shape[0] <= max_batch:
            raise _fail(f"send between 1 and {max_batch} images, got {shape[0]}")
        if raw is not None:
            if len(raw) != 4 * count:
                raise _fail(f"input \"input\": {count} FP32 values are {4 * count} bytes, got {len(raw)}")
            array = np.frombuffer(raw, dtype="<f4").reshape(shape).astype(np.float32)
        else:
            array = _numbers(data, count).reshape(shape)
        if not np.isfinite(array).all():
            raise _fail("input \"input\" holds NaN or infinite values")
        return InferRequest(request_id, name, array=array, outputs=outputs)
    if datatype != "BYTES":
        raise _fail(f"input \"image\" is BYTES, got {str(datatype)[:20]!r}")
    if len(shape) not in (1, 2) or (len(shape) == 2 and shape[1] != 1):
        raise _fail(f"input \"image\" has shape [N] (or [N, 1]), got {shape}")
    if not 1 <= count <= max_images:
        raise _fail(f"send between 1 and {max_images} images, got {count}")
    if raw is not None:
        images = _bytes_elements(raw, count)
    else:
        if not isinstance(data, list) or len(data) != count or not all(isinstance(d, str) for d in data):
            raise _fail(f"input \"image\": in JSON, data is a list of {count} base64 strings")
        try:
            images = [base64.b64decode(d, validate=True) for d in data]
        except (binascii.Error, ValueError):
            raise _fail("input \"image\": an element is not valid base64") from None
    return InferRequest(request_id, name, images=images, outputs=outputs)


def _numbers(data: Any, count: int) -> np.ndarray:
    """JSON numbers, flat or nested row-major, as float32; booleans and strings are refused."""
    try:
        array = np.asarray(data)
    except ValueError:
        raise _fail("input \"input\": data is ragged") from None
    if array.dtype.kind not in "iuf" or array.size != count:
        raise _fail(f"input \"input\": data must be {count} numbers (flat or nested row-major), got "
                    f"{array.size} {'values' if array.dtype.kind in 'iuf' else 'non-numbers'}")
    return array.reshape(-1).astype(np.float32)


def _requested_outputs(header: dict, model: ServedModel) -> list[RequestedOutput]:
    binary_default = _parameters(header, "request").get("binary_data_output", False)
    if not isinstance(binary_default, bool):
        raise _fail("binary_data_output must be true or false")
    requested = header.get("outputs")
    if requested is None:
        return [RequestedOutput(name, binary_default) for name in OUTPUTS]
    if not isinstance(requested, list) or not requested:
        raise _fail("outputs must be a non-empty list of {\"name\": ...}")
    found = []
    for item in requested:
        name = item.get("name") if isinstance(item, dict) else None
        if name not in OUTPUTS:
            raise _fail(f"unknown output {str(name)[:40]!r}; the outputs are {', '.join(OUTPUTS)}")
        parameters = _parameters(item, f"output {name!r}")
        binary = parameters.get("binary_data", binary_default)
        if not isinstance(binary, bool):
            raise _fail(f"output {name!r}: binary_data must be true or false")
        k = parameters.get("classification", 0)
        k = _int(k, f"output {name!r}: classification", 0, len(model.labels)) if k else 0
        found.append(RequestedOutput(name, binary, k))
    return found


# -- responses -----------------------------------------------------------------------------------------------


def _tensor(name: str, values: np.ndarray | list[bytes], shape: list[int], binary: bool) -> tuple[dict, bytes]:
    """One response output: its JSON object and, for binary data, the bytes that follow the JSON."""
    if isinstance(values, list):
        datatype, raw, data = "BYTES", serialize_bytes(values), [v.decode() for v in values]
    else:
        datatype, raw, data = "FP32", values.astype("<f4").tobytes(), values.reshape(-1).tolist()
    obj: dict[str, Any] = {"name": name, "datatype": datatype, "shape": shape}
    if binary:
        obj["parameters"] = {"binary_data_size": len(raw)}
        return obj, raw
    obj["data"] = data
    return obj, b""


def classification(values: np.ndarray, labels: list[str], k: int) -> list[bytes]:
    """Triton's classification strings, ``"value:index:label"`` by descending value, row by row."""
    out = []
    for row in values:
        order = np.argsort(-row, kind="stable")[:k]
        out.extend(f"{row[i]:f}:{i}:{labels[i]}".encode() for i in order)
    return out


def infer_response(model: ServedModel, request: InferRequest, logits: np.ndarray) -> tuple[bytes, bytes | None]:
    """The response body and, when any output is binary, the JSON part's length for the header."""
    computed = {"logits": logits, "probabilities": postprocess.probabilities(logits).astype(np.float32)}
    objects, binaries = [], []
    for output in request.outputs:
        values = computed[output.name]
        if output.classification:
            obj, raw = _tensor(output.name, classification(values, model.labels, output.classification),
                               [len(values), output.classification], output.binary)
        else:
            obj, raw = _tensor(output.name, values, list(values.shape), output.binary)
        objects.append(obj)
        binaries.append(raw)
    response: dict[str, Any] = {"model_name": model.name, "model_version": VERSION, "outputs": objects}
    if request.id is not None:
        response["id"] = request.id
    head = json.dumps(response).encode()
    if not any(binaries):
        return head, None
    return head + b"".join(binaries), str(len(head)).encode()


def model_metadata(model: ServedModel) -> dict[str, Any]:
    classes = len(model.labels)
    return {"name": model.name, "versions": [VERSION], "platform": PLATFORMS.get(model.predictor.backend, "unknown"),
            "inputs": [{"name": "input", "datatype": "FP32", "shape": list(model.input_shape)},
                       {"name": "image", "datatype": "BYTES", "shape": [-1]}],
            "outputs": [{"name": name, "datatype": "FP32", "shape": [-1, classes]} for name in OUTPUTS]}


def model_config(model: ServedModel, max_batch_size: int, batching: bool) -> dict[str, Any]:
    """The model's configuration as Triton's model configuration extension returns it (``config.pbtxt``
    as JSON): what ``tritonclient``'s ``get_model_config`` and ``perf_analyzer`` read."""
    classes = len(model.labels)
    config: dict[str, Any] = {
        "name": model.name, "platform": PLATFORMS.get(model.predictor.backend, "unknown"),
        "backend": model.predictor.backend, "version_policy": {"latest": {"num_versions": 1}},
        "max_batch_size": max_batch_size,
        "input": [{"name": "input", "data_type": "TYPE_FP32", "format": "FORMAT_NCHW",
                   "dims": list(model.config.input_size)},
                  {"name": "image", "data_type": "TYPE_STRING", "dims": [1], "reshape": {"shape": []}}],
        "output": [{"name": name, "data_type": "TYPE_FP32", "dims": [classes]} for name in OUTPUTS],
        "instance_group": [{"name": model.name, "kind": "KIND_CPU" if "cuda" not in model.predictor.backend and
                            model.predictor.backend != "tensorrt" else "KIND_GPU", "count": 1}],
        "parameters": {"precision": {"string_value": model.predictor.precision},
                       "revision": {"string_value": model.revision}},
    }
    if batching:
        config["dynamic_batching"] = {"max_queue_delay_microseconds": 0}
    return config


def version_of(name: str, version: str | None) -> None:
    """A 400 for any version but the one each name serves."""
    if version is not None and version != VERSION:
        raise _fail(f"model {name[:64]!r} has no version {version[:32]!r}; it serves version {VERSION}")
