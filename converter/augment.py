"""Training-time augmentation of RGB images: random flips and crops.

The SparseComp retraining (converter/sparsecomp/prune.py), the CIFAR-10 S
network's training and the LUT baseline's fine-tuning (bench/) draw their
batches here, so compressed models and baselines see the same data. Other
inputs (spectrograms, grayscale digits) are left as they are: a flipped
spectrogram is another sound.
"""

from __future__ import annotations

from typing import Iterator, Tuple

import numpy as np

_CROP_PAD = 4


def augments(x: np.ndarray) -> bool:
  """Whether samples `x` (N, ...) are RGB images, the ones augmented."""
  return x.ndim == 4 and x.shape[-1] == 3


def augment_images(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
  """Random horizontal flip and random crop (same size) of the image padded by
  4 pixels (reflect), one draw per image; x is (N, H, W, C)."""
  n, h, w, _ = x.shape
  flip = rng.random(n) < 0.5
  x = np.where(flip[:, None, None, None], x[:, :, ::-1], x)
  padded = np.pad(x, ((0, 0), (_CROP_PAD, _CROP_PAD), (_CROP_PAD, _CROP_PAD), (0, 0)),
                  mode="reflect")
  dy = rng.integers(0, 2 * _CROP_PAD + 1, n)
  dx = rng.integers(0, 2 * _CROP_PAD + 1, n)
  rows = (dy[:, None] + np.arange(h))[:, :, None]
  cols = (dx[:, None] + np.arange(w))[:, None, :]
  return padded[np.arange(n)[:, None, None], rows, cols]


def training_batches(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int,
                     augment: bool) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
  """Endless batches in seeded shuffled order (a new permutation each pass),
  flipped and cropped when `augment`."""
  rng = np.random.default_rng(seed)
  order = np.empty(0, np.int64)
  while True:
    if len(order) < batch_size:
      order = np.concatenate([order, rng.permutation(len(x))])
    chosen, order = order[:batch_size], order[batch_size:]
    xb = augment_images(x[chosen], rng) if augment else x[chosen]
    yield xb, y[chosen]
