"""Input quantization as TFLite's QUANTIZE computes it."""

from __future__ import annotations

import numpy as np

from converter.evaluate import quantize_input


def test_rounds_half_away_from_zero_then_clamps():
  x = np.array([0.5, -0.5, 1.5, 2.5, -2.5, 0.49, 300.0, -300.0], np.float32)
  q = quantize_input(x, scale=1.0, zero_point=0)
  assert q.tolist() == [1, -1, 2, 3, -3, 0, 127, -128]
  assert quantize_input(np.array([0.0, 1.0], np.float32), 1 / 255, -128).tolist() == [-128, 127]
