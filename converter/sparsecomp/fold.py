"""Folds BatchNormalization into the Conv2D, DepthwiseConv2D or Dense before it.

Why first: in inference a BatchNormalization scales and shifts each output
channel, y = scale * (x - mean) + beta with scale = gamma / sqrt(var + eps),
and the int8 graph stores the kernel with that scale multiplied in. Pruning and
separation must act on that folded kernel, so that the zeros they make are the
zeros that get stored and the ranks they pick are the ranks of what is stored.

A BatchNormalization is folded when it reads the output of one of those
layers, that layer has a linear activation (a ReLU in between would not
commute with the scale), its output feeds nothing else and is not a model
output, and the normalized axis is the channel axis (channels_last). Every
other BatchNormalization stays, with the reason given by `plan_fold` and
logged by `fold_batchnorm`.

Example:
  folded = fold_batchnorm(model)        # same outputs, fewer layers
  plan_fold(model).kept                 # {'batch_normalization_7': 'follows Add ...'}
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable

import numpy as np
import tf_keras

from converter.sparsecomp.rebuild import (
  KEEP,
  REMOVE,
  LayerGraph,
  NewLayer,
  Replacement,
  copy_layer,
  layer_graph,
  rebuild,
)

_log = logging.getLogger(__name__)


def _channels_last(kernel: np.ndarray, scale: np.ndarray) -> np.ndarray:
  return kernel * scale


def _depthwise(kernel: np.ndarray, scale: np.ndarray) -> np.ndarray:
  # Kernel [kh, kw, cin, multiplier]; output channel c * multiplier + m.
  return kernel * scale.reshape(kernel.shape[2:])


# Layer type -> how a per-output-channel scale multiplies into its kernel.
# Exact types: subclasses such as Conv2DTranspose lay their kernels out differently.
_SCALE_KERNEL: dict[type, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    tf_keras.layers.Conv2D: _channels_last,
    tf_keras.layers.DepthwiseConv2D: _depthwise,
    tf_keras.layers.Dense: _channels_last,
}


@dataclasses.dataclass(frozen=True)
class FoldPlan:
  """folds: BatchNormalization name -> the layer it folds into.
  kept: BatchNormalization name -> why it is not folded."""
  folds: dict[str, str]
  kept: dict[str, str]


def _why_not(bn: tf_keras.layers.Layer, layers: dict[str, tf_keras.layers.Layer],
             graph: LayerGraph) -> str | None:
  """None when `bn` can fold into its producer, else the reason it cannot."""
  producers = graph.producers[bn.name]
  if len(producers) != 1:
    return f"reads {len(producers)} tensors"
  source = layers.get(producers[0])
  kind = type(source).__name__ if source is not None else "input"
  if type(source) not in _SCALE_KERNEL:
    return f"follows {kind} '{producers[0]}', not Conv2D, DepthwiseConv2D or Dense"
  if source.activation is not tf_keras.activations.linear:
    activation = getattr(source.activation, "__name__", repr(source.activation))
    return f"{kind} '{source.name}' before it has activation '{activation}'"
  if graph.consumers[source.name] != [bn.name] or source.name in graph.outputs:
    return f"the output of {kind} '{source.name}' is also used elsewhere"
  if getattr(source, "data_format", "channels_last") != "channels_last":
    return f"{kind} '{source.name}' is channels_first"
  if list(bn.axis) != [len(bn.input_shape) - 1]:
    return f"normalizes axis {list(bn.axis)}, not the channel axis"
  return None


def plan_fold(model: tf_keras.Model) -> FoldPlan:
  """Which BatchNormalization layers of `model` fold, into what, and why the
  others do not.

  Raises:
    ConverterError: a shared layer or a nested model (see rebuild).
  """
  graph = layer_graph(model)
  layers = {layer.name: layer for layer in model.layers}
  folds, kept = {}, {}
  for bn in model.layers:
    if not isinstance(bn, tf_keras.layers.BatchNormalization):
      continue
    reason = _why_not(bn, layers, graph)
    if reason is None:
      folds[bn.name] = graph.producers[bn.name][0]
    else:
      kept[bn.name] = reason
  return FoldPlan(folds, kept)


def folded_weights(layer: tf_keras.layers.Layer,
                   bn: tf_keras.layers.BatchNormalization) -> list[np.ndarray]:
  """[kernel, bias] of `layer` with `bn` (inference mode) multiplied in,
  computed in float64 and returned in the layer's dtype."""
  variance = bn.moving_variance.numpy().astype(np.float64)
  scale = 1.0 / np.sqrt(variance + bn.epsilon)
  if bn.gamma is not None:
    scale *= bn.gamma.numpy()
  shift = bn.beta.numpy().astype(np.float64) if bn.beta is not None else 0.0
  kernel, *bias = layer.get_weights()  # kernel first, then the bias if any, for all three
  bias = bias[0].astype(np.float64) if bias else 0.0
  new_kernel = _SCALE_KERNEL[type(layer)](kernel.astype(np.float64), scale)
  new_bias = (bias - bn.moving_mean.numpy()) * scale + shift
  return [new_kernel.astype(kernel.dtype), new_bias.astype(kernel.dtype)]


def fold_batchnorm(model: tf_keras.Model) -> tf_keras.Model:
  """A copy of `model` with every foldable BatchNormalization folded into the
  layer before it and removed (that layer gains a bias if it had none).

  Outputs match the original in inference mode up to float rounding. The
  BatchNormalization layers left in place are logged with the reason; use
  `plan_fold` to get them as data.

  Raises:
    ConverterError: a shared layer or a nested model (see rebuild).
  """
  plan = plan_fold(model)
  layers = {layer.name: layer for layer in model.layers}
  bn_of = {layer: bn for bn, layer in plan.folds.items()}
  for bn, reason in plan.kept.items():
    _log.info("BatchNormalization '%s' not folded: %s", bn, reason)

  def replace(layer: tf_keras.layers.Layer) -> Replacement:
    if layer.name in plan.folds:
      return REMOVE
    if layer.name in bn_of:
      weights = folded_weights(layer, layers[bn_of[layer.name]])
      return [NewLayer(copy_layer(layer, use_bias=True), weights)]
    return KEEP

  return rebuild(model, replace)
