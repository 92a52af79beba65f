"""Retraining under per-layer density constraints (iterative hard
thresholding): after every optimizer step, each constrained layer keeps only
its `round(density * size)` largest-magnitude kernel weights and the rest are
set to exactly zero.

This is a custom train step rather than tfmot's pruning wrappers: tfmot
prunes on a schedule every `frequency` steps and wraps layers, while
SparseComp needs the projection after every step, densities that change
between rounds, and the plain model back unchanged in structure.

With int4 weights (TrainConfig.weight_bits 4) every prunable kernel holds
values on its int4 grid (-7..7 times one scale per output channel; -2..2 for
a layer on 2 bits) at all times, so accuracy is always judged on what the
device stores: each step trains a float copy of the kernels (the gradient
passes straight through the rounding) and writes its pruned, rounded values
back.

Example:
  trainer = SparseTrainer(model, x_train, y_train, TrainConfig(seed=0))
  trainer.train({"conv2d": 0.25}, steps=300)
  trainer.accuracy(x_val, y_val)
"""

from __future__ import annotations

import dataclasses
from typing import Dict, List, Mapping, Tuple

import numpy as np

from converter import augment, sparse_format

PRUNABLE_TYPES = ("Conv2D", "DepthwiseConv2D", "Dense")
_PREDICT_BATCH = 256


@dataclasses.dataclass(frozen=True)
class TrainConfig:
  """Optimizer settings of every retraining round.

  batch_size, learning_rate: Adam on the cross-entropy of the model's output
    (probabilities or logits, detected from the output); the rate decays to 0
    over each call of SparseTrainer.train (cosine), so every round ends
    settled rather than mid-step, and rounds compare like with like.
  seed: batch order and augmentation; the same seed and data give the same
    weights.
  augment: flip and crop every batch (converter/augment.py), as image
    networks are trained: a search runs dozens of epochs over the same images.
  weight_bits: 8, or 4 (2) to hold every prunable kernel on its -7..7
    (-2..2) grid at first; SparseTrainer.layer_bits changes it per layer.
  distillation: weight (0..1) of the teacher's softened outputs in the loss, the
    rest on the labels. A few hundred samples say little beyond their label;
    the uncompressed model's outputs say how alike the classes look to it,
    which is what a pruned copy loses first.
  """
  batch_size: int = 64
  learning_rate: float = 2e-4
  seed: int = 0
  augment: bool = False
  weight_bits: int = 8
  distillation: float = 0.0


INT4_LEVELS = 7  # symmetric int4: -7..7, zero point 0
# --weight-bits -> the largest magnitude of its symmetric grid. 2 bits: -2..2,
# whose non-zeros the sparse formats store as 2-bit codes (the mask holds 0).
GRID_LEVELS = {4: INT4_LEVELS, 2: sparse_format.INT2_LEVELS}
# Softens both outputs before they are compared, so the teacher's small
# probabilities (its "dark knowledge") weigh in; Hinton et al. use 2 to 20.
DISTILL_TEMPERATURE = 2.0


def prunable_layers(model) -> List[str]:
  """Names of the layers whose kernels SparseComp constrains, in model order."""
  return [layer.name for layer in model.layers if type(layer).__name__ in PRUNABLE_TYPES]


def kernel_of(layer):
  """The weight variable a density constraint applies to (not the bias)."""
  return layer.depthwise_kernel if type(layer).__name__ == "DepthwiseConv2D" else layer.kernel


def kept_weights(density: float, size: int) -> int:
  """Weights a layer of `size` keeps at `density`: at least one."""
  return max(1, min(size, int(round(density * size))))


def channel_axes(layer) -> Tuple[int, ...]:
  """Axes of the layer's kernel that one output channel spans (TFLite gives
  each its own scale): all but the last, or for a depthwise kernel
  [kh, kw, c, multiplier] the first two."""
  if type(layer).__name__ == "DepthwiseConv2D":
    return (0, 1)
  return tuple(range(len(kernel_of(layer).shape) - 1))


