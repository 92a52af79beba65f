"""Trains the bundled default model, digits_cnn.h5: a small CNN on
scikit-learn's 8x8 digits (bundled with scikit-learn, no download).

The architecture is chosen to exercise most runtime ops in one int8 graph
that trains in well under a minute on two cores:

  digit 8x8x1
  conv1      Conv2D 16, 3x3 SAME, ReLU          -> CONV_2D
  dw1, pw1   DepthwiseConv2D 3x3 + Conv2D 1x1   -> DEPTHWISE_CONV_2D, CONV_2D
  residual   Add(conv1, pw1)                    -> ADD
  maxpool    MaxPooling2D 2                     -> MAX_POOL_2D    4x4x16
  pad        ZeroPadding2D 1                    -> PAD            6x6x16
  avgpool    AveragePooling2D 2                 -> AVERAGE_POOL_2D 3x3x16
  conv2      Conv2D 32, 3x3 SAME, ReLU          -> CONV_2D
  gap        GlobalAveragePooling2D             -> MEAN
  flatten    Flatten + fc1 Dense 32, ReLU       -> RESHAPE, FULLY_CONNECTED
  concat     Concatenate(gap, fc1)              -> CONCATENATION
  classifier Dense 10, softmax                  -> FULLY_CONNECTED, SOFTMAX

The padding sits before a pooling layer on purpose: before a convolution
TFLite folds it into the convolution's SAME padding and no PAD op remains.
TFLite quantizes both Concatenate inputs to the output's scale, as TFLM's
CONCATENATION requires.

It trains on the `digits` loader's calibration split and reports accuracy on
its test split, the split the converter evaluates, so the reported accuracy
is on digits the model never saw. Seeds are fixed and TensorFlow's ops are
made deterministic, so a re-run gives the same file.

  .venv/bin/python examples/digits/train.py [--epochs 60] [--out PATH]
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List

from absl import app, flags

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import converter  # noqa: E402,F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from converter import datasets  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_integer("epochs", 60, "Training epochs.")
flags.DEFINE_string("out", str(Path(__file__).with_name("digits_cnn.h5")),
                    "Output .h5 path (default: digits_cnn.h5 beside this script).")
flags.DEFINE_integer("seed", 0, "Seed for weights initialisation and batch order.")


def build_model():
  """The functional model described in the module docstring."""
  import tf_keras as keras
  from tf_keras import layers
  inputs = keras.Input((8, 8, 1), name="digit")
  x = layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1")(inputs)
  y = layers.DepthwiseConv2D(3, padding="same", activation="relu", name="dw1")(x)
  y = layers.Conv2D(16, 1, name="pw1")(y)
  x = layers.Add(name="residual")([x, y])
  x = layers.MaxPooling2D(2, name="maxpool")(x)
  x = layers.ZeroPadding2D(1, name="pad")(x)
  x = layers.AveragePooling2D(2, name="avgpool")(x)
  x = layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2")(x)
  pooled = layers.GlobalAveragePooling2D(name="gap")(x)
  flat = layers.Flatten(name="flatten")(x)
  flat = layers.Dense(32, activation="relu", name="fc1")(flat)
  x = layers.Concatenate(name="concat")([pooled, flat])
  outputs = layers.Dense(10, activation="softmax", name="classifier")(x)
  return keras.Model(inputs, outputs, name="digits_cnn")


def main(argv: List[str]) -> None:
  del argv
  import numpy as np
  import tensorflow as tf
  import tf_keras as keras
  keras.utils.set_random_seed(FLAGS.seed)
  tf.config.experimental.enable_op_determinism()
  data = datasets.load_digits()
  model = build_model()
  model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy",
                metrics=["accuracy"])
  model.fit(data.x_calibration, data.y_calibration, epochs=FLAGS.epochs, batch_size=32,
            validation_data=(data.x_validation, data.y_validation), verbose=2)
  predictions = model.predict(data.x_test, verbose=0)
  accuracy = float(np.mean(np.argmax(predictions, -1) == data.y_test))
  model.save(FLAGS.out, save_format="h5", include_optimizer=False)
  size = Path(FLAGS.out).stat().st_size
  print(f"saved {FLAGS.out} ({size:,} B, {model.count_params():,} parameters): float test "
        f"accuracy {100 * accuracy:.2f}% on {len(data.x_test)} digits")


if __name__ == "__main__":
  app.run(main)
