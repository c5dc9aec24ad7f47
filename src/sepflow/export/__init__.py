"""Trained models as ONNX graphs for deployment: a streaming hop with its state as explicit
tensors for the causal models, an offline graph for every model, each checked against
PyTorch when it is made, and a model card beside them (sepflow export CHECKPOINT DIR).

The exporter's packages (onnx, onnxscript) are the `export` extra; running an export needs
only onnxruntime (runtime.py here, or deploy/stream.py without sepflow).
"""

from sepflow.export.build import export_model
from sepflow.export.card import card_markdown, model_card
from sepflow.export.runtime import OnnxStreamer, is_export, load_onnx_separator, read_export

__all__ = [
    "OnnxStreamer",
    "card_markdown",
    "export_model",
    "is_export",
    "load_onnx_separator",
    "model_card",
    "read_export",
]
