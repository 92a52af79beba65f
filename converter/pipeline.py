"""The conversion as a sequence of steps: load the model and the data,
quantize (float models) or check (int8 .tflite), measure memory on the
FreeML runtime and on TFLM, evaluate, and write the five outputs atomically.

Nothing is written before every step has succeeded, so a refused input
leaves --out as it was.

Example:
  report = convert(Options(Path("examples/digits/digits_cnn.h5"), Path("out/digits"),
                           data="digits"))
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np

from converter import c_array, datasets, report, tflite_graph, tflm_oracle
from converter.atomic_io import write_all
from converter.errors import ConverterError
from converter.evaluate import Evaluation, evaluate
from converter.model_loading import LoadedModel, detect_kind, load_model
from converter.native_output import captured_stderr, import_tensorflow_quietly
from converter.quantize import quantize_int8

OUTPUT_FILES = ("model.tflite", "model_data.c", "model_data.h", "report.md", "report.json")


@dataclasses.dataclass(frozen=True)
class Options:
  """What to convert and how; mirrors the command-line flags.

  calibration_samples: representative samples for int8 calibration.
  max_eval: test samples to evaluate (-1: the whole test split).
  tflm_samples: evaluated samples also run on TFLM (-1: all, 0: none).
  max_tile_macs, max_tile_bytes: tile budgets of intermittent mode, for the
    report's plan (freeml_run --nvm takes the same flags).
  """
  model_path: Path
  out_dir: Path
  data: Optional[str] = None
  calibration_samples: int = 500
  max_eval: int = -1
  tflm_samples: int = -1
  max_tile_macs: int = 16384
  max_tile_bytes: int = 1024


def progress(message: str) -> None:
  """A progress line on stderr (stdout carries only the final summary)."""
  print(f"[converter] {message}", file=sys.stderr, flush=True)


def _check_options(options: Options) -> None:
  if options.calibration_samples <= 0:
    raise ConverterError(f"--calibration-samples must be > 0, got {options.calibration_samples}")
  if options.max_eval == 0 or options.max_eval < -1:
    raise ConverterError(f"--max-eval must be > 0, or -1 for the whole test split; got "
                         f"{options.max_eval}")
  if options.tflm_samples < -1:
    raise ConverterError(f"--tflm-samples must be >= 0, or -1 for every evaluated sample; got "
                         f"{options.tflm_samples}")
  for name, value in (("--max-tile-macs", options.max_tile_macs),
                      ("--max-tile-bytes", options.max_tile_bytes)):
    if not 0 < value < 2**32:
      raise ConverterError(f"{name} must be > 0, got {value}")
  if options.out_dir.exists() and not options.out_dir.is_dir():
    raise ConverterError(f"--out {options.out_dir} is a file; give a folder (created if missing)")


def _runtime_module():
  """The C runtime's binding; a clear error when it is missing or unbuilt."""
  try:
    from tflm_freeml import runtime
  except ImportError as e:
    raise ConverterError(f"the FreeML runtime's Python binding is missing ({e}); run the "
                         "converter from the repository root") from e
  library_path = getattr(runtime, "library_path", None)
  if library_path is not None and not Path(library_path()).exists():
    raise ConverterError(f"the FreeML runtime library {library_path()} is not built: run "
                         "`make build` (the report needs the runtime's RAM and int8 accuracy)")
  return runtime


def _load_runtime(runtime_module, model: bytes):
  try:
    return runtime_module.Runtime(model)
  except runtime_module.FreemlError as e:
    if "make build" in str(e):
      raise ConverterError(f"the FreeML runtime is not available: {e}") from e
    raise ConverterError(f"the FreeML runtime refuses the model: {e}") from e
  except OSError as e:  # a library that exists but cannot be loaded
    raise ConverterError(f"could not load the FreeML runtime library ({e}): run `make build`") \
        from e


def _intermittent_plan(model: bytes, options: Options) -> report.IntermittentPlan:
  from tflm_freeml.intermittent import IntermittentRuntime
  rt = IntermittentRuntime(model, options.max_tile_macs, options.max_tile_bytes)
  return report.IntermittentPlan(
      sram_bytes=rt.memory.sram_bytes, scratch_bytes=rt.memory.scratch_bytes,
      nvm_bytes=rt.memory.nvm_bytes, max_tile_macs=options.max_tile_macs,
      max_tile_bytes=options.max_tile_bytes, tile_units=tuple(op.tile_units for op in rt.ops),
      tiles=tuple(op.tiles for op in rt.ops))


def _firmware_sizes(runtime: Any, ram: report.RuntimeRam, intermittent: report.IntermittentPlan,
                    macs: int) -> c_array.FirmwareSizes:
  def tensor_bytes(details) -> int:
    return int(np.prod(details.shape)) * np.dtype(details.dtype).itemsize
  return c_array.FirmwareSizes(
      input_bytes=sum(tensor_bytes(d) for d in runtime.inputs),
      output_bytes=sum(tensor_bytes(d) for d in runtime.outputs),
      arena_bytes=ram.total_bytes, sram_bytes=intermittent.sram_bytes,
      nvm_bytes=intermittent.nvm_bytes, max_tile_macs=intermittent.max_tile_macs,
      max_tile_bytes=intermittent.max_tile_bytes, macs=macs)


