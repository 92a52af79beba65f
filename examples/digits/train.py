"""Trains the bundled default model, digits_cnn.h5: a small CNN on
scikit-learn's 8x8 digits (bundled with scikit-learn, no download).

The architecture is chosen to exercise the runtime's ops on a model that
trains in under a minute on two cores: PAD, CONV_2D, DEPTHWISE_CONV_2D, a
residual ADD, MAX_POOL_2D, AVERAGE_POOL_2D, MEAN, FULLY_CONNECTED, SOFTMAX.
It uses the `digits` loader's splits, so the converter's reported test
accuracy is on samples the model never saw.

  .venv/bin/python examples/digits/train.py [--epochs 60]
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
flags.DEFINE_string("out", str(Path(__file__).with_name("digits_cnn.h5")), "Output .h5 path.")


def build_model():
  import tf_keras as keras
  from tf_keras import layers
  inputs = keras.Input((8, 8, 1), name="digit")
  x = layers.ZeroPadding2D(1, name="pad")(inputs)
  x = layers.Conv2D(12, 3, activation="relu", name="conv1")(x)
  skip = x
  x = layers.DepthwiseConv2D(3, padding="same", activation="relu", name="dw1")(x)
  x = layers.Conv2D(12, 1, name="pw1")(x)
  x = layers.Add(name="residual")([x, skip])
  x = layers.MaxPooling2D(2, name="maxpool")(x)
  x = layers.Conv2D(24, 3, padding="same", activation="relu", name="conv2")(x)
  x = layers.AveragePooling2D(2, name="avgpool")(x)
  x = layers.Conv2D(32, 1, activation="relu6", name="conv3")(x)
  x = layers.GlobalAveragePooling2D(name="gap")(x)
  outputs = layers.Dense(10, activation="softmax", name="classifier")(x)
  return keras.Model(inputs, outputs, name="digits_cnn")


def main(argv: List[str]) -> None:
  del argv
  import numpy as np
  import tensorflow as tf
  import tf_keras as keras
  keras.utils.set_random_seed(0)
  tf.config.experimental.enable_op_determinism()
  data = datasets.load_digits()
  model = build_model()
  model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy",
                metrics=["accuracy"])
  model.fit(data.x_calibration, data.y_calibration, epochs=FLAGS.epochs, batch_size=32,
            validation_data=(data.x_validation, data.y_validation), verbose=2)
  accuracy = float(np.mean(np.argmax(model.predict(data.x_test, verbose=0), -1) == data.y_test))
  model.save(FLAGS.out, save_format="h5", include_optimizer=False)
  print(f"saved {FLAGS.out}: test accuracy {100 * accuracy:.2f}% on {len(data.x_test)} digits")


if __name__ == "__main__":
  app.run(main)
