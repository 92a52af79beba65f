"""The SparseComp search: rounds of pruning until the model's stored bytes
meet the target, without losing more than the allowed accuracy.

  1. Fold BatchNorm into the layer before it (the weights that get stored).
     Layers that already hold zeros (a model pruned before) keep their
     density from the start. With int4 weights, a first round puts every
     prunable kernel on its -7..7 grid and retrains it there; with 2-bit
     weights, rounds then move one layer at a time, most bytes first, to
     the -2..2 grid, kept where the accuracy holds.
  2. Layer separation: each dense Dense and Conv2D whose low-rank split
     lowers its stored bytes is split, retrained, and kept only if
     validation accuracy does not drop (and peak RAM stays within --ram-kb).
  3. Rounds: pick the non-fragile layer that stores the most bytes, lower
     its density by `density_step`, retrain every constrained layer with
     iterative hard thresholding, judge on the validation split. A round
     that costs more than `max_drop` points below the starting accuracy
     marks the layer fragile and is undone. The rounds stop early when the
     layers not fragile could not take the model down to the target even
     with one weight each.
  4. A final retraining with every density fixed.

With checkpoint sizes above the target, the model is handed to `save` the
first time its real stored bytes fit each of them (before the final
retraining): one search gives a curve of size against accuracy.

Sizes are the bytes the model will store (converter/sparsecomp/size.py),
calibrated against a real conversion (`measure`) at the start, after every
kept separation and before declaring the target met.

Example:
  result = compress(model, data, SearchOptions(target_bytes=20_000), measure, print)
"""

from __future__ import annotations

import dataclasses
import time
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from converter.errors import ConverterError
from converter.sparsecomp import fold, prune, separation, size


@dataclasses.dataclass(frozen=True)
class SearchOptions:
  """What to reach and how hard to try.

  target_bytes: stored weight bytes (every constant buffer) to reach.
  max_drop: validation accuracy points the compressed model may lose.
  ram_bytes: peak runtime RAM the model must fit, or None.
  round_steps: optimizer steps per round; final_steps for the last one.
  density_step: a round multiplies the chosen layer's density by this.
  separation_energy: the rank rule of layer separation (fraction of the
    squared singular values kept); 0 turns separation off.
  checkpoint_bytes: sizes above target_bytes at which to save the model on
    the way (compress's `save`).
  augment: flip and crop RGB images while retraining (prune.TrainConfig).
  weight_bits: 8; 4 for int4 weights: a first round puts every prunable
    kernel on its -7..7 grid and retrains, every later round keeps it
    there; 2: the same, then a round per layer (most bytes first) moves it
    to the -2..2 grid, undone where the accuracy falls below the floor.
  distillation: weight of the input model's softened outputs in every
    retraining's loss (prune.TrainConfig).
  """
  target_bytes: int
  max_drop: float = 1.0
  seed: int = 0
  ram_bytes: Optional[int] = None
  round_steps: int = 300
  final_steps: int = 600
  batch_size: int = 64
  learning_rate: float = 2e-4
  density_step: float = 0.6
  separation_energy: float = 0.9
  max_rounds: int = 200
  checkpoint_bytes: Sequence[int] = ()
  augment: bool = False
  weight_bits: int = 8
  distillation: float = 0.0


@dataclasses.dataclass(frozen=True)
class Measurement:
  """A real conversion's counts: stored weight bytes, file bytes, peak RAM."""
  weight_bytes: int
  file_bytes: int
  ram_bytes: int


@dataclasses.dataclass(frozen=True)
class Round:
  """One step of the search, as the report lists it.

  kind: 'int4' or 'int2' (a grid round), 'separate', 'prune' or 'finetune'.
  bytes_before, bytes_after: estimated stored weight bytes of the model.
  accuracy: validation accuracy (0..1) after the step.
  kept: False when the step was undone (the layer became fragile, or a
    separation did not pay).
  """
  index: int
  kind: str
  layer: str
  detail: str
  bytes_before: int
  bytes_after: int
  accuracy: float
  kept: bool
  seconds: float


@dataclasses.dataclass(frozen=True)
class Checkpoint:
  """The model as it first fit `target_bytes`, after round `after_round`."""
  target_bytes: int
  measurement: Measurement
  accuracy: float
  after_round: int


