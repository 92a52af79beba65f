"""A converter model.tflite inside the real TFLM interpreter with FreeML's ops.

The tflite-micro wheel's interpreter runs the builtin ops; FreeML's custom ops
(sparse layers, gNet exits) come from the adapter library
(build/lib/libfreeml_tflm.so, `make build`; $FREEML_TFLM_LIB overrides the
path), registered by name through the wheel's `custom_op_registerers`. This is
what a firmware that keeps TFLM gets (docs/tflm.md), run on the host.

Example:
  tflm = TflmWithFreeml(open("out/model.tflite", "rb").read())
  result = tflm.invoke([x])  # result.outputs, result.exit, result.early
"""

from __future__ import annotations

import ctypes
import dataclasses
import functools
import os
from pathlib import Path
from typing import Callable, List, Optional, Sequence

import numpy as np

from tflm_freeml.runtime import FreemlError, _aligned_copy, _Error

_REPO_ROOT = Path(__file__).resolve().parent.parent
_DEFAULT_LIBRARY = _REPO_ROOT / "build" / "lib" / "libfreeml_tflm.so"
REGISTERER = "FreemlTflmRegisterer"
# TfLiteStatus of an invoke that an exit stopped.
ABORTED = 15
# Arena for the FreeML ops' parameters; the adapter reports what it used.
_ADAPTER_ARENA_BYTES = 1 << 20

# (exit, margin, threshold) -> answer now?
ExitPolicy = Callable[[int, int, int], bool]
_POLICY_TYPE = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_uint32,
                                ctypes.c_int32, ctypes.c_int32)


def library_path() -> Path:
  return Path(os.environ.get("FREEML_TFLM_LIB", _DEFAULT_LIBRARY))


@functools.lru_cache(maxsize=None)
def _load(path: str):
  """The wheel's interpreter module and the adapter library, both with
  global symbols: the adapter calls into the wheel's TFLM, and the wheel
  finds the registerer with dlsym."""
  if not Path(path).exists():
    raise FreemlError(f"FreeML TFLM adapter not found at {path}: run `make build`")
  from tflite_micro.python.tflite_micro import _runtime, runtime

  # Promotes the wheel's symbols to global scope even if it was loaded
  # before with local ones (glibc re-opens a loaded library with new flags).
  ctypes.CDLL(_runtime.__file__, mode=os.RTLD_NOW | os.RTLD_GLOBAL)
  lib = ctypes.CDLL(path, mode=os.RTLD_NOW | os.RTLD_GLOBAL)
  p = ctypes.c_void_p
  u32 = ctypes.c_uint32
  signatures = {
      "freeml_tflm_adapter_size": (u32, []),
      "freeml_tflm_init": (ctypes.c_int32, [p, p, u32, p, u32, ctypes.POINTER(_Error)]),
      "freeml_tflm_arena_used": (u32, [p]),
      "freeml_tflm_set_exit_policy": (None, [p, _POLICY_TYPE, p]),
      "freeml_tflm_exit": (u32, [p]),
      "freeml_tflm_num_exits": (u32, [p]),
      "freeml_tflm_use": (None, [p]),
      "freeml_tflm_num_outputs": (u32, [p]),
  }
  for name, (restype, argtypes) in signatures.items():
    function = getattr(lib, name)
    function.restype = restype
    function.argtypes = argtypes
  return runtime, lib


@dataclasses.dataclass(frozen=True)
class TflmResult:
  """One inference: the graph's outputs as TFLM left them, the TfLiteStatus
  of Invoke, and the exit answered from (the number of exits when the
  network ran to the end). After an early exit, output 0 holds that exit's
  int8 logits and the other outputs are not meaningful."""
  outputs: List[np.ndarray]
  status: int
  exit: int

  @property
  def early(self) -> bool:
    return self.status == ABORTED


class TflmWithFreeml:
  """TFLM's interpreter (the pinned wheel) with FreeML's custom ops.

  One adapter serves a process at a time (TFLM gives kernels no user
  pointer): each call of `invoke` makes this model's adapter the current one.
  """

  def __init__(self, model: bytes, arena_size: Optional[int] = None,
               exit_policy: Optional[ExitPolicy] = None):
    runtime, self._lib = _load(str(library_path()))
    self._model = _aligned_copy(model)
    self._adapter = ctypes.create_string_buffer(self._lib.freeml_tflm_adapter_size())
    self._arena = ctypes.create_string_buffer(_ADAPTER_ARENA_BYTES)
    error = _Error()
    status = self._lib.freeml_tflm_init(
        self._adapter, self._model.ctypes.data, len(model), self._arena,
        _ADAPTER_ARENA_BYTES, ctypes.byref(error))
    if status != 0:
      raise FreemlError(error.message.decode())
    self._policy = None
    self.set_exit_policy(exit_policy)
    self._lib.freeml_tflm_use(self._adapter)
    self.interpreter = runtime.Interpreter.from_bytes(
        bytes(model), custom_op_registerers=[REGISTERER], arena_size=arena_size)

  @property
  def num_exits(self) -> int:
    return self._lib.freeml_tflm_num_exits(self._adapter)

  @property
  def adapter_arena_bytes(self) -> int:
    """Bytes of the adapter's arena its tables and op parameters use."""
    return self._lib.freeml_tflm_arena_used(self._adapter)

  def set_exit_policy(self, policy: Optional[ExitPolicy]) -> None:
    """None restores the default: answer when the margin reaches the
    threshold."""
    if policy is None:
      self._policy = ctypes.cast(None, _POLICY_TYPE)
    else:
      self._policy = _POLICY_TYPE(
          lambda _user, exit, margin, threshold: int(bool(policy(exit, margin, threshold))))
    self._lib.freeml_tflm_set_exit_policy(self._adapter, self._policy, None)

  def invoke(self, inputs: Sequence[np.ndarray]) -> TflmResult:
    self._lib.freeml_tflm_use(self._adapter)
    for i, x in enumerate(inputs):
      self.interpreter.set_input(x, i)
    status = self.interpreter.invoke()
    if status not in (0, ABORTED):
      raise FreemlError(f"TFLM Invoke returned status {status}")
    outputs = [np.array(self.interpreter.get_output(i))
               for i in range(self._lib.freeml_tflm_num_outputs(self._adapter))]
    return TflmResult(outputs, status, self._lib.freeml_tflm_exit(self._adapter))
