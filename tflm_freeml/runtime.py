"""Python binding of the FreeML C runtime, for tests, benchmarks and reports.

The C runtime is loaded as a shared library (build/lib/libfreeml.so, built by
`make build`; $FREEML_LIB overrides the path) through ctypes, so Python runs
exactly the code a device runs: same reader, same planner, same kernels.

Example:
  rt = Runtime(open("model.tflite", "rb").read())
  print(rt.ram.total_bytes)
  (logits,) = rt.invoke([x])
"""

from __future__ import annotations

import ctypes
import dataclasses
import functools
import os
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np

_REPO_ROOT = Path(__file__).resolve().parent.parent
_DEFAULT_LIBRARY = _REPO_ROOT / "build" / "lib" / "libfreeml.so"
_MAX_RANK = 4
_ERROR_MESSAGE_SIZE = 200
# The C runtime keeps everything in one arena. The binding offers a large one
# and reports what was used, which is the exact need (see RamUsage).
_ARENA_BYTES = 64 << 20
MAX_EXITS = 16  # FREEML_MAX_EXITS

# TFLite TensorType codes -> numpy dtypes the runtime may expose.
_DTYPES = {0: np.float32, 2: np.int32, 4: np.int64, 9: np.int8}


class FreemlError(RuntimeError):
  """The C runtime refused a model or failed; str() is its one-line reason."""


@dataclasses.dataclass(frozen=True)
class RamUsage:
  """Arena bytes the runtime needs for a model, counted by the C code.

  persistent_bytes: op table, op parameters (multipliers) and tensor plans.
  activation_bytes: the planned activation area.
  total_bytes: the arena size to give freeml_runtime_init (persistent,
    aligned to 16, plus activations).
  """
  persistent_bytes: int
  activation_bytes: int
  total_bytes: int


@dataclasses.dataclass(frozen=True)
class TensorDetails:
  index: int
  shape: tuple
  dtype: type
  scale: float
  zero_point: int


@dataclasses.dataclass(frozen=True)
class ExitDetails:
  """One gNet exit: the op that completes it and its confidence threshold
  (int8 logit margin; 256: never for confidence alone)."""
  op: int
  threshold: int


class _TensorView(ctypes.Structure):
  _fields_ = [
      ("data", ctypes.c_void_p),
      ("bytes", ctypes.c_uint32),
      ("type", ctypes.c_int32),
      ("rank", ctypes.c_int32),
      ("shape", ctypes.c_int32 * _MAX_RANK),
      ("scale", ctypes.c_float),
      ("zero_point", ctypes.c_int32),
  ]


class _Tile(ctypes.Structure):
  _fields_ = [("start", ctypes.c_int32), ("end", ctypes.c_int32)]


class _Error(ctypes.Structure):
  _fields_ = [("message", ctypes.c_char * _ERROR_MESSAGE_SIZE)]


def library_path() -> Path:
  return Path(os.environ.get("FREEML_LIB", _DEFAULT_LIBRARY))


@functools.lru_cache(maxsize=None)
def _load(path: str) -> ctypes.CDLL:
  if not Path(path).exists():
    raise FreemlError(f"FreeML runtime library not found at {path}: run `make build`")
  lib = ctypes.CDLL(path)
  p = ctypes.c_void_p
  u32 = ctypes.c_uint32
  i32 = ctypes.c_int32
  signatures = {
      "freeml_py_runtime_size": (u32, []),
      "freeml_py_memory": (None, [p, ctypes.POINTER(u32), ctypes.POINTER(u32),
                                  ctypes.POINTER(u32)]),
      "freeml_py_num_ops": (u32, [p]),
      "freeml_runtime_init": (i32, [p, p, u32, p, u32, ctypes.POINTER(_Error)]),
      "freeml_runtime_num_inputs": (u32, [p]),
      "freeml_runtime_num_outputs": (u32, [p]),
      "freeml_runtime_input": (i32, [p, u32]),
      "freeml_runtime_output": (i32, [p, u32]),
      "freeml_runtime_tensor": (i32, [p, i32, ctypes.POINTER(_TensorView)]),
      "freeml_runtime_invoke": (i32, [p, ctypes.POINTER(_Error)]),
      "freeml_runtime_run_op": (i32, [p, u32, _Tile, ctypes.POINTER(_Error)]),
      "freeml_runtime_op_units": (i32, [p, u32]),
      "freeml_runtime_op_output": (i32, [p, u32, u32]),
      "freeml_py_exit_plan": (u32, [p, ctypes.POINTER(i32), p, p]),
      "freeml_py_invoke_exits": (i32, [p, p, ctypes.POINTER(_Error)]),
  }
  for name, (restype, argtypes) in signatures.items():
    function = getattr(lib, name)
    function.restype = restype
    function.argtypes = argtypes
  return lib


