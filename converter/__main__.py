"""python -m converter: a pre-trained model in, an int8 model for the FreeML
runtime out.

  python -m converter --in model.h5 --data digits --out out/digits
  python -m converter --in model.h5 --data digits --target-kb 4 --out out/small

Writes into --out, each atomically: model.tflite (full int8), model_data.c
and model_data.h (the model as a 16-byte aligned C array), report.md and
report.json (per op: layer, shapes, parameters, MACs, weight bytes; totals;
the FreeML runtime's RAM and TFLM's arena; float and int8 accuracy). With
--target-kb, SparseComp retrains the model until its stored weights fit, and
reference.tflite holds the same int8 weights dense for stock TFLM.

Bad input (missing or wrong file, an op the runtime lacks, a float or
hybrid .tflite, bad flags, missing data) prints one line starting
'converter: error:' on stderr and exits with status 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Tuple

from absl import app, flags

from converter import cli
from converter.errors import ConverterError
from converter.gnet.head import HeadConfig

FLAGS = flags.FLAGS
flags.DEFINE_string(
    "in", None,
    "Model to convert (required; default: none): a Keras HDF5 file (.h5, Sequential or "
    "functional), a SavedModel folder, or an int8 .tflite (checked and passed through; "
    "filters with enough zeros are stored sparse).")
flags.DEFINE_string(
    "out", None,
    "Output folder (required; default: none), created if missing. Receives model.tflite, "
    "model_data.c, model_data.h, report.md, report.json.")
flags.DEFINE_string(
    "data", None,
    "Representative and test data (default: none; required for float models): digits "
    "(bundled with scikit-learn), mnist, cifar10, speech_commands, uci_har (read from "
    "$FREEML_DATA_DIR), or a path to an .npz with x and y (optionally x_test and y_test). "
    "Without it no accuracy is reported.")
flags.DEFINE_integer(
    "calibration-samples", 500,
    "Samples of the data's calibration split used to calibrate int8 ranges.")
flags.DEFINE_integer(
    "max-eval", -1,
    "Evaluate at most this many samples of the test split (-1: all of it).")
flags.DEFINE_integer(
    "tflm-samples", -1,
    "Of the evaluated samples, how many also run on the TFLM interpreter to count "
    "byte-identical outputs (-1: all of them, 0: none).")
flags.DEFINE_integer(
    "max-tile-macs", 16384,
    "Intermittent mode: the most MACs one tile may take (its energy must fit one charge of "
    "the capacitor). Sets the tile plan in the report; pass the same to freeml_run --nvm.")
flags.DEFINE_integer(
    "max-tile-bytes", 1024,
    "Intermittent mode: the most output bytes of one tile, i.e. the SRAM tile scratch.")
flags.DEFINE_float(
    "target-kb", None,
    "SparseComp (default: off): prune and retrain a float Keras model until its stored int8 "
    "weights (every constant buffer of model.tflite, sparse formats included) fit this many KB "
    "(1 KB = 1024 B). Needs --data; fails with the smallest size reached if it cannot.")
flags.DEFINE_float(
    "max-drop", 1.0,
    "SparseComp: validation accuracy points the compressed float model may lose.")
flags.DEFINE_integer(
    "seed", 0, "SparseComp: seed of the batch order and augmentation (same seed, same model).")
flags.DEFINE_float(
    "ram-kb", None,
    "SparseComp: peak runtime RAM (the FreeML runtime's arena) the model must fit, in KB; "
    "layer separation is refused where it would exceed it (default: no limit).")
flags.DEFINE_integer("round-steps", 300,
                     "SparseComp: optimizer steps (batches of 64) of each retraining round.")
flags.DEFINE_integer("final-steps", 600,
                     "SparseComp: optimizer steps of the last retraining, densities fixed.")
flags.DEFINE_float(
    "learning-rate", 2e-4,
    "SparseComp: Adam's learning rate at the start of each retraining; it decays to 0 "
    "(cosine) by the round's end.")
flags.DEFINE_list(
    "checkpoint-kb", [],
    "SparseComp: sizes above --target-kb (KB, separated by commas) at which the search also "
    "saves the float model, as checkpoints/<N>kb.h5 in --out, when its stored weights first "
    "fit them (before the final retraining): one search, a curve of size against accuracy. "
    "Convert a checkpoint like any model.")
flags.DEFINE_enum(
    "weight-bits", "8", ["8", "4", "2"],
    "SparseComp: bits of the weights of the layers it compresses. 4: int4 (-7..7) with one "
    "scale per output channel, retrained through their rounding, stored as int4 values in the "
    "sparse formats; 2: int4, then rounds move one layer at a time, most bytes first, to -2..2 "
    "where the accuracy holds, its non-zeros stored as 2-bit values in the bitmask format "
    "(int8 in reference.tflite). Give the same bits to convert a checkpoint of such a search.")
flags.DEFINE_float(
    "distillation", 0.0,
    "SparseComp: weight (0 to 1) of matching the uncompressed model's softened output while "
    "retraining; the rest is on the labels. Helps most when few samples are given.")
flags.DEFINE_float(
    "separation-energy", 0.9,
    "SparseComp layer separation: keep the fewest singular values whose squares sum to this "
    "fraction of the total (0: no separation).")


flags.DEFINE_string(
    "exits", None,
    "gNet (default: off): add one early-exit head shared by these exit points: 'auto' (after "
    "each pooling layer or residual block; each Conv2D block in a plain stack) or layer names "
    "separated by commas. Needs a float Keras model and --data. Writes exit_head.tflite too.")
flags.DEFINE_integer("exit-grid", 1,
                     "gNet: pool each exit's feature map to this many cells per side.")
flags.DEFINE_string(
    "exit-pool", "avg+max",
    "gNet: how each exit is pooled: avg, max, or avg+max (both side by side: twice the "
    "features); one for every exit, or one per exit separated by commas.")
flags.DEFINE_float(
    "exit-max-drop", 1.0,
    "gNet: the exit thresholds keep the answers within this many accuracy points of the "
    "whole network, on the validation split.")
flags.DEFINE_integer("exit-steps", HeadConfig.steps,
                     "gNet: optimizer steps (batches of 128) of the head.")
flags.DEFINE_integer(
    "exit-rank", HeadConfig.rank,
    "gNet: hidden units of a two-layer linear head (features -> rank -> classes); fewer bytes "
    "than one layer on many features, e.g. with --exit-grid 2. 0: one layer.")
flags.DEFINE_enum(
    "exit-weight-bits", str(HeadConfig.weight_bits), ["8", "4"],
    "gNet: bits of the head's first-layer weights, most of its bytes. 4: int4 with one scale, "
    "trained through their rounding (TFLM runs them too).")
flags.DEFINE_float(
    "exit-distillation", HeadConfig.distillation,
    "gNet: weight (0 to 1) of matching the network's softened output while training the head; "
    "0: labels only.")


def _fail(message: str) -> None:
  cli.fail("converter", message)


def _summary(result: dict, out_dir: Path) -> str:
  m, ram = result["model"], result["runtime_ram"]
  reference = "".join(f", {name}" for name in ("reference.tflite", "exit_head.tflite")
                      if (out_dir / name).exists())
  lines = [f"wrote {out_dir}/: model.tflite{reference}, model_data.c, model_data.h, report.md, "
           "report.json",
           f"model: {m['file_bytes']:,} B (weights {m['weight_bytes']:,} B), {m['ops']} ops, "
           f"{m['macs']:,} MACs per inference",
           f"RAM: FreeML runtime arena {ram['total_bytes']:,} B (activations "
           f"{ram['activation_bytes']:,} B); TFLM arena {result['tflm_arena_bytes']:,} B",
           f"intermittent (freeml_run --nvm): SRAM {result['intermittent']['sram_bytes']:,} B, "
           f"NVM {result['intermittent']['nvm_bytes']:,} B, "
           f"{sum(result['intermittent']['tiles']):,} tiles"]
  c = result.get("sparsecomp")
  if c:
    lines.append(f"SparseComp: weights {c['dense_int8']['weight_bytes']:,} B dense int8 -> "
                 f"{c['compressed']['weight_bytes']:,} B ({c['x_float32']:.1f}x smaller than "
                 f"float32, {c['x_dense_int8']:.1f}x than dense int8); fragile layers: "
                 f"{', '.join(c['fragile']) or 'none'}")
  g = result.get("gnet")
  if g:
    lines.append(f"gNet: {len(g['exits'])} exits, head {g['head_bytes']:,} B; with thresholds "
                 f"{100 * g['test']['accuracy']:.2f}% (network "
                 f"{100 * g['test']['full_accuracy']:.2f}%) at "
                 f"{100 * g['mean_macs_fraction']:.0f}% of the MACs; exit accuracies " +
                 ", ".join(f"{100 * x['int8_test_accuracy']:.1f}%" for x in g["exits"]))
  e = result["evaluation"]
  if e:
    float_part = (f"float {100 * e['float_accuracy']:.2f}%, "
                  if e["float_accuracy"] is not None else "")
    lines.append(f"accuracy on {e['samples']:,} of {e['test_split']:,} test samples: "
                 f"{float_part}int8 {100 * e['int8_accuracy']:.2f}% (FreeML runtime)")
    lines.append(f"agreement with TFLM: {e['tflm_identical']:,}/{e['tflm_compared']:,} outputs "
                 "byte-identical" if e["tflm_compared"] else
                 "agreement with TFLM: not checked (--tflm-samples 0)")
  return "\n".join(lines)


def _kb_list(name: str) -> Tuple[float, ...]:
  try:
    return tuple(float(kb) for kb in FLAGS[name].value)
  except ValueError:
    _fail(f"--{name} takes sizes in KB separated by commas, got {','.join(FLAGS[name].value)}")
  return ()  # not reached


def main(argv: List[str]) -> int:
  from converter.pipeline import Options, convert
  if len(argv) > 1:
    _fail(f"unexpected arguments: {' '.join(argv[1:])}; flags take the form --name=value")
  missing = [name for name in ("in", "out") if not FLAGS[name].value]
  if missing:
    _fail(" and ".join(f"--{name}" for name in missing) + " required: python -m converter "
          "--in MODEL --out DIR [--data DATA] (see --help)")
  out_dir = Path(FLAGS.out)
  try:
    result = convert(Options(
        model_path=Path(FLAGS["in"].value), out_dir=out_dir, data=FLAGS.data,
        calibration_samples=FLAGS["calibration-samples"].value,
        max_eval=FLAGS["max-eval"].value, tflm_samples=FLAGS["tflm-samples"].value,
        max_tile_macs=FLAGS["max-tile-macs"].value,
        max_tile_bytes=FLAGS["max-tile-bytes"].value,
        target_kb=FLAGS["target-kb"].value, max_drop=FLAGS["max-drop"].value,
        seed=FLAGS.seed, ram_kb=FLAGS["ram-kb"].value,
        round_steps=FLAGS["round-steps"].value, final_steps=FLAGS["final-steps"].value,
        learning_rate=FLAGS["learning-rate"].value,
        separation_energy=FLAGS["separation-energy"].value,
        checkpoint_kb=_kb_list("checkpoint-kb"), weight_bits=int(FLAGS["weight-bits"].value),
        distillation=FLAGS.distillation, exits=FLAGS.exits,
        exit_grid=FLAGS["exit-grid"].value, exit_pool=FLAGS["exit-pool"].value,
        exit_max_drop=FLAGS["exit-max-drop"].value,
        exit_steps=FLAGS["exit-steps"].value, exit_rank=FLAGS["exit-rank"].value,
        exit_weight_bits=int(FLAGS["exit-weight-bits"].value),
        exit_distillation=FLAGS["exit-distillation"].value))
  except ConverterError as e:
    _fail(" ".join(str(e).split()))  # one line, whatever the message held
  print(_summary(result, out_dir))
  return 0


if __name__ == "__main__":
  app.run(main, flags_parser=cli.flags_parser("converter"))
