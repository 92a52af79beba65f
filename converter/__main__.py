"""python -m converter: a pre-trained model in, an int8 model for the FreeML
runtime out.

  python -m converter --in model.h5 --data digits --out out/digits

Writes, each atomically, into --out: model.tflite, model_data.c and
model_data.h (the model as a C array), report.md and report.json.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import List

from absl import app, flags

from converter.errors import ConverterError

FLAGS = flags.FLAGS
flags.DEFINE_string("in", None, "Model to convert: Keras HDF5 (.h5), SavedModel folder, or an "
                    "int8 .tflite (checked and passed through).")
flags.DEFINE_string("out", None, "Output folder (created if missing).")
flags.DEFINE_string("data", None, "Representative and test data: digits, mnist, cifar10, "
                    "speech_commands, uci_har (from $FREEML_DATA_DIR) or an .npz with x, y "
                    "(and optionally x_test, y_test). Required for float models.")
flags.DEFINE_integer("calibration-samples", 500, "Samples used to calibrate int8 ranges.")
flags.DEFINE_integer("max-eval", 0, "Evaluate at most this many test samples (0: all).")
flags.DEFINE_integer("tflm-samples", 200, "Test samples also run on the TFLM interpreter to "
                     "check that outputs are identical.")


def _step(message: str) -> float:
  print(f"[converter] {message}", file=sys.stderr, flush=True)
  return time.monotonic()


def convert(model_path: Path, out_dir: Path, data_spec: str | None, calibration_samples: int,
            max_eval: int, tflm_samples: int) -> dict:
  """The whole conversion; returns the report dict. Raises ConverterError."""
  from converter import c_array, datasets, report, tflite_graph, tflm_oracle
  from converter.atomic_io import write_atomic
  from converter.evaluate import evaluate
  from converter.model_loading import load_model
  from converter.quantize import quantize_int8
  from tflm_freeml.runtime import FreemlError, Runtime

  _step(f"loading {model_path}")
  model = load_model(model_path)
  dataset = None
  if data_spec:
    _step(f"loading data '{data_spec}'")
    dataset = datasets.load(data_spec)
  if model.kind == "tflite":
    tflite = model.tflite_bytes
  else:
    if dataset is None:
      raise ConverterError("a float model needs --data to calibrate its int8 quantization")
    shape = model.input_shape if model.keras_model is not None else None
    x_cal = dataset.x_calibration[:calibration_samples]
    if shape is not None:
      x_cal = datasets.fit_to_shape(x_cal, shape, data_spec)
    start = _step(f"quantizing to int8 with {len(x_cal)} calibration samples")
    tflite = quantize_int8(model, x_cal)
    _step(f"quantized in {time.monotonic() - start:.1f} s")
  graph = tflite_graph.check_int8(tflite)
  try:
    ram = Runtime(tflite).ram
  except FreemlError as e:
    raise ConverterError(f"the FreeML runtime refuses the model: {e}") from e
  _step("measuring TFLM's arena for the same model")
  tflm_arena = tflm_oracle.arena_bytes(tflite)
  evaluation = None
  if dataset is not None:
    n = len(dataset.x_test) if max_eval <= 0 else min(max_eval, len(dataset.x_test))
    _step(f"evaluating on {n} test samples")
    evaluation = evaluate(tflite, dataset.x_test[:n], dataset.y_test[:n], model.keras_model,
                          tflm_samples=tflm_samples)
  result = report.build(model_path.name, graph, ram, tflm_arena, evaluation, data_spec)
  out_dir.mkdir(parents=True, exist_ok=True)
  source, header = c_array.render(tflite, model_path.name)
  write_atomic(out_dir / "model.tflite", tflite)
  write_atomic(out_dir / "model_data.c", source)
  write_atomic(out_dir / "model_data.h", header)
  write_atomic(out_dir / "report.json", report.to_json(result))
  write_atomic(out_dir / "report.md", report.to_markdown(result))
  return result


def _summary(result: dict, out_dir: Path) -> str:
  m, ram = result["model"], result["runtime_ram"]
  lines = [f"wrote {out_dir}/model.tflite, model_data.c, model_data.h, report.md, report.json",
           f"model: {m['file_bytes']:,} B (weights {m['weight_bytes']:,} B), "
           f"{m['macs']:,} MACs per inference",
           f"runtime RAM: {ram['total_bytes']:,} B arena (activations "
           f"{ram['activation_bytes']:,} B); TFLM arena: {result['tflm_arena_bytes']:,} B"]
  e = result["evaluation"]
  if e:
    float_part = (f"float {100 * e['float_accuracy']:.2f}%, "
                  if e["float_accuracy"] is not None else "")
    lines.append(f"accuracy on {e['samples']} test samples: {float_part}"
                 f"int8 {100 * e['int8_accuracy']:.2f}% (FreeML runtime)")
    lines.append(f"agreement with TFLM: {e['tflm_identical']}/{e['tflm_compared']} outputs "
                 "byte-identical")
  return "\n".join(lines)


def main(argv: List[str]) -> int:
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  if not FLAGS["in"].value or not FLAGS.out:
    raise app.UsageError("--in and --out are required")
  out_dir = Path(FLAGS.out)
  try:
    result = convert(Path(FLAGS["in"].value), out_dir, FLAGS.data,
                     FLAGS["calibration-samples"].value, FLAGS["max-eval"].value,
                     FLAGS["tflm-samples"].value)
  except ConverterError as e:
    print(f"converter: error: {e}", file=sys.stderr)
    return 2
  print(_summary(result, out_dir))
  return 0


if __name__ == "__main__":
  app.run(main)