def on_grid(kernel: np.ndarray, axes: Tuple[int, ...], levels: int = INT4_LEVELS) -> np.ndarray:
  """The kernel rounded to -levels..levels times each output channel's scale
  (its largest magnitude / levels), as converter/grid_filters.py stores it."""
  peak = np.max(np.abs(kernel), axis=axes, keepdims=True)
  step = np.where(peak > 0, peak / levels, 1.0)
  scaled = kernel / step
  return (np.sign(scaled) * np.floor(np.abs(scaled) + 0.5) * step).astype(kernel.dtype)


def project(kernel: np.ndarray, density: float) -> np.ndarray:
  """The kernel with all but its kept_weights largest magnitudes set to 0
  (ties broken by position, so the result is deterministic)."""
  flat = kernel.reshape(-1)
  keep = kept_weights(density, flat.size)
  if keep == flat.size:
    return kernel.copy()
  order = np.argsort(-np.abs(flat), kind="stable")
  result = np.zeros_like(flat)
  result[order[:keep]] = flat[order[:keep]]
  return result.reshape(kernel.shape)


def as_logits(outputs, probabilities: bool):
  """A model's outputs as logits: log of probabilities (softmax outputs)."""
  import tensorflow as tf
  return tf.math.log(tf.maximum(outputs, 1e-12)) if probabilities else outputs


def distillation_loss(logits, teacher_logits):
  """Mean cross-entropy of the outputs against the teacher's, both softened
  by DISTILL_TEMPERATURE and scaled by its square, which keeps the gradients
  the size of the labels' (Hinton et al. 2015)."""
  import tensorflow as tf
  t = DISTILL_TEMPERATURE
  return tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(
      tf.nn.softmax(teacher_logits / t), logits / t)) * t * t


def _outputs_are_probabilities(model, x: np.ndarray) -> bool:
  probe = np.asarray(model(x[:8], training=False))
  return bool(np.all(probe >= 0) and np.allclose(probe.sum(axis=-1), 1.0, atol=1e-3))


