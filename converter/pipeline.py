"""The conversion as a sequence of steps: load the model and the data,
compress (SparseComp, with --target-kb), add the gNet exit head (--exits),
quantize (float models) or check (int8 .tflite), store each filter in its
smallest format, calibrate the exits, measure memory on the FreeML runtime
and on TFLM, evaluate, and write the outputs atomically.

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
from typing import Any, Dict, Optional, Tuple

import numpy as np

from converter import augment, c_array, datasets, report, sparse_rewrite, tflite_graph, tflm_oracle
from converter.atomic_io import write_all
from converter.errors import ConverterError
from converter.evaluate import evaluate, model_inputs
from converter.gnet import attach as gnet_attach
from converter.gnet import graph as gnet_graph
from converter.gnet import head as gnet_head
from converter.grid_filters import on_grid
from converter.model_loading import LoadedModel, detect_kind, load_model, save_h5
from converter.native_output import captured_stderr, import_tensorflow_quietly
from converter.quantize import quantize_int8
from converter.sparse_format import INT2, INT4
from converter.sparsecomp.prune import GRID_LEVELS

OUTPUT_FILES = ("model.tflite", "model_data.c", "model_data.h", "report.md", "report.json")
# Written beside them when model.tflite holds FreeML custom ops: the same int8
# weights dense, with builtin ops only (stock TFLM runs it); with --exits its
# outputs are [the network's, the exit features, the head's logits].
REFERENCE_FILE = "reference.tflite"
# With --exits: the head alone, exit features in, logits out (docs/gnet.md).
EXIT_HEAD_FILE = "exit_head.tflite"
# With --checkpoint-kb: the float models the search passed on the way.
CHECKPOINT_DIR = "checkpoints"
# When the target is out of reach: the smallest model the search kept.
SMALLEST_FILE = "smallest.h5"
# Calibration samples for the search's trial conversions: they fix activation
# scales only, never a byte count.
_MEASURE_SAMPLES = 16


@dataclasses.dataclass(frozen=True)
class Options:
  """What to convert and how; mirrors the command-line flags.

  calibration_samples: representative samples for int8 calibration.
  max_eval: test samples to evaluate (-1: the whole test split).
  tflm_samples: evaluated samples also run on TFLM (-1: all, 0: none).
  max_tile_macs, max_tile_bytes: tile budgets of intermittent mode, for the
    report's plan (freeml_run --nvm takes the same flags).
  target_kb: run SparseComp until the stored weights fit this many KB
    (1024 B); None leaves the weights as they are.
  max_drop, seed, ram_kb, round_steps, final_steps, learning_rate,
    separation_energy, distillation: the search's settings
    (converter/sparsecomp/search.py, SearchOptions).
  checkpoint_kb: sizes above target_kb at which the search also saves the
    float model, as out_dir/checkpoints/<N>kb.h5.
  weight_bits: 8; 4: SparseComp trains the kernels on their -7..7 grid, and
    filters on it are stored with int4 values (converter/grid_filters.py);
    2: it also moves layers one at a time to -2..2 where the accuracy holds,
    stored with 2-bit values. Give the same bits again when converting a
    checkpoint of such a search.
  exits: "auto" or layer names: add the gNet exit head (docs/gnet.md);
    None: no exits. exit_grid, exit_pool, exit_max_drop, exit_steps,
    exit_rank, exit_weight_bits, exit_distillation: its pooling grid and
    kind (one, or one per exit separated by commas), the thresholds'
    accuracy target (points), training steps, head rank (0: one layer),
    first-layer weight bits (8 or 4) and distillation weight.
  """
  model_path: Path
  out_dir: Path
  data: Optional[str] = None
  calibration_samples: int = 500
  max_eval: int = -1
  tflm_samples: int = -1
  max_tile_macs: int = 16384
  max_tile_bytes: int = 1024
  target_kb: Optional[float] = None
  max_drop: float = 1.0
  seed: int = 0
  ram_kb: Optional[float] = None
  round_steps: int = 300
  final_steps: int = 600
  learning_rate: float = 2e-4
  separation_energy: float = 0.9
  checkpoint_kb: Tuple[float, ...] = ()
  weight_bits: int = 8
  distillation: float = 0.0
  exits: Optional[str] = None
  exit_grid: int = 1
  exit_pool: str = "avg+max"
  exit_max_drop: float = 1.0
  exit_steps: int = gnet_head.HeadConfig.steps
  exit_rank: int = gnet_head.HeadConfig.rank
  exit_weight_bits: int = gnet_head.HeadConfig.weight_bits
  exit_distillation: float = gnet_head.HeadConfig.distillation


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
  _check_search_options(options)
  if options.exits is not None:
    gnet_attach.check_settings(_gnet_settings(options))
  if options.out_dir.exists() and not options.out_dir.is_dir():
    raise ConverterError(f"--out {options.out_dir} is a file; give a folder (created if missing)")


def _check_search_options(options: Options) -> None:
  for name, value in (("--target-kb", options.target_kb), ("--ram-kb", options.ram_kb)):
    if value is not None and not value > 0:
      raise ConverterError(f"{name} must be > 0, got {value:g}")
  if not options.max_drop >= 0:
    raise ConverterError(f"--max-drop must be >= 0 accuracy points, got {options.max_drop:g}")
  if options.round_steps <= 0 or options.final_steps < 0:
    raise ConverterError(f"--round-steps must be > 0 and --final-steps >= 0, got "
                         f"{options.round_steps} and {options.final_steps}")
  if not options.learning_rate > 0:
    raise ConverterError(f"--learning-rate must be > 0, got {options.learning_rate:g}")
  if options.checkpoint_kb and options.target_kb is None:
    raise ConverterError("--checkpoint-kb saves models on the way to --target-kb: give "
                         "--target-kb too")
  for kb in options.checkpoint_kb:
    if not kb > options.target_kb:
      raise ConverterError(f"--checkpoint-kb sizes must be above --target-kb "
                           f"({options.target_kb:g}), got {kb:g}")
  if not 0 <= options.separation_energy <= 1:
    raise ConverterError(f"--separation-energy must be in [0, 1] (0: no separation), got "
                         f"{options.separation_energy:g}")
  if not 0 <= options.distillation <= 1:
    raise ConverterError(f"--distillation must be in [0, 1] (0: labels only), got "
                         f"{options.distillation:g}")


def _load_data(options: Options) -> datasets.Dataset:
  """--data, with its train split where it has one and something trains on
  it: SparseComp's retraining or the gNet head (else calibration stands in,
  2,000 CIFAR-10 images instead of 45,000)."""
  progress(f"loading data '{options.data}'")
  dataset = datasets.load(options.data, training=options.target_kb is not None or
                          options.exits is not None)
  progress(f"  {dataset.describe()}")
  return dataset


def _gnet_settings(options: Options) -> gnet_attach.GnetSettings:
  return gnet_attach.GnetSettings(
      exits=options.exits or "auto", grid=options.exit_grid, pooling=options.exit_pool,
      max_drop=options.exit_max_drop,
      head=gnet_head.HeadConfig(steps=options.exit_steps, seed=options.seed,
                                rank=options.exit_rank, weight_bits=options.exit_weight_bits,
                                distillation=options.exit_distillation))


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
      tiles=tuple(op.tiles for op in rt.ops), snapshot_crc=rt.snapshot_crc)


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


def _compress(model: LoadedModel, dataset: datasets.Dataset, options: Options,
              runtime_module) -> tuple:
  """SparseComp on the float model: the compressed LoadedModel and the
  search's result (history, densities, measurements)."""
  from converter.sparsecomp import search
  if model.keras_model is None:
    raise ConverterError(f"--target-kb retrains the model, which needs a Keras model (.h5 or a "
                         f"Keras SavedModel); {model.path} is a {model.kind}")
  name = options.data or ""
  x_train, y_train = dataset.training()
  x_train = datasets.fit_to_shape(x_train, model.input_shape, name)
  x_val = datasets.fit_to_shape(dataset.x_validation, model.input_shape, name)
  classes = int(np.prod(model.keras_model.outputs[0].shape[1:]))
  top_label = int(max(y_train.max(), dataset.y_validation.max()))
  if top_label >= classes:
    raise ConverterError(f"--data {name}: labels go up to {top_label}, but the model has "
                         f"{classes} outputs; is this the model's dataset?")
  x_measure = datasets.fit_to_shape(dataset.x_calibration[:_MEASURE_SAMPLES], model.input_shape,
                                    name)

  def measure(keras_model) -> search.Measurement:
    reference = quantize_int8(LoadedModel("keras", model.path, keras_model=keras_model),
                              x_measure)
    reference, _ = _onto_grids(reference, options.weight_bits)
    sparse, _ = sparse_rewrite.sparsify(reference)
    graph = tflite_graph.read_graph(sparse)
    return search.Measurement(weight_bytes=graph.weight_bytes, file_bytes=graph.file_bytes,
                              ram_bytes=int(_load_runtime(runtime_module, sparse).ram.total_bytes))

  # The file is named by the KB asked for: bytes / 1024 would not give 10.3 back.
  checkpoint_kb = {int(kb * 1024): kb for kb in options.checkpoint_kb}
  settings = search.SearchOptions(
      target_bytes=int(options.target_kb * 1024), max_drop=options.max_drop, seed=options.seed,
      ram_bytes=None if options.ram_kb is None else int(options.ram_kb * 1024),
      round_steps=options.round_steps, final_steps=options.final_steps,
      learning_rate=options.learning_rate, separation_energy=options.separation_energy,
      checkpoint_bytes=tuple(checkpoint_kb),
      augment=augment.augments(x_train), weight_bits=options.weight_bits,
      distillation=options.distillation)

  # A model this search does not save must not linger from an earlier one.
  for kb in options.checkpoint_kb:
    checkpoint_path(options.out_dir, kb).unlink(missing_ok=True)
  smallest_path = options.out_dir / CHECKPOINT_DIR / SMALLEST_FILE
  smallest_path.unlink(missing_ok=True)

  def save(checkpoint_bytes: int, keras_model) -> None:
    path = checkpoint_path(options.out_dir, checkpoint_kb[checkpoint_bytes])
    save_h5(keras_model, path)
    progress(f"saved {path}")

  progress(f"SparseComp: retraining on {len(x_train):,} samples"
           f"{' (flipped and cropped)' if settings.augment else ''}"
           f"{f', distillation {settings.distillation:g}' if settings.distillation else ''}, "
           f"judging on {len(x_val):,} validation samples")
  start = time.monotonic()
  try:
    result = search.compress(model.keras_model, x_train, y_train, x_val, dataset.y_validation,
                             settings, measure, progress, save)
  except search.TargetNotReached as error:
    if error.smallest is None:
      raise
    save_h5(error.smallest, smallest_path)
    raise search.TargetNotReached(f"{error}; that model is saved as {smallest_path}") from None
  progress(f"SparseComp done in {time.monotonic() - start:.0f} s: "
           f"{result.initial.weight_bytes:,} B -> {result.measurement.weight_bytes:,} B of weights")
  return LoadedModel("keras", model.path, keras_model=result.model), result


