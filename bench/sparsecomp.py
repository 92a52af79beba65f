"""Benchmark: SparseComp's stored size against test accuracy, at several
targets, for the CIFAR-10 "S" network of the FreeML paper, the MLPerf Tiny
ResNet-8 (CIFAR-10) and DS-CNN (speech commands); beside them the same model
dense int8 and with TFLM's own compression (weight clustering + LUT at 4 and
2 bits, bench/tflm_lut.py).

One search per model, `python -m converter --target-kb SMALLEST
--checkpoint-kb OTHERS` through the same pipeline (converter.pipeline.convert):
the larger targets are the models it saved on its way, converted as they are
(no final retraining), so one search gives the curve. Bytes are the emitted
models'; accuracy is the int8 model run by the FreeML runtime on the test
split (TFLM agrees byte for byte on reference.tflite; counted too).

The dense row and the search start from the model fine-tuned as the LUT
models are (bench/tflm_lut.py at bits 8), so that every variant has had the
same retraining on this copy of the data: the MLPerf ResNet-8 gains about 9
points from it on the JPEG test images, which --max-drop would otherwise let
the search spend (--nofinetuned-start: the model as it is).

  FREEML_DATA_DIR=../shared/datasets .venv/bin/python bench/sparsecomp.py \\
      [--models s,ic,kws] [--round-steps N] [--max-eval -1] [--weight-bits 8]
      [--distillation 0]

The S network is trained by bench/cifar_s_net.py (out/bench/cifar_s.h5).
Long: hours for all three models on two cores.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from absl import app, flags

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import REPO, SHARED, print_table  # noqa: E402
from converter.errors import ConverterError  # noqa: E402


@dataclasses.dataclass(frozen=True)
class BenchModel:
  path: Path
  data: str
  targets_kb: Sequence[float]
  # Steps per round when --round-steps is not given: the S searches of
  # docs/sparsecomp.md ran rounds of 1,000 steps, the others 300.
  round_steps: int = 300


BENCH_MODELS: Dict[str, BenchModel] = {
    # float32 929,320 B: 95x smaller is 9.55 KB.
    "s": BenchModel(REPO / "out" / "bench" / "cifar_s.h5", "cifar10", (48, 24, 16, 12, 9.5),
                    round_steps=1000),
    "ic": BenchModel(SHARED / "models" / "ic_resnet8.h5", "cifar10", (48, 32, 24, 16)),
    "kws": BenchModel(SHARED / "models" / "kws_dscnn.h5", "speech_commands", (16, 12, 8)),
}

FLAGS = flags.FLAGS
flags.DEFINE_list("models", list(BENCH_MODELS), "Models: " + ", ".join(BENCH_MODELS))
flags.DEFINE_list("targets", [], "Override the targets of every model (KB), e.g. 24,12: one "
                  "search to the smallest, the others saved on its way.")
flags.DEFINE_integer("round-steps", None, "SparseComp optimizer steps per round (default: the "
                     "model's, S 1000, the others 300).")
flags.DEFINE_integer("final-steps", 1500, "SparseComp optimizer steps of the last retraining.")
flags.DEFINE_float("max-drop", 1.0, "SparseComp's allowed validation accuracy drop (points).")
flags.DEFINE_enum("weight-bits", "8", ["8", "4", "2"],
                  "SparseComp's weight bits (4: int4 values, 2: 2-bit values; python -m converter "
                  "--weight-bits).")
flags.DEFINE_float("distillation", 0.0,
                   "Weight of the start model's softened outputs in SparseComp's retraining "
                   "(python -m converter --distillation) and in the LUT models' fine-tuning.")
flags.DEFINE_integer("max-eval", -1, "Test samples to evaluate (-1: the whole test split).")
flags.DEFINE_list("lut-bits", ["8", "4", "2"],
                  "TFLM LUT index widths to compare (8: the dense int8 model fine-tuned as the "
                  "clustered ones are, the control; empty: none).")
flags.DEFINE_integer("lut-finetune-steps", 1500,
                     "Fine-tuning steps after clustering, and of the dense start.")
flags.DEFINE_boolean("finetuned-start", True,
                     "Start the dense row and the search from the model fine-tuned like the "
                     "LUT models (bits 8), rather than from the model as it is.")
flags.DEFINE_string("out", str(REPO / "out" / "bench" / "sparsecomp"), "Output folder.")


@dataclasses.dataclass
class Point:
  """One model variant: its bytes and int8 test accuracy."""
  model: str
  variant: str
  weight_bytes: Optional[int]
  file_bytes: Optional[int]
  accuracy: Optional[float]
  float32_bytes: int
  note: str = ""


def _convert(spec: BenchModel, out: Path, model_path: Optional[Path] = None,
             target_kb: Optional[float] = None, checkpoint_kb: Sequence[float] = ()):
  from converter.pipeline import Options, convert
  round_steps = FLAGS["round-steps"].value
  return convert(Options(
      model_path=model_path or spec.path, out_dir=out, data=spec.data,
      max_eval=FLAGS["max-eval"].value, target_kb=target_kb, max_drop=FLAGS["max-drop"].value,
      round_steps=spec.round_steps if round_steps is None else round_steps,
      final_steps=FLAGS["final-steps"].value,
      checkpoint_kb=tuple(checkpoint_kb), weight_bits=int(FLAGS["weight-bits"].value),
      distillation=FLAGS.distillation))


def _float32_bytes(path: Path) -> int:
  import tf_keras
  return 4 * int(tf_keras.models.load_model(path, compile=False).count_params())


def _point(name: str, variant: str, report: dict, float32_bytes: int) -> Point:
  e = report["evaluation"]
  note = ""
  if e and e["tflm_compared"]:
    note = f"TFLM identical {e['tflm_identical']}/{e['tflm_compared']}"
  return Point(name, variant, report["model"]["weight_bytes"], report["model"]["file_bytes"],
               e["int8_accuracy"] if e else None, float32_bytes, note)


def _finetuned(name: str, spec: BenchModel, dataset, out: Path) -> Path:
  """The dense model after the LUT baseline's fine-tuning, saved as .h5."""
  import tf_keras

  from bench import tflm_lut
  from converter.model_loading import save_h5
  path = out / f"{name}-finetuned.h5"
  print(f"[bench] {name}: fine-tuning the dense start", file=sys.stderr, flush=True)
  model = tflm_lut.finetuned_model(tf_keras.models.load_model(spec.path, compile=False),
                                   dataset, tflm_lut.DENSE_BITS,
                                   FLAGS["lut-finetune-steps"].value, seed=0)
  save_h5(model, path)
  return path


