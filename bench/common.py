"""What the benchmarks share: the models they measure, random inputs and
the markdown table they print."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Dict, List, NamedTuple

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("FREEML_SHARED_DIR", REPO.parent / "shared"))
MODELS: Dict[str, Path] = {
    "digits": REPO / "out" / "digits" / "model.tflite",
    "kws": SHARED / "models" / "kws_dscnn_int8.tflite",
    "ic": SHARED / "models" / "ic_resnet8_int8.tflite",
}

class GnetHead(NamedTuple):
  """A gNet head as the converter's flags give it."""
  grid: int  # --exit-grid
  pooling: str  # --exit-pool: one kind, or one per exit
  rank: int = 0  # --exit-rank
  weight_bits: int = 8  # --exit-weight-bits
  distillation: float = 0.5  # --exit-distillation

  def flags(self) -> List[str]:
    return ["--exit-grid", str(self.grid), "--exit-pool", self.pooling,
            "--exit-rank", str(self.rank), "--exit-weight-bits", str(self.weight_bits),
            "--exit-distillation", f"{self.distillation:g}"]

  def describe(self) -> str:
    rank = f", rank {self.rank}" if self.rank else ""
    return f"{self.grid}x{self.grid} {self.pooling}{rank}, int{self.weight_bits}"


# The gNet head the benchmarks convert per model, chosen by bench/gnet.py's
# float variants: the one-layer default where exits are many and 1x1 cells
# do well (the DS-CNN); on CIFAR-10, where the first exits need 2x2 cells,
# two layers through int4 weights (twice the hidden units for the bytes)
# and labels only (distillation cost the low-rank heads 1-2 points). The S
# network's first exit also pools by maximum: it is the one furthest behind.
GNET_HEADS = {"kws": GnetHead(1, "avg+max"),
              "ic": GnetHead(2, "avg", rank=11, weight_bits=4, distillation=0.0),
              "s": GnetHead(2, "avg+max,avg", rank=9, weight_bits=4, distillation=0.0)}


def model_paths(names: List[str]) -> Dict[str, Path]:
  """The named models that exist, with a note on stderr for each missing."""
  found = {}
  for name in names:
    if name not in MODELS:
      raise ValueError(f"unknown model '{name}', choose from {', '.join(MODELS)}")
    path = MODELS[name]
    if not path.exists():
      hint = "run `make demo` first" if name == "digits" else f"set FREEML_SHARED_DIR ({SHARED})"
      print(f"skipping {name}: {path} not found ({hint})", file=sys.stderr)
      continue
    found[name] = path
  if not found:
    raise ValueError("no model could be measured")
  return found


def random_input(shape, dtype, rng: np.random.Generator) -> np.ndarray:
  info = np.iinfo(dtype) if np.issubdtype(dtype, np.integer) else None
  if info is None:
    return rng.standard_normal(shape).astype(dtype)
  return rng.integers(info.min, info.max + 1, size=shape, dtype=dtype)


def print_table(rows: List[Dict[str, object]]) -> None:
  headers = list(rows[0])
  print("| " + " | ".join(headers) + " |")
  print("|" + "|".join("---" for _ in headers) + "|")
  for row in rows:
    print("| " + " | ".join(str(row[h]) for h in headers) + " |")
