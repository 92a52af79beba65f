"""Full-integer quantization with the TensorFlow Lite converter: int8
weights (per channel where TFLite does it), int8 activations, int8 input
and output, calibrated on representative samples."""

from __future__ import annotations

from typing import Iterator, List

import numpy as np

from converter.errors import ConverterError
from converter.model_loading import LoadedModel


def quantize_int8(model: LoadedModel, representative: np.ndarray) -> bytes:
  """Returns the int8 .tflite bytes.

  Args:
    model: a Keras or SavedModel model (not a .tflite).
    representative: float samples shaped like the model input, batch first.

  Raises:
    ConverterError: the TFLite converter refused the model.
  """
  import tensorflow as tf

  def samples() -> Iterator[List[np.ndarray]]:
    for x in representative:
      yield [x[None].astype(np.float32)]

  if model.kind == "keras":
    converter = tf.lite.TFLiteConverter.from_keras_model(model.keras_model)
  else:
    converter = tf.lite.TFLiteConverter.from_saved_model(str(model.path))
  converter.optimizations = [tf.lite.Optimize.DEFAULT]
  converter.representative_dataset = samples
  converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
  converter.inference_input_type = tf.int8
  converter.inference_output_type = tf.int8
  try:
    return bytes(converter.convert())
  except Exception as e:  # the converter raises ConverterError, ValueError, ...
    lines = [line for line in str(e).splitlines() if line.strip()]
    detail = next((line.strip() for line in lines if "error:" in line), lines[0] if lines else "")
    raise ConverterError(f"TFLite could not quantize the model to int8: {detail}") from e
