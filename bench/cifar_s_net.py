"""The FreeML paper's CIFAR-10 "S" network, trained from scratch with tf_keras.

Farina et al. (EWSN 2024) list the S network as Conv 3x3 3->64, MaxPool 2,
Conv 3x3 64->128, MaxPool 2, Conv 3x3 128->64, MaxPool 2, Flatten, Dense 256,
Dense 256, Dense 64, Dense 10, with 232,330 parameters. Read with two Dense 256
layers after the flatten it has 298,122; the paper's count holds when the
first "256" is the width of the flatten itself (32x32x3 input, valid padding:
30 -> 15 -> 13 -> 6 -> 4 -> 2, so 2x2x64 = 256 features), i.e. Flatten (256),
Dense 256, Dense 64, Dense 10. That is the network built here, and
build_s_network() asserts the count.

The model takes pixels 0..255, as converter.datasets' cifar10 loader gives
them: its first layer is Rescaling(1/255), which TFLite folds into the first
convolution on int8 conversion (no extra op), so `python -m converter --in
out/bench/cifar_s.h5 --data cifar10` works unchanged.

Training: the cifar10 train split (45,000 images), Adam with a cosine decay,
random horizontal flip and 32x32 crop of the 4-pixel reflect-padded image,
batch 128, a fixed seed (weights, batch order, augmentation). One epoch takes
about 80-100 s on 2 cores.

  .venv/bin/python bench/cifar_s_net.py [--epochs 15] [--out out/bench/cifar_s.h5] [--seed 0]
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import List

from absl import app, flags

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from bench.common import REPO, SHARED  # noqa: E402
from converter import datasets  # noqa: E402  (sets TF_USE_LEGACY_KERAS before TensorFlow)
from converter.augment import training_batches  # noqa: E402
from converter.model_loading import save_h5  # noqa: E402

FLAGS = flags.FLAGS

S_NET_PARAMS = 232_330
_PREDICT_BATCH = 500


def build_s_network():
  """The S network (see the module doc), untrained, taking pixels 0..255.

  Raises:
    AssertionError: the parameter count is not the paper's 232,330.
  """
  import tf_keras
  layers = tf_keras.layers
  model = tf_keras.Sequential([
      tf_keras.Input((32, 32, 3)),
      layers.Rescaling(1 / 255),
      layers.Conv2D(64, 3, activation="relu"),
      layers.MaxPooling2D(2),
      layers.Conv2D(128, 3, activation="relu"),
      layers.MaxPooling2D(2),
      layers.Conv2D(64, 3, activation="relu"),
      layers.MaxPooling2D(2),
      layers.Flatten(),
      layers.Dense(256, activation="relu"),
      layers.Dense(64, activation="relu"),
      layers.Dense(10, activation="softmax"),
  ], name="cifar_s")
  assert model.count_params() == S_NET_PARAMS, model.count_params()
  return model


def accuracy(model, x: np.ndarray, y: np.ndarray) -> float:
  """Top-1 accuracy (0..1) of a Keras model on float samples."""
  predictions = model.predict(x, batch_size=_PREDICT_BATCH, verbose=0)
  return float(np.mean(np.argmax(predictions, axis=-1) == y))


def train(model, data: datasets.Dataset, epochs: int, batch_size: int, learning_rate: float,
          seed: int) -> None:
  """Trains `model` in place on data.training(), printing each epoch's train
  loss and accuracy and the validation accuracy."""
  import tf_keras
  x, y = data.training()
  steps = len(x) // batch_size
  schedule = tf_keras.optimizers.schedules.CosineDecay(learning_rate, epochs * steps)
  model.compile(tf_keras.optimizers.Adam(schedule),
                tf_keras.losses.SparseCategoricalCrossentropy(), metrics=["accuracy"])

  class Progress(tf_keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
      self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
      val = accuracy(model, data.x_validation, data.y_validation)
      print(f"epoch {epoch + 1}/{epochs}: train loss {logs['loss']:.4f}, train acc "
            f"{100 * logs['accuracy']:.2f}%, val acc {100 * val:.2f}% "
            f"({time.perf_counter() - self.start:.0f} s)", flush=True)

  model.fit(training_batches(x, y, batch_size, seed, augment=True), steps_per_epoch=steps,
            epochs=epochs, verbose=0, callbacks=[Progress()])


def _define_flags() -> None:
  """The command's flags, defined only when it runs: bench/tflm_lut.py imports
  this module's training helpers and defines flags of the same names."""
  flags.DEFINE_integer("epochs", 15, "Training epochs over the 45,000 train images.")
  flags.DEFINE_string("out", str(REPO / "out" / "bench" / "cifar_s.h5"), "Where to save the .h5.")
  flags.DEFINE_integer("seed", 0, "Seed of the weights, the batch order and the augmentation.")
  flags.DEFINE_integer("batch-size", 128, "Training batch size.")
  flags.DEFINE_float("learning-rate", 1e-3, "Adam's initial learning rate (cosine decay to 0).")


def main(argv: List[str]) -> None:
  del argv
  if FLAGS.epochs < 1:
    raise app.UsageError(f"--epochs must be >= 1, got {FLAGS.epochs}")
  os.environ.setdefault(datasets.DATA_DIR_VARIABLE, str(SHARED / "datasets"))
  import tf_keras
  start = time.perf_counter()
  tf_keras.utils.set_random_seed(FLAGS.seed)
  print("decoding the cifar10 train split...", flush=True)
  data = datasets.load("cifar10", training=True)
  print(f"{data.describe()} ({time.perf_counter() - start:.0f} s)", flush=True)
  batch_size = FLAGS["batch-size"].value
  model = build_s_network()
  print(f"S network: {model.count_params():,} parameters; {FLAGS.epochs} epochs of "
        f"{len(data.training()[0]) // batch_size} steps", flush=True)
  train(model, data, FLAGS.epochs, batch_size, FLAGS["learning-rate"].value, FLAGS.seed)
  test = accuracy(model, data.x_test, data.y_test)
  out = Path(FLAGS.out)
  save_h5(model, out)
  print(f"float test accuracy {100 * test:.2f}% on {len(data.x_test):,} test images; "
        f"saved {out}; {(time.perf_counter() - start) / 60:.1f} min in all")


if __name__ == "__main__":
  _define_flags()
  app.run(main)
