"""Benchmark: gNet (one head shared by every exit) against per-exit branches
and against no exit, for the MLPerf Tiny DS-CNN (speech commands), ResNet-8
(CIFAR-10) and the FreeML paper's CIFAR-10 "S" network.

Every variant trains on the same frozen network, the same exits (`--exits
auto`), the same train split, steps and loss, and keeps its weights at the
lowest validation loss:
  gNet, paper recipe      global average pooling, uniform exit draw,
                          cross-entropy;
  + falling exit draw     early exits drawn more often;
  + distillation          the full network's softened output in the loss;
  + feature scaling       each exit's features divided by their RMS (all
                          three cost no device memory);
  + max pooling too       global average and global maximum side by side
                          (twice the head; the converter's default);
  gNet, grid 2            the same at 2x2 cells (8x the paper's head);
  gNet, converted head    the model's head in bench.common.GNET_HEADS
                          (for CIFAR-10: two linear layers, int4 first-
                          layer weights trained through their rounding),
                          when it is not the default;
  per-exit linear         one linear head per exit on the default's features
                          (gNet's bytes, no sharing across exits);
  per-exit branches       BranchyNet style: per exit, a hidden ReLU layer of
                          --branch-hidden units, then the classes, on the
                          default's features (1x1, average and maximum) and,
                          larger, on features average-pooled to
                          --branch-grid cells.
Accuracies are float, on the test split, at each exit. One gNet per model
is also converted (python -m converter --exits auto, with the model's
head in bench.common.GNET_HEADS) and run by the FreeML runtime: its
int8 exit accuracies, head bytes and MACs come from that model.

Bytes: gNet stores the head (int8 or int4 weights, int32 bias) and keeps
int32 accumulators (one vector of classes or hidden units per exit, in
NVM); a branch stores its
two int8 layers and int32 biases, and to answer at any moment a device
evaluates each branch when its exit completes, keeping its hidden layer as
scratch and its logits. Under an energy budget (a fraction of the full
network's MACs) an answer comes from the last exit the budget reaches,
branches paying their own MACs; without exits there is no answer below
100%.

  FREEML_DATA_DIR=../shared/datasets .venv/bin/python bench/gnet.py [--models kws,ic,s]
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np
from absl import app, flags

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import branches  # noqa: E402
from bench.common import GNET_HEADS, REPO, SHARED, GnetHead, print_table  # noqa: E402

MODELS = {
    "kws": (SHARED / "models" / "kws_dscnn.h5", "speech_commands"),
    "ic": (SHARED / "models" / "ic_resnet8.h5", "cifar10"),
    "s": (REPO / "out" / "bench" / "cifar_s.h5", "cifar10"),
}

FLAGS = flags.FLAGS
flags.DEFINE_list("models", list(MODELS), "Models: " + ", ".join(MODELS))
flags.DEFINE_integer("steps", 10000, "Optimizer steps of every head and branch.")
flags.DEFINE_integer("branch-grid", 2, "Per-exit branches: pooling grid.")
flags.DEFINE_integer("branch-hidden", 64, "Per-exit branches: hidden ReLU units.")
flags.DEFINE_list("budgets", ["0.25", "0.5", "0.75", "1.0"],
                  "Energy budgets per inference, as fractions of the full network's MACs.")
flags.DEFINE_integer("max-eval", -1, "Test samples for the int8 conversion (-1: all).")
flags.DEFINE_string("out", str(REPO / "out" / "bench" / "gnet"), "Output folder.")


@dataclasses.dataclass
class Variant:
  name: str
  accuracy: List[float]  # per exit, float, test split
  parameter_bytes: int
  state_bytes: int
  branch_macs: List[int]  # MACs each exit's answer costs beyond the network


@dataclasses.dataclass
class Features:
  """One pooling's exit features (per exit, (N, features_k)) on the three
  splits, with what every head trains and is scored on."""
  train: List[np.ndarray]
  validation: List[np.ndarray]
  test: List[np.ndarray]
  teacher: np.ndarray  # the network's outputs on the train split
  labels: Dict[str, np.ndarray]  # per split
  classes: int


def _per_exit(features: Dict[tuple, Features], grid: int, kinds: Sequence[str]) -> Features:
  """Features pooled per exit as `kinds` says, from the single-kind ones."""
  picked = [features[grid, kind] for kind in kinds]
  first = picked[0]
  return Features(*([p.train[k] for k, p in enumerate(picked)],
                    [p.validation[k] for k, p in enumerate(picked)],
                    [p.test[k] for k, p in enumerate(picked)]),
                  first.teacher, first.labels, first.classes)


def _gnet_variants(f: Features, recipes) -> List[Variant]:
  from converter.gnet import head
  variants = []
  exits = len(f.train)
  for name, changes in recipes:
    config = head.HeadConfig(steps=FLAGS.steps, **changes)
    trained = head.train_head(f.teacher, f.train, f.labels["train"], config,
                              (f.validation, f.labels["validation"]))
    features = sum(x.shape[1] for x in f.train)
    units = config.rank or f.classes  # int32 accumulators per exit
    parameters = (features * units * config.weight_bits + 7) // 8 + 4 * units
    if config.rank:
      parameters += config.rank * f.classes + 4 * f.classes
    variants.append(Variant(name, head.exit_accuracies(trained, f.test, f.labels["test"]),
                            parameters, 4 * units * exits, [0] * exits))
  return variants


def _per_exit_linear(f: Features) -> Variant:
  from converter.gnet import head
  config = head.HeadConfig(steps=FLAGS.steps, exit_weights="uniform")
  accuracy = []
  for train, validation, test in zip(f.train, f.validation, f.test, strict=True):
    trained = head.train_head(f.teacher, [train], f.labels["train"], config,
                              ([validation], f.labels["validation"]))
    accuracy.append(head.exit_accuracies(trained, [test], f.labels["test"])[0])
  features = sum(x.shape[1] for x in f.train)
  return Variant("per-exit linear heads", accuracy,
                 features * f.classes + 4 * f.classes * len(f.train), 4 * f.classes,
                 [x.shape[1] * f.classes for x in f.train])


def _branches(f: Features, pooling: str) -> Variant:
  from converter.gnet import head
  hidden, classes = FLAGS["branch-hidden"].value, f.classes
  config = head.HeadConfig(steps=FLAGS.steps)
  accuracy, parameters, macs = [], 0, []
  for train, validation, test in zip(f.train, f.validation, f.test, strict=True):
    predict = branches.train_branch(train, f.teacher, f.labels["train"], hidden, config,
                                    (validation, f.labels["validation"]))
    accuracy.append(float(np.mean(np.argmax(predict(test), -1) == f.labels["test"])))
    parameters += train.shape[1] * hidden + hidden * classes + 4 * (hidden + classes)
    macs.append(train.shape[1] * hidden + hidden * classes)
  scratch = max(x.shape[1] for x in f.train) + hidden  # int8 pooled input + hidden
  return Variant(f"per-exit branches ({pooling}, {hidden} hidden)", accuracy, parameters,
                 scratch + 4 * classes, macs)


def _converted(name: str, path: Path, data: str, out: Path) -> dict:
  from converter.pipeline import Options, convert
  h = GNET_HEADS[name]
  return convert(Options(model_path=path, out_dir=out, data=data, exits="auto",
                         exit_grid=h.grid, exit_pool=h.pooling, exit_rank=h.rank,
                         exit_weight_bits=h.weight_bits, exit_distillation=h.distillation,
                         exit_steps=FLAGS.steps, max_eval=FLAGS["max-eval"].value,
                         tflm_samples=200))


def _budget_accuracy(variant: Variant, exit_macs: Sequence[int], total_macs: int,
                     full_accuracy: float, budget: float) -> str:
  """Accuracy of the answer the budget reaches (the full network at 100%)."""
  if budget >= 1.0:
    return f"{100 * full_accuracy:.1f}%"
  spent, reached = 0, None
  for k, macs in enumerate(exit_macs):
    spent = macs + sum(variant.branch_macs[:k + 1])
    if spent <= budget * total_macs:
      reached = k
  if reached is None:
    return "no answer"
  return f"{100 * variant.accuracy[reached]:.1f}% (exit {reached})"


def _bench_model(name: str, path: Path, data: str, out: Path) -> Dict[str, object]:
  import tf_keras

  from converter import datasets
  from converter.gnet import exits as exit_points
  from converter.gnet import head
  start = time.monotonic()
  dataset = datasets.load(data, training=True)
  model = tf_keras.models.load_model(path, compile=False)
  names = exit_points.exit_points(model, "auto")
  shape = tuple(int(d) for d in model.inputs[0].shape[1:])
  x_train, y_train = dataset.training()
  x_train = datasets.fit_to_shape(x_train, shape, data)
  x_test = datasets.fit_to_shape(dataset.x_test, shape, data)
  y_test = dataset.y_test
  converted = GNET_HEADS[name]
  configs = sorted({(1, "avg"), (1, "avg+max"), (2, "avg+max"), (2, "avg"),
                    (FLAGS["branch-grid"].value, "avg")} |
                   {(converted.grid, kind)
                    for kind in head.per_exit_poolings(converted.pooling, len(names))})
  # One pass over the data for every pooling: the exit features of each
  # config are consecutive outputs after the network's own.
  outputs = [model.outputs[0]]
  for grid, pooling in configs:
    tag = f"_{grid}_{pooling.replace('+', '_')}"
    outputs += head.exit_features(model, names, grid, pooling, tag).outputs[1:]
  extractor = tf_keras.Model(model.inputs, outputs)
  teacher, train_all = head.compute_features(extractor, x_train)
  _, val_all = head.compute_features(
      extractor, datasets.fit_to_shape(dataset.x_validation, shape, data))
  test_out, test_all = head.compute_features(extractor, x_test)
  exits = len(names)
  classes = teacher.reshape(len(teacher), -1).shape[1]
  labels = {"train": y_train, "validation": dataset.y_validation, "test": y_test}
  # The exit features of config i are outputs i * exits .. (i + 1) * exits.
  features = {config: Features(*(a[i * exits:(i + 1) * exits]
                                 for a in (train_all, val_all, test_all)),
                               teacher, labels, classes)
              for i, config in enumerate(configs)}
  full_float = float(np.mean(np.argmax(test_out.reshape(len(x_test), -1), -1) == y_test))
  print(f"[bench] {name}: exits {names}, features in {time.monotonic() - start:.0f} s",
        file=sys.stderr, flush=True)
  free = dict(exit_weights="uniform", distillation=0.0, feature_scaling=False)
  variants = _gnet_variants(features[1, "avg"], [
      ("gNet, paper recipe", free),
      ("+ falling exit draw", {**free, "exit_weights": "falling"}),
      ("+ distillation", {**free, "exit_weights": "falling", "distillation": 0.5}),
      ("+ feature scaling", {})])
  variants += _gnet_variants(features[1, "avg+max"], [("+ max pooling too (default)", {})])
  variants += _gnet_variants(features[2, "avg+max"], [("gNet, grid 2", {})])
  if converted != GnetHead(1, "avg+max"):
    variants += _gnet_variants(
        _per_exit(features, converted.grid, head.per_exit_poolings(converted.pooling, exits)),
        [(f"gNet, converted head ({converted.describe()})",
          {"rank": converted.rank, "weight_bits": converted.weight_bits,
           "distillation": converted.distillation})])
  grid = FLAGS["branch-grid"].value
  variants += [_per_exit_linear(features[1, "avg+max"]),
               _branches(features[1, "avg+max"], "1x1 avg+max"),
               _branches(features[grid, "avg"], f"{grid}x{grid} avg")]
  print(f"[bench] {name}: heads trained, converting ({time.monotonic() - start:.0f} s)",
        file=sys.stderr, flush=True)
  report = _converted(name, path, data, out / name)
  g = report["gnet"]
  total_macs = report["model"]["macs"]
  exit_macs = [round(e["macs_fraction"] * total_macs) for e in g["exits"]]
  return {"model": name, "exits": names, "classes": classes, "full_float": full_float,
          "full_int8": g["test"]["full_accuracy"], "total_macs": total_macs,
          "exit_macs": exit_macs, "int8": g, "variants": [dataclasses.asdict(v) for v in variants],
          "seconds": time.monotonic() - start}


def _tables(results: List[Dict[str, object]]) -> None:
  budgets = [float(b) for b in FLAGS.budgets]
  rows = []
  for r in results:
    int8 = r["int8"]
    converted = int8["head_bytes"] + int8["accumulator_bytes"]
    rows.append({"model": r["model"],
                 "variant": f"gNet int8, FreeML runtime ({GNET_HEADS[r['model']].describe()})",
                 "accuracy per exit": ", ".join(f"{100 * e['int8_test_accuracy']:.1f}%"
                                                for e in int8["exits"]),
                 "exit params B": f"{int8['head_bytes']:,}",
                 "state B": f"{int8['accumulator_bytes']:,}", "bytes / gNet int8": "1.00x"})
    for v in r["variants"]:
      ratio = (v["parameter_bytes"] + v["state_bytes"]) / converted
      rows.append({"model": r["model"], "variant": v["name"],
                   "accuracy per exit": ", ".join(f"{100 * a:.1f}%" for a in v["accuracy"]),
                   "exit params B": f"{v['parameter_bytes']:,}", "state B": f"{v['state_bytes']:,}",
                   "bytes / gNet int8": f"{ratio:.2f}x"})
  print_table(rows)
  print()
  rows = []
  for r in results:
    for v in r["variants"]:
      if not v["name"].startswith(("+ max", "gNet, converted", "per-exit")):
        continue
      variant = Variant(**v)
      rows.append({"model": r["model"], "variant": v["name"], **{
          f"{100 * b:.0f}% MACs": _budget_accuracy(variant, r["exit_macs"], r["total_macs"],
                                                   r["full_float"], b) for b in budgets}})
    rows.append({"model": r["model"], "variant": "no exit", **{
        f"{100 * b:.0f}% MACs": (f"{100 * r['full_float']:.1f}%" if b >= 1 else "no answer")
        for b in budgets}})
  print_table(rows)


def main(argv: List[str]) -> None:
  del argv
  from converter.native_output import import_tensorflow_quietly
  import_tensorflow_quietly()
  out = Path(FLAGS.out)
  out.mkdir(parents=True, exist_ok=True)
  results = []
  for name in FLAGS.models:
    path, data = MODELS[name]
    if not path.exists():
      print(f"skipping {name}: {path} not found", file=sys.stderr)
      continue
    results.append(_bench_model(name, path, data, out))
    (out / "results.json").write_text(json.dumps(results, indent=2, default=float) + "\n")
  _tables(results)


if __name__ == "__main__":
  app.run(main)
