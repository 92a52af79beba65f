"""How the sparse kernels' cost follows their entries, in exact
instruction counts on the Cortex-M4 under QEMU (DSP kernels, plain mode;
see docs/firmware.md and docs/sparse.md).

  .venv/bin/python bench/sparse_kernels.py [--ops CONV_2D,DEPTHWISE_CONV_2D,FULLY_CONNECTED]
                                           [--densities 1,0.5,0.25,0.1,0.05,0.02] [--seed 0]
                                           [--value-bits 8]

For each single-op int8 model (CONV_2D 3x3 32->32 on 12x12x32 SAME,
DEPTHWISE_CONV_2D 3x3 on 16x16x64 SAME, FULLY_CONNECTED 512->128) and each
density, the random int8 filter is pruned to that density and the same
weights run as the builtin op (dense kernel) and as the FreeML custom op in
every format the op may use (bitmask and delta, or bitmask and CSR), the
format forced, not chosen by size. With --value-bits 4 the weights are
first cut to -8..7 and the formats store int4 values; with 2, to -2..2, and
bitmask stores 2-bit values (the only format that takes them). Every run's
output must equal the dense run's, and the dense run's the host runtime's. Prints per run the op's
instructions, per entry step and against the dense kernel, then per op
and format the least-squares fit instructions = a * entry steps + b *
output elements, and the same with the kernel's work beside the entries
(SIDE_STEPS) as a third term.

Entry steps are the entries times the output elements of their filter:
the kernels' loop iterations (a padded tap skips only the multiply); for
the dense kernel, every weight counts. Delta entries include fillers.
"""

from __future__ import annotations

import copy
import sys
import tempfile
from pathlib import Path
from typing import Callable, Dict, List

from absl import app, flags

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from bench.common import REPO, print_table, random_input  # noqa: E402
from converter import c_array, sparse_format, sparse_rewrite, tflite_graph  # noqa: E402
from tests.graphgen.builder import Graph, build  # noqa: E402
from tests.graphgen.layers import Net  # noqa: E402
from tests.graphgen.sparse import OTHER_FORMAT, filtered_ops, prune, sparsify  # noqa: E402
from tflm_freeml import firmware  # noqa: E402
from tflm_freeml.intermittent import IntermittentRuntime  # noqa: E402
from tflm_freeml.runtime import Runtime  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_list("ops", ["CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"], "Ops to measure.")
flags.DEFINE_list("densities", ["1.0", "0.5", "0.25", "0.1", "0.05", "0.02"],
                  "Fractions of the filter weights kept.")
flags.DEFINE_integer("seed", 0, "Seed of the weights, the pruning and the input.")
flags.DEFINE_enum("value-bits", "8", ["8", "4", "2"],
                  "Values of the sparse formats: int8, int4 (weights cut to -8..7) or 2-bit "
                  "(weights cut to -2..2; bitmask only).")

# The single-op models: a conv and a depthwise conv whose activations fit the
# board's SRAM with room to spare, a fully connected layer whose dense
# weights (64 KB) fit its flash.
MODELS: Dict[str, Callable[[Net], None]] = {
    "CONV_2D": lambda n: n.output(n.conv(n.input((1, 12, 12, 32)), 32, k=3)),
    "DEPTHWISE_CONV_2D": lambda n: n.output(n.depthwise(n.input((1, 16, 16, 64)), 1, k=3)),
    "FULLY_CONNECTED": lambda n: n.output(n.fc(n.input((1, 512)), 128, per_channel=True)),
}
# The converter's default tile budgets (python -m converter --max-tile-macs,
# --max-tile-bytes): model_data.h states the intermittent sizes for them.
MAX_TILE_MACS, MAX_TILE_BYTES = 16384, 1024
WORK = REPO / "out" / "bench" / "sparse_kernels"


def write_model_dir(model: bytes, out: Path, label: str) -> Path:
  """model.tflite and model_data.{c,h} for `model` as is: the converter would
  re-encode the filter in its smallest format (and refuses a model with the
  custom ops, which TFLM lacks), so this writes the firmware's input itself,
  with the sizes the runtime counts."""
  runtime = Runtime(model)
  plan = IntermittentRuntime(model, MAX_TILE_MACS, MAX_TILE_BYTES)
  sizes = c_array.FirmwareSizes.of(runtime, plan.memory.sram_bytes, plan.memory.nvm_bytes,
                                   MAX_TILE_MACS, MAX_TILE_BYTES,
                                   tflite_graph.check_int8(model).macs,
                                   sparse_int4_ops=sparse_rewrite.value_ops(
                                       model, sparse_format.INT4),
                                   sparse_int2_ops=sparse_rewrite.value_ops(
                                       model, sparse_format.INT2))
  source, header = c_array.render(model, f"bench/sparse_kernels.py {label}", sizes)
  out.mkdir(parents=True, exist_ok=True)
  (out / "model.tflite").write_bytes(model)
  (out / "model_data.c").write_text(source)
  (out / "model_data.h").write_text(header)
  return out


