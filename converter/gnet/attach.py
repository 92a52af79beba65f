"""gNet in the conversion: train the head on the frozen float network, then,
on the int8 model, calibrate the thresholds and measure every exit.

Example (what converter.pipeline does with --exits):
  trained = train(keras_model, dataset, settings, progress)
  ... quantize trained.keras_model, graph.rewrite, sparsify ...
  model, calibration = calibrate(model, runtime_module, x_val, y_val, settings.max_drop)
  report = measure_exits(model, runtime, x_test, y_test, ...)
"""

from __future__ import annotations

import dataclasses
import time
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np

from converter import datasets, tflm_oracle
from converter.errors import ConverterError
from converter.gnet import exits as exit_points
from converter.gnet import graph, head, thresholds


@dataclasses.dataclass(frozen=True)
class GnetSettings:
  """--exits, --exit-grid, --exit-pool, --exit-max-drop and the head's
  training (--exit-steps, --exit-rank, --exit-weight-bits,
  --exit-distillation)."""
  exits: str = "auto"
  grid: int = 1
  pooling: str = "avg+max"
  max_drop: float = 1.0
  head: head.HeadConfig = head.HeadConfig()


@dataclasses.dataclass
class TrainedGnet:
  """The network with its trained head, for int8 conversion."""
  keras_model: object  # input -> [output, features, head logits]
  exits: List[str]
  features: List[int]  # pooled features per exit
  float_accuracy: List[float]  # the head at each exit, validation split
  head: head.Head
  config: head.HeadConfig

  @property
  def rank(self) -> int:
    """Hidden units of a two-layer head; 0: one layer."""
    return self.config.rank


def check_settings(settings: GnetSettings) -> None:
  if settings.grid < 1:
    raise ConverterError(f"--exit-grid must be >= 1, got {settings.grid}")
  kinds = settings.pooling.split(",")
  if any(kind not in head.POOLINGS for kind in kinds):
    raise ConverterError(f"--exit-pool must be one of {', '.join(head.POOLINGS)}, or one per "
                         f"exit separated by commas, got '{settings.pooling}'")
  if not settings.max_drop >= 0:
    raise ConverterError(f"--exit-max-drop must be >= 0 accuracy points, got "
                         f"{settings.max_drop:g}")
  if settings.head.steps < 1:
    raise ConverterError(f"--exit-steps must be >= 1, got {settings.head.steps}")
  if not 0 <= settings.head.rank <= graph.MAX_RANK:
    raise ConverterError(f"--exit-rank must be 0 (one layer) to {graph.MAX_RANK}, got "
                         f"{settings.head.rank}")
  if settings.head.weight_bits not in head.WEIGHT_BITS:
    raise ConverterError(f"--exit-weight-bits must be 8 or 4, got {settings.head.weight_bits}")
  if not 0 <= settings.head.distillation <= 1:
    raise ConverterError(f"--exit-distillation must be in [0, 1], got "
                         f"{settings.head.distillation:g}")


def train(model, dataset: datasets.Dataset, settings: GnetSettings,
          progress: Callable[[str], None]) -> TrainedGnet:
  """Chooses the exits, pools their features and trains the shared head."""
  names = exit_points.exit_points(model, settings.exits)
  if len(names) > graph.MAX_EXITS:
    raise ConverterError(f"--exits gives {len(names)} exits; the runtime takes at most "
                         f"{graph.MAX_EXITS}: name fewer layers")
  shape = tuple(int(d) for d in model.inputs[0].shape[1:])
  name = dataset.name
  x_train, y_train = dataset.training()
  x_train = datasets.fit_to_shape(x_train, shape, name)
  x_val = datasets.fit_to_shape(dataset.x_validation, shape, name)
  try:
    kinds = head.per_exit_poolings(settings.pooling, len(names))
  except ValueError as e:
    raise ConverterError(f"--exit-pool: {e}") from e
  progress(f"gNet: {len(names)} exits ({', '.join(names)}), features pooled ({', '.join(kinds)}) "
           f"to {settings.grid}x{settings.grid}; computing them on {len(x_train):,} training "
           "samples")
  start = time.monotonic()
  extractor = head.exit_features(model, names, settings.grid, settings.pooling)
  teacher, features = head.compute_features(extractor, x_train)
  _, val_features = head.compute_features(extractor, x_val)
  classes = teacher.reshape(len(teacher), -1).shape[1]
  rank = f"{settings.head.rank} -> " if settings.head.rank else ""
  progress(f"gNet: training the head ({settings.head.steps} steps, "
           f"{sum(f.shape[1] for f in features)} features -> {rank}{classes} classes, "
           f"int{settings.head.weight_bits} first-layer weights)")
  trained = head.train_head(teacher, features, y_train, settings.head,
                            (val_features, dataset.y_validation))
  accuracy = head.exit_accuracies(trained, val_features, dataset.y_validation)
  progress("gNet: float head on validation: " + ", ".join(
      f"exit {k} {a:.2%}" for k, a in enumerate(accuracy)) +
      f" ({time.monotonic() - start:.0f} s)")
  return TrainedGnet(head.gnet_model(model, names, settings.grid, settings.pooling, trained),
                     names, [f.shape[1] for f in features], accuracy, trained, settings.head)


