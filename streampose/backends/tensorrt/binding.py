"""A deserialized engine bound for running: its execution context and IO tensor names/types."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streampose.backends.tensorrt.cuda import CudaDevice
from streampose.backends.tensorrt.shapes import HW, shape_hw
from streampose.errors import ModelError
from streampose.models.spec import ModelSpec

__all__ = ["BoundEngine", "bind"]


@dataclass
class BoundEngine:
    """A deserialized engine with its execution context and IO tensor names."""

    engine: Any  # tensorrt.ICudaEngine
    context: Any  # tensorrt.IExecutionContext
    input_name: str
    input_dtype: Any  # torch dtype
    outputs: dict[str, Any] = field(default_factory=dict)  # name -> torch dtype
    max_batch: int = 1
    hw: HW = (0, 0)


def bind(trt: Any, engine: Any, spec: ModelSpec, cuda: CudaDevice, path: Path) -> BoundEngine:
    """Check ``engine``'s tensors against ``spec`` and create its execution context."""
    names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    inputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
    outputs = [n for n in names if n not in inputs]
    _check_names(spec, inputs, outputs, path)
    context = engine.create_execution_context()
    if context is None:
        raise ModelError(f"TensorRT cannot create an execution context for {path} "
                         "(out of GPU memory?)")
    largest = [int(d) for d in engine.get_tensor_profile_shape(spec.input_name, 0)[2]]
    dtypes = {n: _torch_dtype(trt, cuda.torch, engine.get_tensor_dtype(n)) for n in names}
    return BoundEngine(engine=engine, context=context, input_name=spec.input_name,
                       input_dtype=dtypes[spec.input_name],
                       outputs={n: dtypes[n] for n in outputs}, max_batch=largest[0],
                       hw=shape_hw(largest, spec.input_layout))


def _check_names(spec: ModelSpec, inputs: list[str], outputs: list[str], path: Path) -> None:
    if spec.input_name not in inputs:
        raise ModelError(f"engine for {path} has no input {spec.input_name!r}; inputs: "
                         f"{', '.join(map(repr, inputs))}")
    if not outputs:
        raise ModelError(f"engine for {path} has no outputs")


def _torch_dtype(trt: Any, torch: Any, dtype: object) -> Any:
    table = {"FLOAT": torch.float32, "HALF": torch.float16, "INT32": torch.int32,
             "INT8": torch.int8, "BOOL": torch.bool}
    for name, torch_dtype in table.items():
        if dtype == getattr(trt.DataType, name, None):
            return torch_dtype
    raise ModelError(f"tensorrt backend: unsupported engine tensor type {dtype}")