def _lut_points(name: str, spec: BenchModel, dataset, float32_bytes: int) -> List[Point]:
  import tf_keras

  from bench import tflm_lut
  points = []
  for bits in (int(b) for b in FLAGS["lut-bits"].value):
    if bits == tflm_lut.DENSE_BITS and FLAGS["finetuned-start"].value:
      continue  # the dense row is this model already
    model = tf_keras.models.load_model(spec.path, compile=False)
    result = tflm_lut.lut_baseline(model, dataset, bits, FLAGS["lut-finetune-steps"].value,
                                   seed=0, max_eval=FLAGS["max-eval"].value,
                                   distillation=FLAGS.distillation)
    variant = "dense int8, fine-tuned" if bits == 8 else f"TFLM LUT {bits}-bit"
    points.append(Point(name, variant, result.weight_bytes, result.file_bytes,
                        result.test_accuracy, float32_bytes,
                        f"arena {result.arena_bytes:,} B"))
  return points


def _bench_model(name: str, spec: BenchModel, out: Path) -> List[Point]:
  """The dense model (fine-tuned, by default), then one search from it to the
  smallest target that saves the model at the larger ones on its way
  (converted as they are, without the final retraining the smallest gets),
  then the LUT baselines."""
  from converter import datasets
  from converter.pipeline import checkpoint_path
  float32_bytes = _float32_bytes(spec.path)
  dataset = datasets.load(spec.data, training=True)  # the fine-tuning's and the LUT models'
  start_path = (_finetuned(name, spec, dataset, out) if FLAGS["finetuned-start"].value
                else spec.path)
  dense = _point(name, "dense int8", _convert(spec, out / f"{name}-dense", model_path=start_path),
                 float32_bytes)
  if FLAGS["finetuned-start"].value:
    dense.note = f"fine-tuned {FLAGS['lut-finetune-steps'].value} steps; {dense.note}"
  points = [dense]
  targets = sorted({float(t) for t in FLAGS.targets} or set(spec.targets_kb), reverse=True)
  bits = FLAGS["weight-bits"].value
  label = f"SparseComp int{bits}" if bits != "8" else "SparseComp"
  suffix = f"-int{bits}" if bits != "8" else ""
  search_dir = out / f"{name}-{targets[-1]:g}kb{suffix}"
  start = time.monotonic()
  try:
    report = _convert(spec, search_dir, model_path=start_path, target_kb=targets[-1],
                      checkpoint_kb=targets[:-1])
    last = _point(name, f"{label} {targets[-1]:g} KB", report, float32_bytes)
    last.note += f"; search {time.monotonic() - start:.0f} s"
  except ConverterError as e:
    last = Point(name, f"{label} {targets[-1]:g} KB", None, None, None, float32_bytes, str(e))
  print(f"[bench] {name} {targets[-1]:g} KB: {last}", file=sys.stderr, flush=True)
  for kb in targets[:-1]:
    saved = checkpoint_path(search_dir, kb)
    if not saved.exists():
      points.append(Point(name, f"{label} {kb:g} KB", None, None, None, float32_bytes,
                          "not passed by the search"))
      continue
    point = _point(name, f"{label} {kb:g} KB",
                   _convert(spec, out / f"{name}-{kb:g}kb{suffix}", model_path=saved),
                   float32_bytes)
    point.note += "; checkpoint"
    points.append(point)
    print(f"[bench] {name} {kb:g} KB: {point}", file=sys.stderr, flush=True)
  return points + [last] + _lut_points(name, spec, dataset, float32_bytes)