class SparseTrainer:
  """Retrains one model in place, holding constrained layers at their density.

  The model is modified in place; snapshot() and restore() save and put back
  every weight (SparseComp restores a layer's round when it proves fragile).
  """

  def __init__(self, model, x: np.ndarray, y: np.ndarray, config: TrainConfig,
               teacher=None):
    """teacher: the model whose outputs config.distillation mixes into the loss
    (the model before compression); needed when config.distillation > 0."""
    import tensorflow as tf
    import tf_keras
    if config.distillation > 0 and teacher is None:
      raise ValueError("TrainConfig.distillation needs a teacher model")
    self.model = model
    self._config = config
    self._teacher = teacher if config.distillation > 0 else None
    self._batch_stream = augment.training_batches(x, y, config.batch_size, config.seed,
                                                  config.augment)
    self._probabilities = _outputs_are_probabilities(model, x)
    self._loss = tf_keras.losses.SparseCategoricalCrossentropy(
        from_logits=not self._probabilities)
    self._layers = {layer.name: layer for layer in model.layers
                    if type(layer).__name__ in PRUNABLE_TYPES}
    # Bits of each prunable layer's grid (8: none); a search may move a layer
    # to a smaller grid in a round of its own.
    self.layer_bits: Dict[str, int] = {name: config.weight_bits for name in self._layers}
    self._tf = tf

  def snapshot(self) -> List[np.ndarray]:
    return [np.array(w) for w in self.model.get_weights()]

  def restore(self, weights: List[np.ndarray]) -> None:
    self.model.set_weights(weights)

  def apply_densities(self, densities: Mapping[str, float]) -> None:
    """Projects each named layer's kernel onto its density now (and, with
    int4 weights, every prunable kernel onto its grid)."""
    for name, density in densities.items():
      variable = kernel_of(self._layers[name])
      variable.assign(project(variable.numpy(), density))
    for name, layer in self._layers.items():
      levels = GRID_LEVELS.get(self.layer_bits[name])
      if levels is not None:
        variable = kernel_of(layer)
        variable.assign(on_grid(variable.numpy(), channel_axes(layer), levels))

  def train(self, densities: Mapping[str, float], steps: int) -> None:
    """`steps` Adam steps, each followed by the projection of every layer in
    `densities` (layers not named are free). A fresh optimizer per call, so
    a round does not inherit moments from weights that were restored."""
    tf = self._tf
    import tf_keras
    self.apply_densities(densities)
    if steps <= 0:
      return
    optimizer = tf_keras.optimizers.Adam(
        tf_keras.optimizers.schedules.CosineDecay(self._config.learning_rate, steps))
    model, loss_fn = self.model, self._loss
    # With int4 or 2-bit weights the optimizer moves a float copy of each
    # kernel; the model's kernel gets the copy's rounded values after each step.
    grids = {kernel_of(layer).ref(): (tf.Variable(kernel_of(layer).numpy()), channel_axes(layer),
                                      GRID_LEVELS[self.layer_bits[name]])
             for name, layer in self._layers.items() if self.layer_bits[name] in GRID_LEVELS}
    trained = {ref: copy for ref, (copy, _, _) in grids.items()}
    constrained = [(trained.get(kernel_of(self._layers[name]).ref(),
                                kernel_of(self._layers[name])),
                    kept_weights(density, int(np.prod(kernel_of(self._layers[name]).shape))))
                   for name, density in densities.items()]
    targets = [trained.get(v.ref(), v) for v in model.trainable_variables]

    teacher, distill = self._teacher, self._config.distillation
    probabilities = self._probabilities

    @tf.function
    def step(x, y):
      with tf.GradientTape() as tape:
        outputs = model(x, training=True)
        loss = loss_fn(y, outputs)
        if teacher is not None:
          soft_loss = distillation_loss(as_logits(outputs, probabilities),
                                        as_logits(teacher(x, training=False), probabilities))
          loss = (1 - distill) * loss + distill * soft_loss
      grads = tape.gradient(loss, model.trainable_variables)
      optimizer.apply_gradients(zip(grads, targets, strict=True))
      for variable, keep in constrained:
        flat = tf.reshape(variable, [-1])
        if keep < flat.shape[0]:
          _, kept = tf.math.top_k(tf.abs(flat), k=keep, sorted=False)
          mask = tf.scatter_nd(kept[:, None], tf.ones([keep], flat.dtype), flat.shape)
          variable.assign(tf.reshape(flat * mask, variable.shape))
      for ref, (copy, axes, levels) in grids.items():
        peak = tf.reduce_max(tf.abs(copy), axis=axes, keepdims=True)
        grid_step = tf.where(peak > 0, peak / levels, tf.ones_like(peak))
        scaled = copy / grid_step
        ref.deref().assign(tf.sign(scaled) * tf.floor(tf.abs(scaled) + 0.5) * grid_step)
      return loss

    for _ in range(steps):
      x, y = next(self._batch_stream)
      step(tf.constant(x), tf.constant(y))

  def predict(self, x: np.ndarray) -> np.ndarray:
    outputs = [np.asarray(self.model(x[i:i + _PREDICT_BATCH], training=False))
               for i in range(0, len(x), _PREDICT_BATCH)]
    return np.concatenate(outputs)

  def accuracy(self, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy (0..1) of the current weights."""
    return float(np.mean(np.argmax(self.predict(x), axis=-1) == y))

  def densities(self) -> Dict[str, float]:
    """Measured fraction of non-zero kernel weights per prunable layer."""
    return {name: float(np.count_nonzero(kernel_of(layer).numpy())) /
            int(np.prod(kernel_of(layer).shape)) for name, layer in self._layers.items()}