# --weight-bits -> the grids its filters are moved onto, in order.
_GRIDS_OF_WEIGHT_BITS = {4: (4,), 2: (4, 2)}


def _onto_grids(reference: bytes, weight_bits: int) -> Tuple[bytes, Dict[str, int]]:
  """The int8 model with the filters SparseComp trained on a grid moved back
  onto it (converter/grid_filters.py): int4 for --weight-bits 4, int4 then
  -2..2 for 2 (a 2-bit search leaves some layers on int4). Also how many
  filters moved to each grid (keys 4, 2) of how many ("filters")."""
  moved: Dict[Any, int] = {4: 0, 2: 0, "filters": 0}
  for bits in _GRIDS_OF_WEIGHT_BITS.get(weight_bits, ()):
    reference, moved[bits], moved["filters"] = on_grid(reference, GRID_LEVELS[bits])
  return reference, moved


def checkpoint_path(out_dir: Path, kb: float) -> Path:
  """Where --checkpoint-kb KB's model goes."""
  return out_dir / CHECKPOINT_DIR / f"{kb:g}kb.h5"


def _evaluate(model: LoadedModel, tflite: bytes, graph: tflite_graph.GraphInfo, runtime,
              dataset: datasets.Dataset, options: Options, reference: bytes,
              source: Optional[LoadedModel] = None) -> tuple:
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
                    tflm_samples=options.tflm_samples, test_split=total,
                    oracle_model=reference if reference != tflite else None)
  progress(f"evaluated in {time.monotonic() - start:.1f} s")
  source_accuracy = None
  if source is not None:  # the model before SparseComp, on the same samples
    with captured_stderr():  # tf.data's C++ notices about the graph it builds
      predictions = source.predict(datasets.fit_to_shape(x, source.input_shape,
                                                         options.data or ""))
    source_accuracy = float(np.mean(np.argmax(predictions.reshape(len(x), -1), -1) == y))
  return result, source_accuracy


