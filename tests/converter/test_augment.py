"""Training-time augmentation (converter/augment.py): RGB images only, every
output pixel comes from the image it replaces, and the same seed gives the
same batches."""

import numpy as np

from converter import augment


def _images(n: int = 16) -> np.ndarray:
  return np.random.default_rng(1).random((n, 8, 8, 3)).astype(np.float32)


def test_only_rgb_images_are_augmented():
  assert augment.augments(np.zeros((2, 32, 32, 3)))
  assert not augment.augments(np.zeros((2, 49, 10, 1)))  # a spectrogram
  assert not augment.augments(np.zeros((2, 64)))


def test_a_flip_and_crop_keeps_each_image_its_own():
  x = _images()
  out = augment.augment_images(x, np.random.default_rng(0))
  assert out.shape == x.shape and out.dtype == x.dtype
  for original, changed in zip(x, out, strict=True):
    assert set(np.unique(changed)) <= set(np.unique(original))
  assert not np.array_equal(out, x)


def test_batches_are_seeded_and_cover_every_sample_per_pass():
  x, y = _images(), np.arange(16)
  first = augment.training_batches(x, y, 4, seed=3, augment=True)
  again = augment.training_batches(x, y, 4, seed=3, augment=True)
  labels = []
  for _ in range(4):
    (xa, ya), (xb, yb) = next(first), next(again)
    assert np.array_equal(xa, xb) and np.array_equal(ya, yb)
    labels += list(ya)
  assert sorted(labels) == list(range(16))
  plain_x, plain_y = next(augment.training_batches(x, y, 4, seed=3, augment=False))
  assert np.array_equal(plain_x, x[plain_y])