def _aligned_copy(data: bytes, alignment: int = 16) -> np.ndarray:
  """The model as a numpy buffer at an aligned address (the runtime reads
  int32 bias data in place and requires it)."""
  raw = np.zeros(len(data) + alignment, dtype=np.uint8)
  start = (-raw.ctypes.data) % alignment
  view = raw[start:start + len(data)]
  view[:] = np.frombuffer(data, dtype=np.uint8)
  return view


class Runtime:
  """One model loaded into the C runtime with its own arena."""

  def __init__(self, model: bytes, arena_bytes: int = _ARENA_BYTES):
    self._lib = _load(str(library_path()))
    self._model = _aligned_copy(bytes(model))
    self._arena = np.zeros(arena_bytes, dtype=np.uint8)
    self._rt = ctypes.create_string_buffer(self._lib.freeml_py_runtime_size())
    error = _Error()
    status = self._lib.freeml_runtime_init(
        self._rt, self._model.ctypes.data, len(self._model), self._arena.ctypes.data,
        arena_bytes, ctypes.byref(error))
    if status != 0:
      raise FreemlError(error.message.decode("utf-8", "replace"))
    counts = [ctypes.c_uint32() for _ in range(3)]
    self._lib.freeml_py_memory(self._rt, *[ctypes.byref(c) for c in counts])
    self.ram = RamUsage(*(c.value for c in counts))
    self.op_count = self._lib.freeml_py_num_ops(self._rt)
    self.inputs = [self._details(self._lib.freeml_runtime_input(self._rt, i))
                   for i in range(self._lib.freeml_runtime_num_inputs(self._rt))]
    self.outputs = [self._details(self._lib.freeml_runtime_output(self._rt, i))
                    for i in range(self._lib.freeml_runtime_num_outputs(self._rt))]
    self.exits = self._exit_plan()
    # Graph inputs and outputs stay at fixed arena places after init: look
    # them up once, so that invoke() costs little more than the C call.
    self._input_views = [self._view(d.index) for d in self.inputs]
    self._output_views = [self._view(d.index) for d in self.outputs]

  def _exit_plan(self) -> List[ExitDetails]:
    classes = ctypes.c_int32()
    ops = np.zeros(MAX_EXITS, np.int32)
    thresholds = np.zeros(MAX_EXITS, np.int32)
    count = self._lib.freeml_py_exit_plan(self._rt, ctypes.byref(classes), ops.ctypes.data,
                                          thresholds.ctypes.data)
    self.exit_classes = classes.value
    return [ExitDetails(int(ops[k]), int(thresholds[k])) for k in range(count)]

  def invoke_exits(self, inputs: Sequence[np.ndarray]) -> Tuple[List[np.ndarray], np.ndarray]:
    """One inference: the outputs, and every gNet exit's int8 logits as an
    (exits, classes) array (the logits each exit answers with)."""
    self.set_inputs(inputs)
    logits = np.zeros((len(self.exits), max(self.exit_classes, 1)), np.int8)
    error = _Error()
    if self._lib.freeml_py_invoke_exits(self._rt, logits.ctypes.data, ctypes.byref(error)) != 0:
      raise FreemlError(error.message.decode("utf-8", "replace"))
    outputs = [np.frombuffer(ctypes.string_at(view.data, view.bytes), dtype=d.dtype)
               .reshape(d.shape) for d, view in zip(self.outputs, self._output_views, strict=True)]
    return outputs, logits

  def _view(self, index: int) -> _TensorView:
    view = _TensorView()
    if self._lib.freeml_runtime_tensor(self._rt, index, ctypes.byref(view)) != 0:
      raise FreemlError(f"no tensor {index}")
    return view

  def _details(self, index: int) -> TensorDetails:
    view = self._view(index)
    return TensorDetails(index=index, shape=tuple(view.shape[:view.rank]),
                         dtype=_DTYPES.get(view.type, np.uint8), scale=view.scale,
                         zero_point=view.zero_point)

  def tensor(self, index: int) -> np.ndarray:
    """A copy of tensor `index` as the runtime holds it now (activations are
    valid only while alive: see invoke_all_tensors)."""
    view = self._view(index)
    if not view.data:
      raise FreemlError(f"tensor {index} has no storage")
    raw = ctypes.string_at(view.data, view.bytes)
    dtype = _DTYPES.get(view.type, np.uint8)
    return np.frombuffer(raw, dtype=dtype).reshape(tuple(view.shape[:view.rank])).copy()

  def set_inputs(self, inputs: Sequence[np.ndarray]) -> None:
    if len(inputs) != len(self.inputs):
      raise FreemlError(f"the model has {len(self.inputs)} inputs, got {len(inputs)}")
    for details, view, value in zip(self.inputs, self._input_views, inputs, strict=True):
      array = np.ascontiguousarray(value, dtype=details.dtype)
      if array.nbytes != view.bytes:
        raise FreemlError(f"input {details.index} takes {view.bytes} bytes "
                          f"(shape {details.shape}), got {array.nbytes}")
      ctypes.memmove(view.data, array.ctypes.data, array.nbytes)

  def run_op(self, op_index: int, start: int | None = None, end: int | None = None) -> None:
    """Runs units [start, end) of one op (default: all of it)."""
    units = self.op_units(op_index)
    tile = _Tile(0 if start is None else start, units if end is None else end)
    error = _Error()
    if self._lib.freeml_runtime_run_op(self._rt, op_index, tile, ctypes.byref(error)) != 0:
      raise FreemlError(error.message.decode("utf-8", "replace"))

  def op_units(self, op_index: int) -> int:
    return self._lib.freeml_runtime_op_units(self._rt, op_index)

  def op_outputs(self, op_index: int) -> List[int]:
    outputs = []
    while (index := self._lib.freeml_runtime_op_output(self._rt, op_index, len(outputs))) >= 0:
      outputs.append(index)
    return outputs

  def invoke(self, inputs: Sequence[np.ndarray]) -> List[np.ndarray]:
    """One inference; returns the output tensors in model order."""
    self.set_inputs(inputs)
    error = _Error()
    if self._lib.freeml_runtime_invoke(self._rt, ctypes.byref(error)) != 0:
      raise FreemlError(error.message.decode("utf-8", "replace"))
    return [np.frombuffer(ctypes.string_at(view.data, view.bytes), dtype=d.dtype).reshape(d.shape)
            for d, view in zip(self.outputs, self._output_views, strict=True)]

  def invoke_all_tensors(self, inputs: Sequence[np.ndarray]) -> Dict[int, np.ndarray]:
    """One inference, op by op, copying each op's outputs as soon as they are
    written (the planner reuses memory); returns them with the inputs, by
    tensor index."""
    self.set_inputs(inputs)
    tensors = {d.index: self.tensor(d.index) for d in self.inputs}
    for op_index in range(self.op_count):
      self.run_op(op_index)
      for index in self.op_outputs(op_index):
        tensors[index] = self.tensor(index)
    return tensors