def exit_outputs(runtime, x_in: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
  """(final predictions (N,), exit logits (N, exits, classes)) from the
  runtime, for int8 inputs x_in."""
  finals, logits = [], []
  for i in range(len(x_in)):
    outputs, exit_logits = runtime.invoke_exits([x_in[i:i + 1]])
    finals.append(int(np.argmax(outputs[0])))
    logits.append(exit_logits)
  return np.array(finals), np.stack(logits)


@dataclasses.dataclass(frozen=True)
class Calibration:
  thresholds: Tuple[int, ...]
  validation: thresholds.CascadeResult


def calibrate(model: bytes, runtime, x_val_in: np.ndarray, y_val: np.ndarray,
              max_drop: float) -> Tuple[bytes, Calibration]:
  """The model with thresholds calibrated on int8 validation inputs."""
  finals, logits = exit_outputs(runtime, x_val_in)
  chosen = thresholds.calibrate(logits, finals, y_val, max_drop)
  result = thresholds.measure(logits, finals, y_val, chosen)
  return graph.set_thresholds(model, chosen), Calibration(tuple(chosen), result)


def _tflm_exit_check(reference: bytes, head_model: bytes, runtime, x_in: np.ndarray,
                     offsets: Sequence[int]) -> int:
  """Samples whose every exit's logits equal TFLM's (the features from
  reference.tflite, the head from exit_head.tflite)."""
  if len(x_in) == 0:
    return 0
  heads = tflm_oracle.make_interpreter(head_model)
  networks = tflm_oracle.make_interpreter(reference)
  zero_point = int(heads.get_input_details(0)["quantization_parameters"]["zero_points"][0])
  same = 0
  for i in range(len(x_in)):
    _, ours = runtime.invoke_exits([x_in[i:i + 1]])
    features = tflm_oracle.invoke_on(networks, [x_in[i:i + 1]], 2)[1]
    same += all(np.array_equal(
        graph.exit_logits_reference(heads, features, offsets, zero_point, k).reshape(-1),
        ours[k]) for k in range(len(ours)))
  return same


def measure_exits(trained: TrainedGnet, calibration: Calibration, runtime, reference: bytes,
                  head_model: bytes, x_in: np.ndarray, y: np.ndarray, tflm_samples: int,
                  macs: Sequence[int], head_bytes: int, max_drop: float) -> Dict[str, object]:
  """The report's gnet section: every exit's int8 accuracy on the test
  samples, the cascade with the calibrated thresholds, bytes, and TFLM's
  agreement on the exits.

  macs: per op of model.tflite; head_bytes: the bytes of the head's weight
  and bias buffers in it (both layers')."""
  finals, logits = exit_outputs(runtime, x_in)
  test = thresholds.measure(logits, finals, y, calibration.thresholds)
  total_macs = max(sum(macs), 1)
  offsets = np.concatenate([[0], np.cumsum(trained.features)]).astype(int)
  compared = len(x_in) if tflm_samples < 0 else min(tflm_samples, len(x_in))
  identical = _tflm_exit_check(reference, head_model, runtime, x_in[:compared], offsets)
  exits = []
  for k, name in enumerate(trained.exits):
    op = runtime.exits[k].op
    exits.append({
        "layer": name, "op": op, "features": trained.features[k],
        "threshold": calibration.thresholds[k],
        "macs_fraction": sum(macs[:op + 1]) / total_macs,
        "float_validation_accuracy": trained.float_accuracy[k],
        "int8_test_accuracy": float(np.mean(np.argmax(logits[:, k], -1) == y)),
        "test_exit_rate": test.exit_rates[k]})
  mean_macs = sum(rate * (exits[k]["macs_fraction"] if k < len(exits) else 1.0)
                  for k, rate in enumerate(test.exit_rates))
  return {
      "exits": exits,
      "head_bytes": head_bytes,
      "rank": trained.rank,
      "weight_bits": trained.config.weight_bits,
      # int32 accumulators per exit: one per class, or per hidden unit
      "accumulator_bytes": 4 * (trained.rank or int(logits.shape[2])) * len(exits),
      "max_drop": max_drop,
      "validation": dataclasses.asdict(calibration.validation),
      "test": dataclasses.asdict(test),
      "test_samples": len(y),
      "mean_macs_fraction": mean_macs,
      "tflm_compared": compared, "tflm_identical": identical,
  }
