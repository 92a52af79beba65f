"""Accuracy of the int8 model as the FreeML runtime runs it, and agreement
of its outputs with the TFLM interpreter on the same inputs."""

from __future__ import annotations

import dataclasses
import sys
from typing import Optional

import numpy as np

from converter import tflm_oracle


@dataclasses.dataclass
class Evaluation:
  samples: int
  float_accuracy: Optional[float]
  int8_accuracy: float
  tflm_compared: int
  tflm_identical: int


def quantize_input(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
  """Float samples to the model's int8 input, as TFLite's QUANTIZE does."""
  q = np.round(x.astype(np.float32) / np.float32(scale)) + zero_point
  return np.clip(q, -128, 127).astype(np.int8)


def evaluate(model: bytes, x: np.ndarray, y: np.ndarray, keras_model=None,
             tflm_samples: int = 200, progress: bool = True) -> Evaluation:
  """Runs every sample through the runtime; the first `tflm_samples` also
  through TFLM, counting byte-identical outputs."""
  from tflm_freeml.runtime import Runtime
  runtime = Runtime(model)
  details = runtime.inputs[0]
  x_fit = x.reshape((len(x),) + tuple(details.shape[1:]))
  if np.issubdtype(details.dtype, np.integer):
    x_q = quantize_input(x_fit, details.scale, details.zero_point)
  else:
    x_q = x_fit.astype(details.dtype)
  interpreter = tflm_oracle.make_interpreter(model)
  correct = identical = 0
  compared = min(tflm_samples, len(x))
  for i in range(len(x)):
    (out,) = runtime.invoke([x_q[i:i + 1]])
    correct += int(np.argmax(out) == y[i])
    if i < compared:
      (want,) = tflm_oracle.invoke_on(interpreter, [x_q[i:i + 1]], 1)
      identical += int(np.array_equal(out.reshape(-1), want.reshape(-1)))
    if progress and (i + 1) % 500 == 0:
      print(f"  evaluated {i + 1}/{len(x)}", file=sys.stderr, flush=True)
  float_accuracy = None
  if keras_model is not None:
    shape = (len(x),) + tuple(int(d) for d in keras_model.input_shape[1:])
    predictions = keras_model.predict(x.reshape(shape), verbose=0, batch_size=256)
    float_accuracy = float(np.mean(np.argmax(predictions, axis=-1) == y))
  return Evaluation(len(x), float_accuracy, correct / max(len(x), 1), compared, identical)