@dataclasses.dataclass
class SearchResult:
  model: object
  baseline_accuracy: float
  accuracy: float
  densities: Dict[str, float]
  fragile: List[str]
  history: List[Round]
  folded: List[str]
  separated: List[str]
  measurement: Measurement
  initial: Measurement
  checkpoints: List[Checkpoint]
  settings: SearchOptions


Measure = Callable[[object], Measurement]
Progress = Callable[[str], None]
Save = Callable[[int, object], None]  # (checkpoint bytes, model)


# The mildest cut a round tries before its layer is called fragile.
_LAST_STEP = 0.9


class TargetNotReached(ConverterError):
  """The search ran out of non-fragile layers above the target.

  `smallest` is the smallest model kept, when rounds ran: an hour of search
  should not be lost to a target set a little too low.
  """

  def __init__(self, message: str, smallest: Optional[object] = None):
    super().__init__(message)
    self.smallest = smallest


def _kb(n: int) -> str:
  return f"{n / 1024:.1f} KB"


def _kb_flag(n: int) -> str:
  """n bytes as the --target-kb that gave them (0.9 KB is 921 B, not 0.9 x 1024)."""
  return f"{round(n / 1024, 2):g}"


class _Search:
  """State of one search: the model, its trainer and the byte estimate."""

  def __init__(self, model, x_train, y_train, x_val, y_val, options: SearchOptions,
               measure: Measure, progress: Progress, save: Optional[Save], teacher=None):
    """teacher: the uncompressed model, whose outputs every round learns
    from when options.distillation > 0; trained in place is `model` only."""
    self.options, self.measure, self.progress, self.save = options, measure, progress, save
    self.x_train, self.y_train, self.x_val, self.y_val = x_train, y_train, x_val, y_val
    self.history: List[Round] = []
    self.densities: Dict[str, float] = {}
    self.fragile: List[str] = []
    self.checkpoints: List[Checkpoint] = []
    self.pending = sorted((b for b in options.checkpoint_bytes if b > options.target_bytes),
                          reverse=True)
    self._other_bytes = 0
    self.teacher = teacher
    self.two_bit: List[str] = []  # layers the search moved to the -2..2 grid
    self.set_model(model)

  def set_model(self, model, other_bytes: Optional[int] = None) -> None:
    """Switches to another model (a separation or its undoing); other_bytes
    re-anchors the estimate when known, else calibrate() must run."""
    if other_bytes is not None:
      self._other_bytes = other_bytes
    # 2-bit layers are reached one at a time from the int4 grid.
    start_bits = 4 if self.options.weight_bits == 2 else self.options.weight_bits
    config = prune.TrainConfig(self.options.batch_size, self.options.learning_rate,
                               self.options.seed, self.options.augment,
                               start_bits, self.options.distillation)
    self.model = model
    self.trainer = prune.SparseTrainer(model, self.x_train, self.y_train, config, self.teacher)
    self.layers = {name: model.get_layer(name) for name in prune.prunable_layers(model)}
    self.trainer.layer_bits.update({name: 2 for name in self.two_bit if name in self.layers})

  def calibrate(self) -> Measurement:
    """Measures the model for real and re-anchors the byte estimate on it."""
    m = self.measure(self.model)
    self._other_bytes = m.weight_bytes - sum(self.layer_bytes(layer)
                                             for layer in self.layers.values())
    return m

  def layer_bytes(self, layer, kernel: Optional[np.ndarray] = None) -> int:
    """size.layer_bytes at the layer's weight bits."""
    return size.layer_bytes(layer, kernel, self.trainer.layer_bits[layer.name])

  @property
  def other_bytes(self) -> int:
    """Stored bytes outside the prunable layers' filters and biases."""
    return self._other_bytes

  def estimate(self) -> int:
    return self._other_bytes + sum(self.layer_bytes(layer) for layer in self.layers.values())

  def accuracy(self) -> float:
    return self.trainer.accuracy(self.x_val, self.y_val)

  def record(self, kind: str, layer: str, detail: str, before: int, after: int, accuracy: float,
             kept: bool, start: float) -> None:
    r = Round(len(self.history) + 1, kind, layer, detail, before, after, accuracy, kept,
              time.monotonic() - start)
    self.history.append(r)
    verdict = "kept" if kept else "undone"
    self.progress(f"round {r.index} {kind} {layer}: {detail}; {_kb(before)} -> {_kb(after)} "
                  f"(target {_kb(self.options.target_bytes)}), val acc {100 * accuracy:.2f}%: "
                  f"{verdict} ({r.seconds:.0f} s)")


