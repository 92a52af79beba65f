"""Stored bytes of a float layer, counted the way the model will hold it.

The search asks this after every round, so it cannot convert the model each
time; instead it quantizes each kernel as TFLite does (symmetric, one scale
per output channel, round half away from zero; with 4 or 2 bits, to -7..7 or
-2..2 as converter/grid_filters.py stores it) and asks converter/sparse_format for the
size of the smallest format. A weight that rounds to zero is a zero the
encoder will not store, so it is counted here too. The pipeline checks the
estimate against the converted model.

Example:
  layer_bytes(model.get_layer("conv2d"))   # filter bytes + 4 per bias value
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from converter import sparse_format
from converter.sparsecomp.prune import GRID_LEVELS, kernel_of

OP_OF_LAYER = {"Conv2D": "CONV_2D", "DepthwiseConv2D": "DEPTHWISE_CONV_2D",
               "Dense": "FULLY_CONNECTED"}
_LEVELS = {8: 127, **GRID_LEVELS}  # the largest magnitude of a symmetric grid
_BIAS_BYTES = 4


def float_rows(layer, kernel: Optional[np.ndarray] = None) -> np.ndarray:
  """The layer's kernel (or `kernel`, weights of its shape) as TFLite's
  [F, K] filter rows (docs/sparse.md)."""
  if kernel is None:
    kernel = kernel_of(layer).numpy()
  kernel = np.asarray(kernel, np.float32)
  kind = type(layer).__name__
  if kind == "Conv2D":  # [kh, kw, cin, cout] -> [cout, kh*kw*cin]
    return kernel.transpose(3, 0, 1, 2).reshape(kernel.shape[3], -1)
  if kind == "DepthwiseConv2D":  # [kh, kw, cin, m] -> [cin*m, kh*kw]
    return kernel.reshape(kernel.shape[0] * kernel.shape[1], -1).T
  return kernel.T  # Dense [in, out] -> [out, in]


def quantized_rows(rows: np.ndarray, bits: int = 8) -> np.ndarray:
  """Symmetric per-row quantization to `bits` (8, 4 or 2), as TFLite quantizes
  filters to int8."""
  levels = _LEVELS[bits]
  peak = np.max(np.abs(rows), axis=1, keepdims=True)
  scale = np.where(peak > 0, peak / levels, 1.0)
  scaled = rows / scale
  return np.clip(np.sign(scaled) * np.floor(np.abs(scaled) + 0.5), -levels,
                 levels).astype(np.int8)


def layer_bytes(layer, kernel: Optional[np.ndarray] = None, bits: int = 8) -> int:
  """Filter bytes in its smallest format plus the int32 bias (TFLite gives
  every int8 convolution and fully connected op one); with `kernel`, the
  bytes the layer would store holding those weights; `bits` 4 (2) for
  weights on the -7..7 (-2..2) grid."""
  rows = quantized_rows(float_rows(layer, kernel), bits)
  _, size = sparse_format.best_format(OP_OF_LAYER[type(layer).__name__], rows)
  return size + _BIAS_BYTES * rows.shape[0]
