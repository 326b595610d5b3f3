"""ONNX / TensorRT export with parity gates and one predictor interface (see the export issue)."""