def _check_ram(m: Measurement, options: SearchOptions) -> None:
  if options.ram_bytes is not None and m.ram_bytes > options.ram_bytes:
    raise ConverterError(f"the model needs {m.ram_bytes:,} B of runtime RAM, more than --ram-kb "
                         f"({options.ram_bytes:,} B); pruning does not lower activation memory: "
                         "give more RAM or a model with smaller feature maps")


def _pass_checkpoints(search: _Search) -> None:
  """Saves the model at every pending checkpoint its real bytes now fit."""
  if not search.pending or search.estimate() > search.pending[0]:
    return
  m = search.calibrate()  # the real bytes decide, as for the target
  passed = [b for b in search.pending if m.weight_bytes <= b]
  if not passed:
    return
  accuracy = search.accuracy()
  for target in passed:
    if search.save is not None:
      search.save(target, search.model)
    search.checkpoints.append(Checkpoint(target, m, accuracy, len(search.history)))
    search.progress(f"checkpoint {_kb(target)}: {m.weight_bytes:,} B of weights, val acc "
                    f"{100 * accuracy:.2f}%")
  search.pending = [b for b in search.pending if b not in passed]


def _separate(search: _Search, accuracy: float) -> List[str]:
  """Tries layer separation on each layer where it lowers the stored bytes
  (most bytes saved first); keeps it where validation accuracy does not drop."""
  options = search.options
  separated: List[str] = []
  for plan in separation.separable_layers(search.model, options.separation_energy):
    name = plan.layer
    if name in search.densities:  # its factors would be dense again
      continue
    start = time.monotonic()
    before = search.estimate()
    saved_model, saved_other = search.model, search.other_bytes
    new_model, _ = separation.separate(search.model, [name], options.separation_energy)
    search.set_model(new_model)
    search.trainer.train(search.densities, options.round_steps)  # the sparse stay sparse
    new_accuracy = search.accuracy()
    m = search.calibrate()
    ram_ok = options.ram_bytes is None or m.ram_bytes <= options.ram_bytes
    kept = new_accuracy >= accuracy and ram_ok
    detail = (f"{plan.kind} ranks {'x'.join(map(str, plan.ranks))}, dense {plan.bytes_before:,} "
              f"-> {plan.bytes_after:,} B" + ("" if ram_ok else f", RAM {m.ram_bytes:,} B"))
    if kept:
      accuracy = new_accuracy
      separated.append(name)
      search.record("separate", name, detail, before, search.estimate(), new_accuracy, True, start)
    else:
      after = search.estimate()
      search.set_model(saved_model, saved_other)
      search.record("separate", name, detail, before, after, new_accuracy, False, start)
  return separated


def _gain(search: _Search, layer, current_bytes: int, density: float, step: float) -> int:
  """Bytes a round would save on this layer (0 when it cannot shrink)."""
  trial = prune.project(prune.kernel_of(layer).numpy(), density * step)
  return current_bytes - search.layer_bytes(layer, trial)


def _gentler(step: float) -> float:
  """The step after a failed round: half the cut (0.6 -> 0.8 -> 0.9)."""
  return 1 - (1 - step) / 2


def _fewest_bytes(search: _Search, layer) -> int:
  """The layer's stored bytes with a single weight left."""
  return search.layer_bytes(layer, prune.project(prune.kernel_of(layer).numpy(), 0.0))


def _reachable_floor(search: _Search, current: Dict[str, int]) -> int:
  """The model's bytes if every layer in `current` (name: its bytes now)
  kept a single weight. The rounds stop once neither the target nor a
  pending checkpoint is above this: they could only shave bytes no result
  uses."""
  return search.estimate() - sum(current[name] - _fewest_bytes(search, search.layers[name])
                                 for name in current)


