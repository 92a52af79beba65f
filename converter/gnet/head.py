"""The gNet head: pooled exit features in, one linear classifier out, trained
on the frozen network. The classifier is one layer, or two linear layers
through `rank` hidden units (a low-rank factorization of the one layer:
fewer bytes for many features, and fewer accumulators on the device).

The backbone never changes, so every exit's pooled features (and the
network's own output, the teacher) are computed once; training the head is
then a small problem on arrays. Each step draws one exit per batch: the
features of the exits after it are zeroed, as the device has not reached
them. Beyond the paper's recipe (uniform draw, cross-entropy), three ideas
that cost no device memory, each measured by bench/gnet.py:

  exit_weights   draw early exits more often: they are the hard ones;
  distillation   also match the full network's softened output;
  feature_scaling  divide each exit's features by their RMS while training,
                 folded into the head's weights afterwards (the device sees
                 the raw pooled features).

and two that change the head's bytes: pooling an exit by its maximum beside
its average (POOLINGS; the converter's default) doubles its features, and
int4 first-layer weights (weight_bits 4, trained through their rounding)
halve the bytes of the layer that holds most of them.

Example:
  extractor = exit_features(model, ["pool1", "pool2"], grid=1, pooling="avg")
  teacher, features = compute_features(extractor, x_train)
  head = train_head(teacher, features, y_train, HeadConfig())
  gnet = gnet_model(model, ["pool1", "pool2"], 1, "avg", head)  # for int8 conversion
"""

from __future__ import annotations

import dataclasses
from typing import List, Optional, Sequence, Tuple

import numpy as np

_PREDICT_BATCH = 256


@dataclasses.dataclass(frozen=True)
class HeadConfig:
  """How the head is trained.

  exit_weights: relative probability of drawing each exit per batch:
    "uniform" (or empty; the paper's recipe), "falling" (exit k by 1/(k+1)),
    or one number per exit separated by commas.
  distillation: weight of the softened full-network output in the loss
    (0: labels only); temperature: its softening.
  rank: hidden units of a two-layer linear head; 0: one layer.
  weight_bits: 8, or 4 for int4 first-layer weights with one scale (TFLM's
    FULLY_CONNECTED takes int4 weights per-tensor only).
  """
  steps: int = 10000
  batch_size: int = 128
  learning_rate: float = 3e-3
  exit_weights: str = "falling"
  distillation: float = 0.5
  temperature: float = 2.0
  feature_scaling: bool = True
  seed: int = 0
  rank: int = 0
  weight_bits: int = 8


@dataclasses.dataclass
class Head:
  """A trained head. Its first layer sums over the reached exits k:
  first = bias + sum_k kernel[offsets[k]:offsets[k + 1]].T @ pooled_k; these
  are the logits, or with an output layer, logits = output_kernel.T @ first
  + output_bias."""
  kernel: np.ndarray  # (features, classes or rank) float32, scaling folded in
  bias: np.ndarray  # (classes or rank,)
  offsets: Tuple[int, ...]  # first feature of each exit, then the total
  output_kernel: Optional[np.ndarray] = None  # (rank, classes)
  output_bias: Optional[np.ndarray] = None  # (classes,)

  def logits(self, features: np.ndarray, exit_index: int) -> np.ndarray:
    """Float logits of exit `exit_index` (0-based) for concatenated features."""
    end = self.offsets[exit_index + 1]
    first = features[:, :end] @ self.kernel[:end] + self.bias
    if self.output_kernel is None:
      return first
    return first @ self.output_kernel + self.output_bias


POOLINGS = ("avg", "max", "avg+max")
WEIGHT_BITS = (8, 4)
INT4_MAX = 7  # symmetric: -7..7, zero point 0


def int4_grid(kernel: np.ndarray) -> Tuple[np.ndarray, float]:
  """(int4 values, scale) of a kernel quantized symmetric per-tensor; the
  head trains through the same rounding, so it loses nothing here."""
  scale = max(float(np.max(np.abs(kernel))), 1e-12) / INT4_MAX
  q = np.clip(np.round(kernel / scale), -INT4_MAX, INT4_MAX).astype(np.int8)
  return q, scale