def entry_positions(code: int, rows: np.ndarray) -> List[np.ndarray]:
  """Per filter, the positions of the entries the format stores (every
  position for dense; delta fillers included, read back from the encoding)."""
  filters, depth = rows.shape
  if code == sparse_format.DENSE:
    return [np.arange(depth)] * filters
  if code & ~sparse_format.VALUE_FLAGS != sparse_format.DELTA:
    return [np.flatnonzero(row) for row in rows]
  blob = np.frombuffer(sparse_format.encode(code, rows), np.uint8)
  counts = blob[:2 * filters].view("<u2").astype(int)
  steps = blob[2 * filters:2 * filters + counts.sum()].astype(int) + 1
  starts = np.concatenate([[0], np.cumsum(counts)])
  return [np.cumsum(steps[starts[f]:starts[f + 1]]) - 1 for f in range(filters)]


# Per op, the kernel's work beside the entries that varies with the pattern
# of the non-zeros (kernels/sparse/), counted by entry_counts as side steps.
SIDE_STEPS = {
    "CONV_2D": "entries that move the window to a new kernel tap",
    "DEPTHWISE_CONV_2D": "taps the window carries over, up to the filter's last entry",
    "FULLY_CONNECTED": "non-empty 32-position mask words (bitmask only)",
}


