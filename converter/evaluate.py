"""Accuracy of the float model and of the int8 model as the FreeML runtime
runs it, and agreement of the runtime's outputs with the TFLM interpreter on
the same int8 inputs.

The int8 accuracy is measured by running the int8 model, not estimated: the
runtime is the code a device runs, and TFLM is the reference it must equal.

Example:
  result = evaluate(model_bytes, runtime, data.x_test, data.y_test,
                    float_predict=loaded.predict, tflm_samples=200)
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Callable, Optional, Sequence

import numpy as np

from converter import tflm_oracle


@dataclasses.dataclass(frozen=True)
class Evaluation:
  """samples: test samples evaluated (the first of the shuffled test split).
  float_accuracy: the source model's accuracy on them (None for a .tflite).
  int8_accuracy: the int8 model's accuracy, run by the FreeML runtime.
  tflm_compared / tflm_identical: samples also run by TFLM, and how many of
    those gave byte-identical outputs.
  """
  samples: int
  test_split: int
  float_accuracy: Optional[float]
  int8_accuracy: float
  tflm_compared: int
  tflm_identical: int


def quantize_input(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
  """Float samples to int8 as TFLite's QUANTIZE does: x / scale in float32,
  rounded half away from zero (std::round), plus the zero point, clamped."""
  scaled = x.astype(np.float32) / np.float32(scale)
  rounded = np.sign(scaled) * np.floor(np.abs(scaled) + np.float32(0.5))
  return np.clip(rounded + zero_point, -128, 127).astype(np.int8)


def model_inputs(x: np.ndarray, details) -> np.ndarray:
  """Float samples in the dtype and shape the model's input tensor takes
  (details: the runtime's TensorDetails of input 0)."""
  x = x.reshape((len(x),) + tuple(details.shape[1:]))
  if np.dtype(details.dtype) == np.int8:
    return quantize_input(x, details.scale, details.zero_point)
  return x.astype(details.dtype)


def _progress_every(total: int) -> int:
  return max(100, -(-total // 10))


def evaluate(model: bytes, runtime, x: np.ndarray, y: np.ndarray,
             float_predict: Optional[Callable[[np.ndarray], np.ndarray]] = None,
             tflm_samples: int = -1, test_split: Optional[int] = None,
             progress: bool = True, oracle_model: Optional[bytes] = None) -> Evaluation:
  """Runs every sample through the runtime; the first `tflm_samples` (all
  when negative) also through TFLM, counting byte-identical outputs.

  Args:
    model: the int8 .tflite bytes `runtime` was built from.
    runtime: a tflm_freeml.runtime.Runtime of `model`.
    x, y: float test samples and their class indexes.
    float_predict: the source model's forward pass, for the float accuracy.
    tflm_samples: how many samples TFLM runs too (negative: all, 0: none).
    test_split: size of the test split `x` was taken from (default len(x)).
    progress: print 'evaluating n/N' lines on stderr.
    oracle_model: the model TFLM runs instead of `model`: reference.tflite,
      the same int8 weights with builtin ops only, when `model` has FreeML
      sparse custom ops that stock TFLM lacks.
  """
  details = runtime.inputs[0]
  x_in = model_inputs(x, details)
  compared = len(x) if tflm_samples < 0 else min(tflm_samples, len(x))
  interpreter = tflm_oracle.make_interpreter(oracle_model or model) if compared else None
  outputs = len(runtime.outputs)
  correct = identical = 0
  every = _progress_every(len(x))
  for i in range(len(x)):
    ours = runtime.invoke([x_in[i:i + 1]])
    correct += int(np.argmax(ours[0]) == y[i])
    if i < compared:
      theirs = tflm_oracle.invoke_on(interpreter, [x_in[i:i + 1]], outputs)
      identical += int(_same_bytes(ours, theirs))
    if progress and ((i + 1) % every == 0 or i + 1 == len(x)):
      print(f"[converter]   evaluating {i + 1}/{len(x)}", file=sys.stderr, flush=True)
  float_accuracy = None
  if float_predict is not None:
    predictions = float_predict(x)
    float_accuracy = float(np.mean(np.argmax(predictions.reshape(len(x), -1), -1) == y))
  return Evaluation(samples=len(x), test_split=test_split or len(x),
                    float_accuracy=float_accuracy,
                    int8_accuracy=correct / max(len(x), 1), tflm_compared=compared,
                    tflm_identical=identical)


def _same_bytes(ours: Sequence[np.ndarray], theirs: Sequence[np.ndarray]) -> bool:
  return len(ours) == len(theirs) and all(
      np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()
      for a, b in zip(ours, theirs, strict=True))