def _calibrate_exits(tflite: bytes, runtime, dataset: datasets.Dataset,
                     options: Options) -> tuple:
  """model.tflite with exit thresholds from the validation split."""
  x_val = datasets.fit_to_shape(dataset.x_validation, runtime.inputs[0].shape[1:],
                                options.data or "")
  progress(f"gNet: calibrating exit thresholds on {len(x_val):,} validation samples "
           f"(--exit-max-drop {options.exit_max_drop:g})")
  tflite, calibration = gnet_attach.calibrate(
      tflite, runtime, model_inputs(x_val, runtime.inputs[0]), dataset.y_validation,
      options.exit_max_drop)
  v = calibration.validation
  progress(f"gNet: thresholds {list(calibration.thresholds)}: validation {v.accuracy:.2%} "
           f"(network {v.full_accuracy:.2%}), answered per exit " +
           ", ".join(f"{r:.0%}" for r in v.exit_rates))
  return tflite, calibration


def _measure_exits(gnet, calibration, runtime, model: bytes, reference: bytes,
                   head_model: bytes, graph: tflite_graph.GraphInfo, dataset: datasets.Dataset,
                   options: Options) -> Dict[str, Any]:
  total = len(dataset.x_test)
  n = total if options.max_eval < 0 else min(options.max_eval, total)
  x = datasets.fit_to_shape(dataset.x_test[:n], runtime.inputs[0].shape[1:], options.data or "")
  progress(f"gNet: every exit on {n} test samples (TFLM checks "
           f"{n if options.tflm_samples < 0 else min(n, options.tflm_samples)})")
  first_exit = graph.layers[runtime.exits[0].op]
  section = gnet_attach.measure_exits(
      gnet, calibration, runtime, reference, head_model, model_inputs(x, runtime.inputs[0]),
      dataset.y_test[:n], options.tflm_samples, [layer.macs for layer in graph.layers],
      first_exit.weight_bytes + gnet_graph.output_layer_bytes(model), options.exit_max_drop)
  section["grid"] = options.exit_grid
  section["pooling"] = options.exit_pool
  t = section["test"]
  progress(f"gNet: test {t['accuracy']:.2%} with exits (network {t['full_accuracy']:.2%}), "
           f"{section['mean_macs_fraction']:.0%} of the MACs on average")
  return section


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
  elif kind != "tflite" or options.target_kb is not None or options.exits is not None:
    raise _needs_data(options.model_path)
  for flag, value in (("--target-kb", options.target_kb), ("--exits", options.exits)):
    if value is not None and kind == "tflite":
      raise ConverterError(f"{flag} trains on the float model, an int8 .tflite cannot be: give "
                           f"the Keras model (.h5 or SavedModel) instead of {options.model_path}")
  runtime_module = _runtime_module()
  progress("starting TensorFlow")
  import_tensorflow_quietly()
  progress(f"loading {options.model_path}")
  model = load_model(options.model_path)
  dataset = _load_data(options) if options.data else None
  source, compression, gnet = model, None, None
  if options.target_kb is not None:
    model, compression = _compress(model, dataset, options, runtime_module)
  if options.exits is not None:
    if model.keras_model is None:
      raise ConverterError(f"--exits trains a head on the float Keras model; {model.path} is a "
                           f"{model.kind}")
    gnet = gnet_attach.train(model.keras_model, dataset, _gnet_settings(options), progress)
  network = model  # what the float accuracy is measured on
  if gnet is not None:
    model = LoadedModel("keras", model.path, keras_model=gnet.keras_model)
  reference = _quantize(model, dataset, options) if model.is_float else model.tflite_bytes
  if options.weight_bits < 8:
    reference, moved = _onto_grids(reference, options.weight_bits)
    two_bit = f", {moved[2]} then on their -2..2 grid" if options.weight_bits == 2 else ""
    progress(f"{moved[4]} of {moved['filters']} filters lie on their int4 grid{two_bit}: "
             "stored with those values")
  keras = model.keras_layers()
  try:
    if gnet is not None:
      reference = gnet_graph.order_reference(reference)
      if gnet.config.weight_bits == 4:
        reference = gnet_graph.with_int4_weights(reference, gnet.head)
    tflite_graph.check_int8(reference, keras)  # before reading its filters
    tflite, storage = sparse_rewrite.sparsify(
        gnet_graph.rewrite(reference) if gnet is not None else reference)
    graph = tflite_graph.check_int8(tflite, keras)
  except ConverterError as e:
    if model.is_float:
      raise
    raise ConverterError(f"--in {options.model_path}: {e}") from e
  if tflite != reference:
    sparse = [s for s in storage if s.format != "dense"]
    progress(f"stored {len(sparse)} of {len(storage)} filters sparse: "
             f"{sum(s.dense_bytes for s in sparse):,} B dense -> "
             f"{sum(s.stored_bytes for s in sparse):,} B")
  progress(f"checked: {len(graph.layers)} ops, all int8 and supported by the FreeML runtime")
  runtime = _load_runtime(runtime_module, tflite)
  calibration = None
  if gnet is not None:
    tflite, calibration = _calibrate_exits(tflite, runtime, dataset, options)
    runtime = _load_runtime(runtime_module, tflite)
  ram = report.RuntimeRam(activation_bytes=int(runtime.ram.activation_bytes),
                          persistent_bytes=int(runtime.ram.persistent_bytes),
                          total_bytes=int(runtime.ram.total_bytes))
  intermittent = _intermittent_plan(tflite, options)
  progress("measuring TFLM's arena for the same model" if tflite == reference else
           f"measuring TFLM's arena for {REFERENCE_FILE} (TFLM lacks FreeML's custom ops)")
  tflm_arena = _tflm_arena(reference)
  evaluation, source_accuracy = (
      _evaluate(network, tflite, graph, runtime, dataset, options, reference,
                source if compression is not None else None)
      if dataset is not None else (None, None))
  exits_section, head_model = None, None
  if gnet is not None:
    head_model = gnet_graph.head_reference(reference)
    exits_section = _measure_exits(gnet, calibration, runtime, tflite, reference, head_model,
                                   graph, dataset, options)
  result = report.build(
      source=options.model_path.name, source_kind=model.kind, data=options.data,
      calibration_samples=(min(options.calibration_samples, len(dataset.x_calibration))
                           if model.is_float and dataset is not None else None),
      graph=graph, ram=ram, tflm_arena_bytes=tflm_arena, intermittent=intermittent,
      evaluation=evaluation, storage=storage,
      sparsecomp=(report.sparsecomp_section(compression, source.keras_model, source_accuracy)
                  if compression is not None else None),
      gnet=exits_section)
  c_source, header = c_array.render(tflite, options.model_path.name,
                                  c_array.FirmwareSizes.of(
                                      runtime, intermittent.sram_bytes, intermittent.nvm_bytes,
                                      intermittent.max_tile_macs, intermittent.max_tile_bytes,
                                      graph.macs, intermittent.snapshot_crc,
                                      sparse_rewrite.value_ops(tflite, INT4),
                                      sparse_rewrite.value_ops(tflite, INT2)))
  outputs = dict(zip(OUTPUT_FILES, [
      tflite, c_source, header, report.to_markdown(result), report.to_json(result)], strict=True))
  if tflite != reference:
    outputs[REFERENCE_FILE] = reference
  if head_model is not None:
    outputs[EXIT_HEAD_FILE] = head_model
  write_all(options.out_dir, outputs)
  for name in (REFERENCE_FILE, EXIT_HEAD_FILE):  # from an earlier conversion
    stale = options.out_dir / name
    if name not in outputs and stale.exists():
      stale.unlink()
  return result