def _prune_rounds(search: _Search, floor: float) -> None:
  """Rounds until the target holds or every layer is fragile. A layer whose
  round fails is retried later with half the cut, down to a cut of a tenth
  (_LAST_STEP); when even that costs too much accuracy it is fragile."""
  options = search.options
  steps = {name: options.density_step for name in search.layers}
  while len(search.history) < options.max_rounds:
    _pass_checkpoints(search)
    estimate = search.estimate()
    if estimate <= options.target_bytes:
      m = search.calibrate()  # the real bytes decide
      if m.weight_bytes <= options.target_bytes:
        return
      search.progress(f"converted model holds {m.weight_bytes:,} B, the estimate said "
                      f"{estimate:,} B: going on")
      continue
    current = {name: search.layer_bytes(layer) for name, layer in search.layers.items()
               if name not in search.fragile}
    gains = {name: _gain(search, search.layers[name], current[name],
                         search.densities.get(name, 1.0), steps[name]) for name in current}
    gains = {name: gain for name, gain in gains.items() if gain > 0}
    if not gains:
      return
    reachable = _reachable_floor(search, current)
    if reachable > options.target_bytes and all(b < reachable for b in search.pending):
      search.progress(f"the layers not fragile cannot take the model below {_kb(reachable)}: "
                      "stopping")
      return
    name = max(gains, key=lambda n: (current[n], gains[n]))
    start = time.monotonic()
    snapshot = search.trainer.snapshot()
    old = search.densities.get(name, 1.0)
    search.densities[name] = old * steps[name]
    search.trainer.train(search.densities, options.round_steps)
    accuracy = search.accuracy()
    after = search.estimate()
    kept = accuracy >= floor
    detail = f"density {old:.3f} -> {search.densities[name]:.3f}"
    if not kept:
      search.densities[name] = old
      search.trainer.restore(snapshot)
      if steps[name] < _LAST_STEP:
        steps[name] = _gentler(steps[name])
        detail += f", next cut x{steps[name]:.2f}"
      else:
        search.fragile.append(name)
        detail += ", fragile"
    search.record("prune", name, detail, estimate, after, accuracy, kept, start)


def _to_int4(search: _Search, before: int, floor: float) -> float:
  """The first round of an int4 or 2-bit search: every prunable kernel onto
  its int4 grid, then retrained there as long as the final retraining (the
  whole model adapts, not one layer). Always kept: the rounds after it start
  from it, and judge each cut against the same floor."""
  start = time.monotonic()
  steps = max(search.options.round_steps, search.options.final_steps)
  search.trainer.train(search.densities, steps)
  accuracy = search.accuracy()
  m = search.calibrate()
  detail = f"every kernel on its int4 grid, {steps} steps"
  if accuracy < floor:
    detail += ", already below the floor"
  search.record("int4", "all", detail, before, m.weight_bytes, accuracy, True, start)
  return accuracy


def _two_bit_rounds(search: _Search, floor: float) -> None:
  """A round per layer, most bytes first, until the target holds: the layer
  onto the -2..2 grid (stored as 2-bit values), retrained; undone, the layer
  back on int4, when validation accuracy falls below the floor. Moving
  every layer at once costs more than moving those that take it."""
  options = search.options
  by_bytes = sorted(search.layers, key=lambda n: -search.layer_bytes(search.layers[n]))
  for name in by_bytes:
    before = search.estimate()
    if before <= options.target_bytes:
      return
    start = time.monotonic()
    snapshot = search.trainer.snapshot()
    search.trainer.layer_bits[name] = 2
    search.trainer.train(search.densities, options.round_steps)
    accuracy = search.accuracy()
    after = search.estimate()
    kept = accuracy >= floor
    if kept:
      search.two_bit.append(name)
    else:
      search.trainer.layer_bits[name] = 4
      search.trainer.restore(snapshot)
    search.record("int2", name, "onto the -2..2 grid", before, after, accuracy, kept, start)
    _pass_checkpoints(search)


def _finetune(search: _Search, reached: int) -> Measurement:
  """Retrains with every density fixed; undone if validation accuracy drops
  or int8 rounding leaves more non-zeros than the target allows."""
  options = search.options
  start = time.monotonic()
  snapshot, before_accuracy = search.trainer.snapshot(), search.accuracy()
  search.trainer.train(search.densities, options.final_steps)
  accuracy = search.accuracy()
  after = search.calibrate()
  kept = accuracy >= before_accuracy and after.weight_bytes <= options.target_bytes
  search.record("finetune", "all", f"{options.final_steps} steps", reached, after.weight_bytes,
                accuracy, kept, start)
  if kept:
    return after
  search.trainer.restore(snapshot)
  return search.calibrate()


