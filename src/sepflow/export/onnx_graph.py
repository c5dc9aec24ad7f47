"""Tracing a module into an ONNX graph with torch 2.13's dynamo exporter, and the folder's
shared weights file.

The dynamo exporter (`torch.onnx.export(..., dynamo=True)`) is the one that exports
`aten::fft_rfft` and symbolic lengths; the TorchScript-based one cannot. Opset 20 is the
newest the exporter's ONNX Script library targets without conversions on torch 2.13.
Two repairs make its graphs of our models run: the LSTM is decomposed with
`torch.export`'s while-loop LSTM during the whole export (the exporter applies it only
while capturing, then fails to decompose the LSTM again with a symbolic length), and
ScatterND indices it writes as int32 (from torch.istft) are cast to the int64 ONNX requires.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import logging
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

from sepflow.errors import SepflowError

OPSET = 20
EXPORTER = f"torch.onnx.export(dynamo=True), torch {torch.__version__}"
WEIGHTS = "weights.bin"
"""Every graph's large initializers, stored once: the streaming graphs and the offline
graph of one model share their weights."""
_SHARED_MIN_BYTES = 1024


def require_exporter() -> None:
    """One line naming the extra to install when the exporter's packages are missing."""
    missing = [name for name in ("onnx", "onnxscript", "onnxruntime") if importlib.util.find_spec(name) is None]
    if missing:
        raise SepflowError(f"exporting needs {', '.join(missing)}: pip install 'sepflow[export]'")


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The exporter prints progress to stdout and warns about every fallback it tries."""
    logger = logging.getLogger("torch")
    level = logger.level
    logger.setLevel(logging.ERROR + 10)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def export_graph(
    module: nn.Module,
    example: tuple[torch.Tensor, ...],
    input_names: list[str],
    output_names: list[str],
    dynamic_shapes: tuple | None = None,
):
    """The ONNX ModelProto of `module` traced on `example` (static shapes unless given), and
    the smallest size of each dynamic axis, {input: {axis: size}}."""
    from torch.export._patches import register_lstm_while_loop_decomposition

    with _quiet(), register_lstm_while_loop_decomposition(), torch.no_grad():
        program = torch.onnx.export(
            module.eval(),
            example,
            dynamo=True,
            opset_version=OPSET,
            input_names=input_names,
            output_names=output_names,
            dynamic_shapes=dynamic_shapes,
        )
    model = program.model_proto
    _int64_scatter_indices(model)
    return model, _lower_bounds(program.exported_program, input_names)


def _lower_bounds(program, input_names: list[str]) -> dict[str, dict[int, int]]:
    """Each dynamic axis's smallest size the traced program holds for, per input."""
    placeholders = [n for n in program.graph.nodes if n.op == "placeholder"][-len(input_names) :]
    bounds = {}
    for name, node in zip(input_names, placeholders):
        for axis, size in enumerate(node.meta["val"].shape):
            if isinstance(size, torch.SymInt):
                bounds.setdefault(name, {})[axis] = int(program.range_constraints[size.node.expr].lower)
    return bounds


def _int64_scatter_indices(model) -> None:
    """Cast int32 ScatterND indices to int64, the only index type ONNX allows there."""
    import onnx
    from onnx import helper

    types = {value.name: value.type.tensor_type.elem_type for value in model.graph.value_info}
    types.update({t.name: t.data_type for t in model.graph.initializer})
    nodes = []
    for node in model.graph.node:
        if node.op_type == "ScatterND" and types.get(node.input[1]) == onnx.TensorProto.INT32:
            cast = f"{node.input[1]}_int64"
            nodes.append(helper.make_node("Cast", [node.input[1]], [cast], to=onnx.TensorProto.INT64))
            node.input[1] = cast
        nodes.append(node)
    del model.graph.node[:]
    model.graph.node.extend(nodes)


def save_graphs(models: dict[str, object], folder: str | os.PathLike) -> dict[str, int]:
    """Save each ModelProto as folder/{name}, its large initializers in one shared
    folder/weights.bin (each distinct tensor once); return each file's size in bytes."""
    import onnx

    folder = Path(folder)
    offsets: dict[bytes, tuple[int, int]] = {}
    with open(folder / WEIGHTS, "wb") as weights:
        for model in models.values():
            for tensor in model.graph.initializer:
                if len(tensor.raw_data) < _SHARED_MIN_BYTES:
                    continue
                key = hashlib.sha256(tensor.raw_data).digest()
                if key not in offsets:
                    weights.write(b"\0" * (-weights.tell() % 64))  # aligned, so a runtime may map it
                    offsets[key] = (weights.tell(), len(tensor.raw_data))
                    weights.write(tensor.raw_data)
                offset, length = offsets[key]
                tensor.ClearField("raw_data")
                tensor.data_location = onnx.TensorProto.EXTERNAL
                del tensor.external_data[:]
                for k, v in (("location", WEIGHTS), ("offset", str(offset)), ("length", str(length))):
                    entry = tensor.external_data.add()
                    entry.key, entry.value = k, v
    for name, model in models.items():
        onnx.save(model, folder / name)
    return {name: (folder / name).stat().st_size for name in [*models, WEIGHTS]}
