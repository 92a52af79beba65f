"""Full-integer quantization with the TensorFlow Lite converter: int8
weights (per channel where TFLite does it: conv and depthwise filters),
int8 activations, int8 input and output (TFLITE_BUILTINS_INT8), calibrated
on representative samples.

When TFLite cannot produce an int8 graph, the model is converted once more
in float, only to find and name the first op (and its Keras layer) that the
runtime has no kernel for; the user gets that name instead of an MLIR dump.

Example:
  tflite = quantize_int8(model, data.x_calibration[:500])
"""

from __future__ import annotations

import re
from typing import Iterator, List, Optional

import numpy as np

from converter import ops, tflite_graph
from converter.errors import ConverterError
from converter.model_loading import LoadedModel
from converter.native_output import captured_stderr


def _tflite_converter(model: LoadedModel):
  import tensorflow as tf
  if model.keras_model is not None:
    return tf.lite.TFLiteConverter.from_keras_model(model.keras_model)
  if model.kind == "saved_model":
    return tf.lite.TFLiteConverter.from_saved_model(str(model.path))
  raise ConverterError("a .tflite model is already converted")


def quantize_int8(model: LoadedModel, representative: np.ndarray) -> bytes:
  """Returns the int8 .tflite bytes of a float model.

  Args:
    model: a Keras or SavedModel model (not a .tflite).
    representative: float32 samples shaped like the model input, batch
      first; each is fed on its own (batch 1) to calibrate activation ranges.

  Raises:
    ConverterError: TFLite could not quantize the model; names the op and the
      Keras layer when they can be found.
  """
  import tensorflow as tf

  def samples() -> Iterator[List[np.ndarray]]:
    for x in representative:
      yield [x[None].astype(np.float32)]

  converter = _tflite_converter(model)
  converter.optimizations = [tf.lite.Optimize.DEFAULT]
  converter.representative_dataset = samples
  converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
  converter.inference_input_type = tf.int8
  converter.inference_output_type = tf.int8
  failure: Optional[Exception] = None
  with captured_stderr() as log:
    try:
      result = bytes(converter.convert())
    except Exception as e:  # the TF converter raises ConverterError, ValueError, ...
      failure = e
  if failure is not None:
    raise _explain(model, failure, log.text) from failure
  return result


def _float_tflite(model: LoadedModel) -> Optional[bytes]:
  """The model in float with every TFLite op allowed, or None."""
  import tensorflow as tf
  converter = _tflite_converter(model)
  converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS,
                                         tf.lite.OpsSet.SELECT_TF_OPS]
  with captured_stderr():
    try:
      return bytes(converter.convert())
    except Exception:  # nothing more to learn from this model
      return None


def _reason(error: Exception, log: str) -> str:
  """The MLIR diagnostic without its call-site chain: "'tf.X' op ..."."""
  text = f"{error}\n{log}"
  for line in text.splitlines():
    if "error:" in line:
      return line.rsplit("error:", 1)[1].strip()
  lines = [line.strip() for line in str(error).splitlines() if line.strip()]
  return lines[0] if lines else type(error).__name__


def _layer_in(text: str, model: LoadedModel) -> Optional[str]:
  """The first Keras layer named as a path component in a diagnostic."""
  layers = model.keras_layers()
  if layers is None:
    return None
  positions = [(text.find(f"/{name}/"), name) for name in layers.names
               if f"/{name}/" in text]
  return min(positions)[1] if positions else None


def _explain(model: LoadedModel, error: Exception, log: str) -> ConverterError:
  """Names what failed: the op of the float graph that comes from the layer
  the TFLite diagnostic blames (else its first op the runtime lacks), or at
  least that layer, or at least the diagnostic."""
  reason = _reason(error, log)
  keras = model.keras_layers()
  blamed = _layer_in(f"{error}\n{log}", model)
  float_model = _float_tflite(model)
  graph = None
  if float_model is not None:
    try:
      graph = tflite_graph.read_graph(float_model, keras)
    except ConverterError:
      graph = None
  if graph is not None:
    unsupported = [layer for layer in graph.layers
                   if layer.op not in ops.SUPPORTED_OPS.values()]
    from_blamed = [layer for layer in unsupported if blamed in layer.layer.split("+")]
    chosen = (from_blamed or unsupported or [None])[0]
    if chosen is not None:
      return ConverterError(f"{tflite_graph.describe_op(chosen, keras)} is not supported by the "
                            f"FreeML runtime (op index of a float conversion made to find it, as "
                            f"TFLite could not quantize the model to int8: {reason})")
  if blamed is not None:
    kind = keras.types.get(blamed, "?") if keras else "?"
    return ConverterError(f"layer '{blamed}' ({kind}) cannot be quantized to int8 by TFLite: "
                          f"{reason}")
  one_line = re.sub(r"\s+", " ", reason)
  return ConverterError(f"TFLite could not quantize the model to int8: {one_line}")
