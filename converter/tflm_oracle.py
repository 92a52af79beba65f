"""The reference this project is measured against: the TFLM interpreter.

Every claim of bit-exactness and every arena comparison in this project runs
the pinned `tflite-micro` pip interpreter through this module, so that all
callers build it the same way (arena size, tensor preservation) and read its
memory use the same way.
"""

from __future__ import annotations

import re
from typing import Dict, List, Sequence

import numpy as np
from tflite_micro.python.tflite_micro import runtime as tflm_runtime

from converter.native_output import captured_stderr

# TFLM needs the arena size up front. The interpreter reports what it really
# used (see arena_bytes), so a generous bound costs nothing but host memory.
_MIN_ARENA_BYTES = 1 << 20


def _arena_size(model: bytes) -> int:
  return max(_MIN_ARENA_BYTES, 16 * len(model))


def make_interpreter(model: bytes,
                     preserve_all_tensors: bool = False
                     ) -> tflm_runtime.Interpreter:
  """Builds a TFLM interpreter for `model` (the .tflite bytes).

  Raises:
    RuntimeError: TFLM refused the model (its message is on C stderr).
  """
  config = (tflm_runtime.InterpreterConfig.kPreserveAllTensors
            if preserve_all_tensors else
            tflm_runtime.InterpreterConfig.kAllocationRecording)
  return tflm_runtime.Interpreter.from_bytes(
      bytes(model),
      arena_size=_arena_size(model),
      intrepreter_config=config)


def invoke(model: bytes, inputs: Sequence[np.ndarray]) -> List[np.ndarray]:
  """Runs one inference; returns the output tensors in model order."""
  interpreter = make_interpreter(model)
  return invoke_on(interpreter, inputs, num_outputs=_num_outputs(model))


def invoke_on(interpreter: tflm_runtime.Interpreter,
              inputs: Sequence[np.ndarray],
              num_outputs: int) -> List[np.ndarray]:
  """Runs one inference on an existing interpreter (reuse it in loops)."""
  for index, value in enumerate(inputs):
    interpreter.set_input(value, index)
  interpreter.invoke()
  return [np.array(interpreter.get_output(i)) for i in range(num_outputs)]


def invoke_all_tensors(model: bytes,
                       inputs: Sequence[np.ndarray]) -> Dict[int, np.ndarray]:
  """Runs one inference and returns every tensor of subgraph 0 by index.

  Uses kPreserveAllTensors, so intermediate tensors keep their values instead
  of being overwritten by the memory planner.
  """
  interpreter = make_interpreter(model, preserve_all_tensors=True)
  for index, value in enumerate(inputs):
    interpreter.set_input(value, index)
  interpreter.invoke()
  tensors = {}
  for index in range(_num_tensors(model)):
    try:
      tensor = interpreter.GetTensor(index, 0)
    except (RuntimeError, ValueError):
      continue  # tensors without data (e.g. optional inputs)
    tensors[index] = np.array(tensor["tensor_data"]).reshape(tensor["shape"])
  return tensors


def arena_bytes(model: bytes) -> int:
  """TFLM's arena use for `model`, as its RecordingMicroAllocator reports it.

  The interpreter prints its allocations to the C stderr (fd 2), so the fd is
  redirected to a temporary file for the duration of the call.
  """
  interpreter = make_interpreter(model)
  details = interpreter.get_input_details(0)
  interpreter.set_input(np.zeros(details["shape"], details["dtype"]), 0)
  interpreter.invoke()
  with captured_stderr() as captured:
    interpreter.print_allocations()
  text = captured.text
  match = re.search(r"Arena allocation total (\d+) bytes", text)
  if not match:
    raise RuntimeError("TFLM did not report its arena use:\n" + text)
  return int(match.group(1))


def _subgraph0(model: bytes):
  from tensorflow.lite.python import schema_py_generated as schema
  return schema.Model.GetRootAsModel(bytes(model), 0).Subgraphs(0)


def _num_tensors(model: bytes) -> int:
  return _subgraph0(model).TensorsLength()


def _num_outputs(model: bytes) -> int:
  return _subgraph0(model).OutputsLength()
