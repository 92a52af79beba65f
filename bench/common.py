"""What the benchmarks share: the models they measure, random inputs and
the markdown table they print."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Dict, List

import numpy as np

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("FREEML_SHARED_DIR", REPO.parent / "shared"))
MODELS: Dict[str, Path] = {
    "digits": REPO / "out" / "digits" / "model.tflite",
    "kws": SHARED / "models" / "kws_dscnn_int8.tflite",
    "ic": SHARED / "models" / "ic_resnet8_int8.tflite",
}

# The gNet head the benchmarks convert per model (--exit-grid, --exit-pool,
# --exit-rank), chosen by bench/gnet.py's float variants: the one-layer
# default where exits are many and 1x1 cells do well (the DS-CNN), 2x2 cells
# through 6 hidden units where the first exits need the cells (CIFAR-10).
GNET_HEADS = {"kws": (1, "avg+max", 0), "ic": (2, "avg", 6), "s": (2, "avg", 6)}


def gnet_head_flags(name: str) -> List[str]:
  """The converter flags of GNET_HEADS[name]."""
  grid, pooling, rank = GNET_HEADS[name]
  return ["--exit-grid", str(grid), "--exit-pool", pooling, "--exit-rank", str(rank)]


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