def entry_counts(graph: Graph, op_name: str, code: int) -> Dict[str, int]:
  """What the kernel iterates for the op's filter in format `code`.

  entries: E of the format; steps: entries times the output elements of
  their filter (the loop iterations; a padded tap skips only the multiply);
  side: the SIDE_STEPS of the op, times the output elements of their filter.
  """
  (op, _), = filtered_ops(graph)
  weights = graph.tensors[op.inputs[1]].data
  rows = sparse_format.filter_rows(op_name, weights)
  filters, depth = rows.shape
  per_filter = int(np.prod(graph.tensors[op.outputs[0]].shape)) // filters
  positions = entry_positions(code, rows)
  if op_name == "FULLY_CONNECTED":
    bitmask = code & ~sparse_format.VALUE_FLAGS == sparse_format.BITMASK
    side = sum(len(np.unique(p // 32)) for p in positions) if bitmask else 0
  else:  # position p is at tap p // channels; the window starts at tap 0
    channels = depth // int(np.prod(weights.shape[1:3]))
    taps = [p // channels for p in positions]
    side = (sum(int(np.count_nonzero(np.diff(t, prepend=0))) for t in taps)
            if op_name == "CONV_2D" else sum(int(t[-1]) for t in taps if len(t)))
  entries = sum(len(p) for p in positions)
  return {"entries": entries, "steps": per_filter * entries, "side": per_filter * side,
          "nonzeros": int(np.count_nonzero(rows)), "weights": rows.size}


def run_on_device(model: bytes, label: str, x: bytes) -> firmware.FirmwareRun:
  model_dir = write_model_dir(model, WORK / label, label)
  with tempfile.TemporaryDirectory(prefix="sparse_kernels_") as tmp:
    elf = firmware.build(model_dir, Path(tmp) / f"{label}.elf", plain=True)
    result = firmware.run(elf, x)
  if result.returncode != 0 or result.output is None or len(result.ops) != 1:
    raise RuntimeError(f"{label}: the firmware failed (status {result.returncode}):\n"
                       f"{result.log}")
  return result


def check_output(label: str, got: bytes, expected: bytes, source: str) -> None:
  """Raises, with the first differing position, unless the bytes are equal."""
  if got == expected:
    return
  if len(got) != len(expected):
    raise AssertionError(f"{label}: {len(got)} output bytes, {source} {len(expected)}")
  a, b = np.frombuffer(got, np.int8), np.frombuffer(expected, np.int8)
  first = int(np.flatnonzero(a != b)[0])
  raise AssertionError(f"{label}: output differs from {source} in {np.count_nonzero(a != b)} "
                       f"bytes; first at {first}: got {a[first]}, expected {b[first]}")


# --value-bits -> (what it adds to a format code, how weights are cut to its range).
_VALUES = {"8": (0, None),
           "4": (sparse_format.INT4, lambda w: w >> 4),
           "2": (sparse_format.INT2, lambda w: np.fmod(w, 3))}


def _sparse_formats(op_name: str) -> List[int]:
  """The sparse format codes measured for the op at --value-bits."""
  values, _ = _VALUES[FLAGS["value-bits"].value]
  others = [] if values == sparse_format.INT2 else [OTHER_FORMAT[op_name] | values]
  return [sparse_format.BITMASK | values] + others


def measure_op(op_name: str, densities: List[float]) -> List[Dict[str, object]]:
  """One row per density and format: counts, instructions, output check."""
  n = Net(np.random.default_rng([FLAGS.seed, list(MODELS).index(op_name)]))
  MODELS[op_name](n)
  (x_index,) = n.graph.inputs
  x = random_input(n.graph.tensors[x_index].shape, np.int8,
                   np.random.default_rng([FLAGS.seed, 99]))
  outputs = int(np.prod(n.graph.tensors[n.graph.outputs[0]].shape))
  _, cut = _VALUES[FLAGS["value-bits"].value]
  if cut is not None:
    for op, _ in filtered_ops(n.graph):
      weights = n.graph.tensors[op.inputs[1]]
      weights.data = cut(weights.data).astype(np.int8)
  formats = [sparse_format.DENSE] + _sparse_formats(op_name)
  rows = []
  for density in densities:
    graph = copy.deepcopy(n.graph)
    prune(graph, density, np.random.default_rng([FLAGS.seed, int(round(density * 1000))]))
    host = Runtime(build(graph)).invoke([x])[0].tobytes()
    dense_run = None
    for code in formats:
      name = sparse_format.FORMAT_NAMES[code]
      label = f"{op_name.lower()}_d{density:g}_{name}"
      print(f"{label}: building and running", file=sys.stderr)
      model = build(graph if code == sparse_format.DENSE else sparsify(graph, [code]))
      result = run_on_device(model, label, x.tobytes())
      if dense_run is None:
        check_output(label, result.output, host, "the host runtime's")
        dense_run = result
      else:
        check_output(label, result.output, dense_run.output, "the dense run's")
      counts = entry_counts(graph, op_name, code)
      rows.append({"op": op_name, "density": density, "format": name, **counts,
                   "outputs": outputs, "instructions": result.ops[0].instructions,
                   "dense instructions": dense_run.ops[0].instructions})
  return rows


def fit(rows: List[Dict[str, object]], terms: List[str]) -> Dict[str, float]:
  """Least squares instructions = sum of coefficient * count over `terms`,
  and the worst relative residual."""
  design = np.array([[r[t] for t in terms] for r in rows], float)
  measured = np.array([r["instructions"] for r in rows], float)
  coefficients, *_ = np.linalg.lstsq(design, measured, rcond=None)
  residual = measured - design @ coefficients
  return {**dict(zip(terms, coefficients, strict=True)),
          "worst": float(np.max(np.abs(residual) / measured))}


def main(argv: List[str]) -> None:
  del argv
  unknown = [op for op in FLAGS.ops if op not in MODELS]
  if unknown:
    raise app.UsageError(f"--ops: unknown {', '.join(unknown)}; choose from {', '.join(MODELS)}")
  densities = [float(d) for d in FLAGS.densities]
  if any(not 0 < d <= 1 for d in densities):
    raise app.UsageError(f"--densities must be in (0, 1], got {', '.join(FLAGS.densities)}")
  measured = [row for op in FLAGS.ops for row in measure_op(op, densities)]

  print(f"\n## Instructions of the op on the Cortex-M4 ({firmware.BOARD}; DSP kernels, plain "
        "mode)\n")
  print("Every sparse run's output equals the dense run's, and the dense run's the host "
        "runtime's. Entry steps: entries x output elements of their filter.\n")
  print_table([{
      "op": r["op"], "density": f"{r['density']:g}",
      "non-zeros": f"{r['nonzeros']:,} / {r['weights']:,}", "format": r["format"],
      "entries": f"{r['entries']:,}", "entry steps": f"{r['steps']:,}",
      "instructions": f"{r['instructions']:,}",
      "per entry step": f"{r['instructions'] / max(r['steps'], 1):.2f}",
      "vs dense": f"{r['instructions'] / r['dense instructions']:.3f}"} for r in measured])

  print("\n## Fit per op and format: instructions = a * entry steps + b * output elements"
        "\n\nand instructions = a * entry steps + c * side steps + b * output elements, the "
        "side steps per output element being:\n")
  for op in FLAGS.ops:
    print(f"- {op}: {SIDE_STEPS[op]}")
  print()
  rows = []
  for op in FLAGS.ops:
    for name in (sparse_format.FORMAT_NAMES[code] for code in _sparse_formats(op)):
      runs = [r for r in measured if r["op"] == op and r["format"] == name]
      two = fit(runs, ["steps", "outputs"])
      row = {"op": op, "format": name, "output elements": f"{runs[0]['outputs']:,}",
             "a": f"{two['steps']:.3f}", "b": f"{two['outputs']:.1f}",
             "worst residual": f"{100 * two['worst']:.2f}%",
             "with side steps: a, c, b": "-", "worst residual (side steps)": "-"}
      if any(r["side"] for r in runs) and len(runs) > 3:
        three = fit(runs, ["steps", "side", "outputs"])
        row["with side steps: a, c, b"] = (f"{three['steps']:.3f}, {three['side']:.2f}, "
                                           f"{three['outputs']:.1f}")
        row["worst residual (side steps)"] = f"{100 * three['worst']:.2f}%"
      rows.append(row)
  print_table(rows)


if __name__ == "__main__":
  app.run(main)