def _equal_accuracy(points: List[Point]) -> List[str]:
  """For each LUT point, the smallest SparseComp model at least as accurate."""
  lines = []
  sparse = [p for p in points if p.variant.startswith("SparseComp") and p.accuracy is not None]
  for lut in (p for p in points if p.variant.startswith("TFLM LUT")):
    better = [p for p in sparse if p.accuracy >= lut.accuracy]
    if not better:
      lines.append(f"{lut.model}: no SparseComp point reaches {lut.variant}'s accuracy "
                   f"{100 * lut.accuracy:.2f}%")
      continue
    best = min(better, key=lambda p: p.file_bytes)
    lines.append(f"{lut.model}: {best.variant} ({100 * best.accuracy:.2f}%) is "
                 f"{lut.file_bytes / best.file_bytes:.2f}x smaller in file bytes and "
                 f"{lut.weight_bytes / best.weight_bytes:.2f}x in weight bytes than "
                 f"{lut.variant} ({100 * lut.accuracy:.2f}%)")
  return lines


def _row(p: Point, dense: Point) -> Dict[str, object]:
  def ratio(a: Optional[int], b: Optional[int]) -> str:
    return f"{a / b:.1f}x" if a and b else "-"
  return {
      "model": p.model, "variant": p.variant,
      "weights B": f"{p.weight_bytes:,}" if p.weight_bytes else "-",
      "file B": f"{p.file_bytes:,}" if p.file_bytes else "-",
      "x f32 (weights)": ratio(p.float32_bytes, p.weight_bytes),
      "x f32 (file)": ratio(p.float32_bytes, p.file_bytes),
      "x dense int8 (weights)": ratio(dense.weight_bytes, p.weight_bytes),
      "test acc": f"{100 * p.accuracy:.2f}%" if p.accuracy is not None else "-",
      "vs dense": (f"{100 * (p.accuracy - dense.accuracy):+.2f}" if p.accuracy is not None
                   and dense.accuracy is not None else "-"),
      "note": p.note,
  }


def main(argv: List[str]) -> None:
  del argv
  from converter.native_output import import_tensorflow_quietly
  import_tensorflow_quietly()
  out = Path(FLAGS.out)
  out.mkdir(parents=True, exist_ok=True)
  points: List[Point] = []
  for name in FLAGS.models:
    spec = BENCH_MODELS[name]
    if not spec.path.exists():
      hint = ("train it: .venv/bin/python bench/cifar_s_net.py" if name == "s"
              else f"set FREEML_SHARED_DIR ({SHARED})")
      print(f"skipping {name}: {spec.path} not found ({hint})", file=sys.stderr)
      continue
    points += _bench_model(name, spec, out)
  rows = []
  for name in dict.fromkeys(p.model for p in points):
    model_points = [p for p in points if p.model == name]
    dense = next(p for p in model_points if p.variant == "dense int8")
    rows += [_row(p, dense) for p in model_points]
  print_table(rows)
  print()
  for name in dict.fromkeys(p.model for p in points):
    for line in _equal_accuracy([p for p in points if p.model == name]):
      print(line)
  (out / "results.json").write_text(json.dumps([dataclasses.asdict(p) for p in points],
                                               indent=2) + "\n")


if __name__ == "__main__":
  app.run(main)