def compress(model, x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray,
             y_val: np.ndarray, options: SearchOptions, measure: Measure,
             progress: Progress, save: Optional[Save] = None) -> SearchResult:
  """Compresses a float tf_keras model until its stored weights fit
  options.target_bytes.

  Args:
    model: the float model (not modified).
    x_train, y_train: samples to retrain on; x_val, y_val: the validation
      split that judges every round (never the test split).
    measure: converts a model for real (int8, sparse formats) and counts it.
    progress: receives one line per step.
    save: receives (checkpoint bytes, model) at each of
      options.checkpoint_bytes the model passes.

  Returns:
    The compressed float model (exact zeros where pruned) and the history.

  Raises:
    TargetNotReached: every layer left is fragile and the model is still
      above the target; says the smallest size reached and the fragile layers,
      and holds that model.
    ConverterError: the model needs more RAM than options.ram_bytes.
  """
  import tensorflow as tf
  import tf_keras
  tf_keras.utils.set_random_seed(options.seed)
  tf.config.experimental.enable_op_determinism()  # same seed, same model
  folded = [f"{bn} -> {layer}" for bn, layer in fold.plan_fold(model).folds.items()]
  folded_model = fold.fold_batchnorm(model)
  search = _Search(folded_model, x_train, y_train, x_val, y_val, options, measure, progress,
                   save, teacher=model)
  initial = search.calibrate()
  _check_ram(initial, options)
  # A model pruned before (a checkpoint, say) keeps its zeros: its sparse
  # layers start constrained at the density they have.
  search.densities = {name: d for name, d in search.trainer.densities().items() if d < 1}
  if search.densities:
    progress("already sparse, kept at their density: " + ", ".join(
        f"{name} {d:.3f}" for name, d in search.densities.items()))
  baseline = search.accuracy()
  floor = baseline - options.max_drop / 100
  progress(f"start: {initial.weight_bytes:,} B of weights ({initial.file_bytes:,} B file), "
           f"target {options.target_bytes:,} B; val acc {100 * baseline:.2f}%, floor "
           f"{100 * floor:.2f}%; {len(search.layers)} prunable layers")
  accuracy = baseline  # what a separation must not lose
  if options.weight_bits < 8:
    accuracy = _to_int4(search, initial.weight_bytes, floor)
  _pass_checkpoints(search)
  fewest = _reachable_floor(search, {name: search.layer_bytes(layer)
                                     for name, layer in search.layers.items()})
  if fewest > options.target_bytes:
    raise TargetNotReached(
        f"--target-kb {_kb_flag(options.target_bytes)} cannot be reached: with a single weight "
        f"per layer the model still stores {fewest:,} B ({_kb(fewest)}) of biases and other "
        "constants; raise --target-kb")
  separated: List[str] = []
  if search.estimate() > options.target_bytes and options.separation_energy > 0:
    separated = _separate(search, accuracy)
  if options.weight_bits == 2:
    _two_bit_rounds(search, floor)
  if search.estimate() > options.target_bytes:
    _prune_rounds(search, floor)
    _pass_checkpoints(search)  # the last round's, when the rounds ran out
  final = search.calibrate()
  reached = final.weight_bytes
  if reached > options.target_bytes:
    raise TargetNotReached(
        f"--target-kb {_kb_flag(options.target_bytes)} not reached: the smallest model kept "
        f"stores {reached:,} B ({_kb(reached)}) of weights at val acc "
        f"{100 * search.accuracy():.2f}% (floor {100 * floor:.2f}%); fragile layers: "
        f"{', '.join(search.fragile) or 'none'}; "
        "raise --target-kb or --max-drop", smallest=search.model)
  if (search.densities or search.two_bit) and options.final_steps > 0:
    final = _finetune(search, reached)
  return SearchResult(
      model=search.model, baseline_accuracy=baseline, accuracy=search.accuracy(),
      densities=search.trainer.densities(), fragile=list(search.fragile),
      history=search.history, folded=folded, separated=separated, measurement=final,
      initial=initial, checkpoints=search.checkpoints, settings=options)