def per_exit_poolings(pooling: str, exits: int) -> List[str]:
  """One of POOLINGS per exit from 'KIND' (every exit) or 'KIND,KIND,...'
  (one per exit)."""
  kinds = pooling.split(",")
  if len(kinds) == 1:
    kinds = kinds * exits
  if len(kinds) != exits or any(k not in POOLINGS for k in kinds):
    raise ValueError(f"exit pooling '{pooling}': need one of {', '.join(POOLINGS)}, or one per "
                     f"exit ({exits}) separated by commas")
  return kinds


def _pool_layers(name: str, kind: str, spatial: tuple, channels: int, grid: int) -> List:
  # `name` prefixes the new layers' names (Keras wants them unique).
  """Layers pooling a (N, *spatial, C) map to `grid` cells per side, flat.

  Every kind ends in a global average (TFLite's MEAN, which requantizes):
  the exit features share one scale (the head's input), and without a
  requantizing op that scale would be forced back onto the exit layer by
  max or average pooling, which keep their input's scale, changing how the
  network itself is quantized. After pooling to cells, the cells are laid
  out as one 1x1 map so that the final average leaves them as they are."""
  import tf_keras
  pool = tuple(max(1, size // grid) for size in spatial)
  if kind == "avg" and pool == tuple(spatial):
    return [tf_keras.layers.GlobalAveragePooling2D(name=f"{name}_exit_avg")
            if len(spatial) == 2 else
            tf_keras.layers.GlobalAveragePooling1D(name=f"{name}_exit_avg")]
  two_d = len(spatial) == 2
  layer = {("avg", True): tf_keras.layers.AveragePooling2D,
           ("avg", False): tf_keras.layers.AveragePooling1D,
           ("max", True): tf_keras.layers.MaxPooling2D,
           ("max", False): tf_keras.layers.MaxPooling1D}[(kind, two_d)]
  cells = int(np.prod([size // p for size, p in zip(spatial, pool, strict=True)]))
  layers = [layer(pool, strides=pool, name=f"{name}_exit_{kind}")]
  if cells > 1 or not two_d:
    # A reshape with a -1 batch: Keras' Reshape layer computes the batch at
    # run time, which TFLite turns into SHAPE ops the runtime does not have.
    import tensorflow as tf
    layers.append(tf_keras.layers.Lambda(lambda x: tf.reshape(x, (-1, 1, 1, cells * channels)),
                                         name=f"{name}_exit_{kind}_cells"))
  return layers + [
      tf_keras.layers.GlobalAveragePooling2D(name=f"{name}_exit_{kind}_requantize")]


def _pooled(model, name: str, grid: int, pooling: str, tag: str = ""):
  """Layer `name`'s output pooled by `pooling` (POOLINGS) to `grid` cells
  per side and flattened; a (N, features) output as it is. `tag` sets the
  new layers' names apart from another pooling of the same layer."""
  import tf_keras
  out = model.get_layer(name).output
  if len(out.shape) == 2:
    return out
  spatial = tuple(int(d) for d in out.shape[1:-1])
  parts = []
  for kind in pooling.split("+"):
    part = out
    for layer in _pool_layers(name + tag, kind, spatial, int(out.shape[-1]), grid):
      part = layer(part)
    parts.append(part)
  return parts[0] if len(parts) == 1 else \
      tf_keras.layers.Concatenate(name=f"{name}{tag}_exit_features")(parts)


def exit_features(model, exits: Sequence[str], grid: int, pooling: str = "avg",
                  tag: str = ""):
  """A Keras model: input -> [the model's output, pooled features of each
  exit]; pooling as for per_exit_poolings, `tag` as for _pooled."""
  import tf_keras
  kinds = per_exit_poolings(pooling, len(exits))
  outputs = [model.outputs[0]] + [_pooled(model, name, grid, kind, tag)
                                  for name, kind in zip(exits, kinds, strict=True)]
  return tf_keras.Model(model.inputs, outputs, name="gnet_features")


def compute_features(extractor, x: np.ndarray) -> Tuple[np.ndarray, List[np.ndarray]]:
  """(the network's outputs, [pooled features of each exit]) for every sample."""
  parts: List[List[np.ndarray]] = []
  for i in range(0, len(x), _PREDICT_BATCH):
    parts.append([np.asarray(o) for o in extractor(x[i:i + _PREDICT_BATCH], training=False)])
  joined = [np.concatenate([p[j] for p in parts]) for j in range(len(parts[0]))]
  return joined[0], joined[1:]


def _probabilities(outputs: np.ndarray) -> np.ndarray:
  """The network's outputs as probabilities (softmax unless they already are)."""
  outputs = outputs.reshape(len(outputs), -1).astype(np.float64)
  if np.all(outputs >= 0) and np.allclose(outputs.sum(-1), 1.0, atol=1e-3):
    return outputs
  e = np.exp(outputs - outputs.max(-1, keepdims=True))
  return e / e.sum(-1, keepdims=True)


def exit_draw_weights(spec: str, exits: int) -> np.ndarray:
  """Normalized per-exit draw probabilities from HeadConfig.exit_weights."""
  if spec in ("", "uniform"):
    weights = np.ones(exits)
  elif spec == "falling":
    weights = 1.0 / np.arange(1, exits + 1)
  else:
    weights = np.array([float(w) for w in spec.split(",")])
    if len(weights) != exits or np.any(weights < 0) or weights.sum() <= 0:
      raise ValueError(f"exit weights '{spec}': need {exits} non-negative numbers")
  return weights / weights.sum()


CHECKS = 40  # validation checks per training run


class KeepBest:
  """Keeps the variables' values at the lowest validation loss seen: a
  schedule long enough for 45,000 CIFAR-10 images overfits the DS-CNN's
  few hundred training clips, and the validation split tells which."""

  def __init__(self, variables: Sequence) -> None:
    self._variables = list(variables)
    self._loss = float("inf")
    self._values: Optional[List[np.ndarray]] = None

  def check(self, loss: float) -> None:
    if loss < self._loss:
      self._loss, self._values = loss, [v.numpy() for v in self._variables]

  def restore(self) -> None:
    if self._values is not None:
      for variable, value in zip(self._variables, self._values, strict=True):
        variable.assign(value)


def is_check_step(step: int, steps: int) -> bool:
  """Whether step (0-based) ends one of CHECKS equal parts of the run."""
  return (step + 1) % max(steps // CHECKS, 1) == 0 or step + 1 == steps


def train_head(teacher_outputs: np.ndarray, features: Sequence[np.ndarray], y: np.ndarray,
               config: HeadConfig,
               validation: Optional[Tuple[Sequence[np.ndarray], np.ndarray]] = None) -> Head:
  """Trains the shared head on precomputed exit features.

  Args:
    teacher_outputs: the frozen network's outputs for the same samples.
    features: per exit, (N, features_k) pooled features.
    y: (N,) integer labels.
    validation: (features per exit, labels) of held-out samples: the head
      kept is the one with the lowest validation cross-entropy (averaged
      over exits with the draw's weights), checked CHECKS times; None keeps
      the last.
  """
  import tensorflow as tf
  sizes = [f.shape[1] for f in features]
  offsets = tuple(int(v) for v in np.concatenate([[0], np.cumsum(sizes)]))
  scales = np.ones(len(features), np.float32)
  if config.feature_scaling:
    scales = np.array([1.0 / max(float(np.sqrt(np.mean(np.square(f)))), 1e-6)
                       for f in features], np.float32)
  x = np.concatenate([f * s for f, s in zip(features, scales, strict=True)], 1).astype(np.float32)
  teacher = _probabilities(teacher_outputs).astype(np.float32)
  classes = teacher.shape[1]
  draw = exit_draw_weights(config.exit_weights, len(features))
  # mask[k] keeps the features of exits 0..k.
  masks = np.zeros((len(features), offsets[-1]), np.float32)
  for k in range(len(features)):
    masks[k, :offsets[k + 1]] = 1.0

  tf.random.set_seed(config.seed)
  rng = np.random.default_rng(config.seed)
  import tf_keras
  init = tf_keras.initializers.GlorotUniform(seed=config.seed)
  units = config.rank or classes
  row_scales = tf.constant(np.repeat(scales, sizes)[:, None])
  kernel = tf.Variable(init((offsets[-1], units)))
  bias = tf.Variable(tf.zeros([units]))
  variables = [kernel, bias]
  if config.rank:
    output_kernel = tf.Variable(init((units, classes)))
    output_bias = tf.Variable(tf.zeros([classes]))
    variables += [output_kernel, output_bias]
  optimizer = tf_keras.optimizers.Adam(
      tf_keras.optimizers.schedules.CosineDecay(config.learning_rate, config.steps))
  alpha, temperature = float(config.distillation), float(config.temperature)
  soft_teacher = tf.constant(np.power(teacher, 1.0 / temperature))

  def first_kernel():
    """The kernel on scaled features; with int4 weights, rounded as the
    device stores it (folded), the gradient passing straight through."""
    if config.weight_bits == 8:
      return kernel
    folded = kernel * row_scales
    step = tf.reduce_max(tf.abs(folded)) / INT4_MAX + 1e-12
    rounded = tf.clip_by_value(tf.round(folded / step), -INT4_MAX, INT4_MAX) * step
    return (folded + tf.stop_gradient(rounded - folded)) / row_scales

  def head_logits(xb, mb):
    logits = tf.matmul(xb * mb, first_kernel()) + bias
    if config.rank:
      logits = tf.matmul(logits, output_kernel) + output_bias
    return logits

  @tf.function
  def step(xb, yb, mb, tb):
    with tf.GradientTape() as tape:
      logits = head_logits(xb, mb)
      loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(yb, logits))
      if alpha > 0:
        target = tb / tf.reduce_sum(tb, -1, keepdims=True)
        soft = tf.nn.softmax_cross_entropy_with_logits(target, logits / temperature)
        loss = (1 - alpha) * loss + alpha * temperature**2 * tf.reduce_mean(soft)
    grads = tape.gradient(loss, variables)
    optimizer.apply_gradients(zip(grads, variables, strict=True))

  best = KeepBest(variables)
  if validation is not None:
    x_val = tf.constant(np.concatenate(
        [f * s for f, s in zip(validation[0], scales, strict=True)], 1).astype(np.float32))
    y_val = tf.constant(validation[1])

    @tf.function
    def validation_loss():
      return tf.add_n([w * tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
          y_val, head_logits(x_val, masks[k][None]))) for k, w in enumerate(draw)])

  order = np.empty(0, np.int64)
  for step_index in range(config.steps):
    if len(order) < config.batch_size:
      order = np.concatenate([order, rng.permutation(len(x))])
    chosen, order = order[:config.batch_size], order[config.batch_size:]
    exit_index = int(rng.choice(len(features), p=draw))
    step(tf.constant(x[chosen]), tf.constant(y[chosen]), tf.constant(masks[exit_index][None]),
         tf.gather(soft_teacher, chosen))
    if validation is not None and is_check_step(step_index, config.steps):
      best.check(float(validation_loss()))
  best.restore()
  folded = kernel.numpy() * np.repeat(scales, sizes)[:, None]
  if config.weight_bits == 4:
    q, scale = int4_grid(folded)
    folded = q * np.float32(scale)
  return Head(kernel=folded.astype(np.float32), bias=bias.numpy().astype(np.float32),
              offsets=offsets,
              output_kernel=output_kernel.numpy().astype(np.float32) if config.rank else None,
              output_bias=output_bias.numpy().astype(np.float32) if config.rank else None)


def exit_accuracies(head: Head, features: Sequence[np.ndarray], y: np.ndarray) -> List[float]:
  """Float top-1 accuracy of the head at each exit."""
  x = np.concatenate(features, 1)
  return [float(np.mean(np.argmax(head.logits(x, k), -1) == y)) for k in range(len(features))]


def gnet_model(model, exits: Sequence[str], grid: int, pooling: str, head: Head,
               name: Optional[str] = None):
  """The network with its gNet for int8 conversion (pooling as for
  per_exit_poolings): input -> [the model's
  output, the concatenated pooled features, the head's logits with every exit
  reached]. TFLite quantizes all of it in one calibration, so the exit
  features share one scale (the concatenation's) and the head is a
  FULLY_CONNECTED op on them (two, through the hidden units, with a rank)."""
  import tf_keras
  pooled = [_pooled(model, e, grid, kind)
            for e, kind in zip(exits, per_exit_poolings(pooling, len(exits)), strict=True)]
  concat = tf_keras.layers.Concatenate(name="gnet_features")(pooled) if len(pooled) > 1 \
      else pooled[0]
  layers = [(head.kernel, head.bias)]
  if head.output_kernel is not None:
    layers.append((head.output_kernel, head.output_bias))
  logits = concat
  for i, (kernel, bias) in enumerate(layers):
    dense = tf_keras.layers.Dense(
        kernel.shape[1], name="gnet_head" if i == len(layers) - 1 else "gnet_hidden")
    logits = dense(logits)
    dense.set_weights([kernel, bias])
  return tf_keras.Model(model.inputs, [model.outputs[0], concat, logits],
                        name=name or f"{model.name}_gnet")
