"""Per-exit branches (BranchyNet's early exits: one head per exit), the
baseline gNet is measured against in bench/gnet.py and
bench/energy_policies.py: per exit a hidden ReLU layer, then the classes,
trained with the loss and steps of the gNet head."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def train_branch(features: np.ndarray, teacher: np.ndarray, y: np.ndarray, hidden: int,
                 config, validation) -> object:
  """A branch on one exit's pooled features: a function from features to
  float logits. validation: (features, labels); the branch kept is the one
  with the lowest validation cross-entropy, as for the gNet head."""
  import tensorflow as tf
  import tf_keras

  from converter.gnet.head import KeepBest, _probabilities, is_check_step
  tf.random.set_seed(config.seed)
  classes = teacher.shape[1]
  model = tf_keras.Sequential([tf_keras.layers.Dense(hidden, activation="relu"),
                               tf_keras.layers.Dense(classes)])
  model.build((None, features.shape[1]))
  scale = 1.0 / max(float(np.sqrt(np.mean(np.square(features)))), 1e-6)
  x = (features * scale).astype(np.float32)
  soft = np.power(_probabilities(teacher), 1.0 / config.temperature).astype(np.float32)
  soft /= soft.sum(-1, keepdims=True)
  optimizer = tf_keras.optimizers.Adam(
      tf_keras.optimizers.schedules.CosineDecay(config.learning_rate, config.steps))
  alpha, t = config.distillation, config.temperature

  @tf.function
  def step(xb, yb, sb):
    with tf.GradientTape() as tape:
      logits = model(xb, training=True)
      loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(yb, logits))
      distilled = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(sb, logits / t))
      loss = (1 - alpha) * loss + alpha * t**2 * distilled
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))

  x_val = tf.constant((validation[0] * scale).astype(np.float32))
  y_val = tf.constant(validation[1])

  @tf.function
  def validation_loss():
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        y_val, model(x_val, training=False)))

  rng = np.random.default_rng(config.seed)
  best = KeepBest(model.trainable_variables)
  for step_index in range(config.steps):
    chosen = rng.integers(0, len(x), config.batch_size)
    step(tf.constant(x[chosen]), tf.constant(y[chosen]), tf.constant(soft[chosen]))
    if is_check_step(step_index, config.steps):
      best.check(float(validation_loss()))
  best.restore()
  return lambda f: np.asarray(model(f * scale, training=False))


def int8_logits(logits: np.ndarray, scale: float) -> np.ndarray:
  """Float logits as a device keeps them: int8 at one scale per branch."""
  return np.clip(np.round(logits / scale), -128, 127).astype(np.int8)


def for_simulation(keras_path, data: str, exits: Sequence[str], test_indices: np.ndarray,
                   max_drop: float, grid: int = 2, pooling: str = "avg", hidden: int = 64):
  """Branches on the converter's exits, ready for the co-simulation:
  trained on the train split, their confidence thresholds and stop
  accuracies measured on the validation split as gNet's are (int8 logit
  margins, `max_drop` points), then run on the chosen test inputs. Returns (cosim.Branches, the
  thresholds)."""
  import tf_keras

  from converter import datasets
  from converter.gnet import head, thresholds
  from converter.simulate import cosim
  dataset = datasets.load(data, training=True)
  model = tf_keras.models.load_model(keras_path, compile=False)
  shape = tuple(int(d) for d in model.inputs[0].shape[1:])
  extractor = head.exit_features(model, exits, grid, pooling)
  x_train, y_train = dataset.training()
  teacher, train = head.compute_features(extractor, datasets.fit_to_shape(x_train, shape, data))
  val_out, val = head.compute_features(
      extractor, datasets.fit_to_shape(dataset.x_validation, shape, data))
  _, test = head.compute_features(
      extractor, datasets.fit_to_shape(dataset.x_test[test_indices], shape, data))
  teacher = teacher.reshape(len(teacher), -1)
  classes = teacher.shape[1]
  config = head.HeadConfig()  # the converter's steps and loss
  val_logits, test_logits, instructions = [], [], []
  for f_train, f_val, f_test in zip(train, val, test, strict=True):
    predict = train_branch(f_train, teacher, y_train, hidden, config,
                           (f_val, dataset.y_validation))
    on_val = predict(f_val)
    scale = max(float(np.max(np.abs(on_val))), 1e-6) / 127.0
    val_logits.append(int8_logits(on_val, scale))
    test_logits.append(int8_logits(predict(f_test), scale))
    macs = f_train.shape[1] * hidden + hidden * classes
    instructions.append(cosim.INSTRUCTIONS_PER_MAC * macs +
                        cosim.INSTRUCTIONS_PER_OUTPUT_BYTE * (hidden + classes))
  val_logits, test_logits = np.stack(val_logits, 1), np.stack(test_logits, 1)
  final_val = np.argmax(val_out.reshape(len(val_out), -1), -1)
  chosen = thresholds.calibrate(val_logits, final_val, dataset.y_validation, max_drop)
  confident = thresholds.margins(test_logits) >= np.asarray(chosen)[None, :]
  table = thresholds.stop_accuracy(val_logits, final_val, dataset.y_validation, chosen)
  return cosim.Branches(np.argmax(test_logits, -1), confident, instructions, table), chosen