def _tflm_arena(model: bytes) -> int:
  with captured_stderr() as log:
    try:
      return tflm_oracle.arena_bytes(model)
    except RuntimeError as e:
      failure: Exception = e
  detail = next((line for line in log.text.splitlines() if line.strip()), str(failure))
  raise ConverterError(f"TFLM refuses the model: {detail.strip()}") from failure


def _needs_data(path: Path) -> ConverterError:
  return ConverterError(f"--in {path} is a float model: it needs --data to calibrate its int8 "
                        f"quantization (one of {', '.join(datasets.LOADERS)}, or an .npz with x "
                        "and y)")


def _check_finite_weights(model: LoadedModel) -> None:
  """TFLite's quantizer crashes the process on NaN weights and leaves a layer
  with infinite ones in float: refuse both, naming the layer."""
  if model.keras_model is None:
    return
  for layer in model.keras_model.layers:
    if any(not np.all(np.isfinite(w)) for w in layer.get_weights()):
      raise ConverterError(f"layer '{layer.name}' ({type(layer).__name__}) has NaN or "
                           "infinite weights; the model cannot be quantized")


def _quantize(model: LoadedModel, dataset: Optional[datasets.Dataset], options: Options) -> bytes:
  if dataset is None:
    raise _needs_data(model.path)
  _check_finite_weights(model)
  x_cal = datasets.fit_to_shape(dataset.x_calibration[:options.calibration_samples],
                                model.input_shape, options.data or "")
  start = time.monotonic()
  progress(f"calibrating and quantizing to int8 with {len(x_cal)} samples")
  tflite = quantize_int8(model, x_cal)
  progress(f"quantized in {time.monotonic() - start:.1f} s")
  return tflite


def _evaluate(model: LoadedModel, tflite: bytes, graph: tflite_graph.GraphInfo, runtime,
              dataset: datasets.Dataset, options: Options) -> Evaluation:
  total = len(dataset.x_test)
  n = total if options.max_eval < 0 else min(options.max_eval, total)
  x = datasets.fit_to_shape(dataset.x_test[:n], graph.inputs[0].shape[1:], options.data or "")
  y = dataset.y_test[:n]
  classes = int(np.prod(graph.outputs[0].shape[1:]))
  if n and int(y.max()) >= classes:
    raise ConverterError(f"--data {options.data}: labels go up to {int(y.max())}, but the model "
                         f"has {classes} outputs; is this the model's dataset?")
  float_predict = None
  if model.is_float:
    def float_predict(samples: np.ndarray) -> np.ndarray:
      return model.predict(datasets.fit_to_shape(samples, model.input_shape, options.data or ""))
  start = time.monotonic()
  progress(f"evaluating on {n} of {total} test samples (FreeML runtime; TFLM on "
           f"{n if options.tflm_samples < 0 else min(n, options.tflm_samples)})")
  result = evaluate(tflite, runtime, x, y, float_predict=float_predict,
                    tflm_samples=options.tflm_samples, test_split=total)
  progress(f"evaluated in {time.monotonic() - start:.1f} s")
  return result


def convert(options: Options) -> Dict[str, Any]:
  """Runs the whole conversion and writes the outputs.

  Returns:
    The report (as written to report.json).

  Raises:
    ConverterError: any refused input or option, with a one-line reason.
  """
  _check_options(options)
  kind = detect_kind(options.model_path)  # refuse bad paths before the slow steps
  if options.data:
    datasets.check_spec(options.data)
  elif kind != "tflite":
    raise _needs_data(options.model_path)
  runtime_module = _runtime_module()
  progress("starting TensorFlow")
  import_tensorflow_quietly()
  progress(f"loading {options.model_path}")
  model = load_model(options.model_path)
  dataset = None
  if options.data:
    progress(f"loading data '{options.data}'")
    dataset = datasets.load(options.data)
    progress(f"  {dataset.describe()}")
  tflite = _quantize(model, dataset, options) if model.is_float else model.tflite_bytes
  keras = model.keras_layers()
  try:
    graph = tflite_graph.check_int8(tflite, keras)
  except ConverterError as e:
    if model.is_float:
      raise
    raise ConverterError(f"--in {options.model_path}: {e}") from e
  progress(f"checked: {len(graph.layers)} ops, all int8 and supported by the FreeML runtime")
  runtime = _load_runtime(runtime_module, tflite)
  ram = report.RuntimeRam(activation_bytes=int(runtime.ram.activation_bytes),
                          persistent_bytes=int(runtime.ram.persistent_bytes),
                          total_bytes=int(runtime.ram.total_bytes))
  intermittent = _intermittent_plan(tflite, options)
  progress("measuring TFLM's arena for the same model")
  tflm_arena = _tflm_arena(tflite)
  evaluation = (_evaluate(model, tflite, graph, runtime, dataset, options)
                if dataset is not None else None)
  result = report.build(
      source=options.model_path.name, source_kind=model.kind, data=options.data,
      calibration_samples=(min(options.calibration_samples, len(dataset.x_calibration))
                           if model.is_float and dataset is not None else None),
      graph=graph, ram=ram, tflm_arena_bytes=tflm_arena, intermittent=intermittent,
      evaluation=evaluation)
  source, header = c_array.render(tflite, options.model_path.name,
                                  _firmware_sizes(runtime, ram, intermittent, graph.macs))
  write_all(options.out_dir, dict(zip(OUTPUT_FILES, [
      tflite, source, header, report.to_markdown(result), report.to_json(result)], strict=True)))
  return result
