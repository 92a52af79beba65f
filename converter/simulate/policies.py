"""Exit policies compared on the same trace and inputs, and what each
delivered.

  full        no exit: the network always runs to its end
  freeml      FreeML: an exit answers when its confidence meets its
              calibrated threshold, or when going on would give fewer
              correct answers per second for the energy at hand
              (exit_rule.py)
  confidence  the calibrated thresholds alone
  exit-K      always answer at exit K (a fixed early exit)
  branches    per-exit branches in place of gNet (BranchyNet): a branch
              answers when its confidence meets its calibrated threshold,
              else the network goes on
  branches-energy  the same branches answering as freeml does: FreeML's
              exit rule with the branches' own table (what per-exit heads
              would add to FreeML's policy, at their bytes)

The caller gives the branches (bench/energy_policies.py trains them).

Each policy is the same model with its exit thresholds rewritten (256:
never by confidence, 0: always) and the energy port on or off.

Example:
  x, y, _ = draw_inputs(model, "digits", 20, seed=0)
  sims, summaries, notes = compare(model, report, ["full", "freeml"], x, y, setting)
"""

from __future__ import annotations

import dataclasses
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from converter.errors import ConverterError
from converter.gnet import graph
from converter.simulate import cosim, exit_rule
from converter.simulate.cosim import Simulation
from converter.simulate.energy import Capacitor, Mcu
from converter.simulate.traces import PowerTrace
from tflm_freeml.intermittent import IntermittentRuntime

BRANCH_POLICIES = ("branches", "branches-energy")


@dataclasses.dataclass(frozen=True)
class Policy:
  name: str
  energy_aware: bool
  thresholds: Optional[List[int]]  # None: the model's calibrated ones


def policy(name: str, calibrated: Sequence[int]) -> Policy:
  exits = len(calibrated)
  if exits == 0:
    if name != "full":
      raise ConverterError(f"policy '{name}': this model has no exits, only 'full' runs")
    return Policy(name, False, None)
  if name == "full":
    return Policy(name, False, [graph.NEVER] * exits)
  if name == "freeml":
    return Policy(name, True, None)
  if name == "confidence":
    return Policy(name, False, None)
  if name in BRANCH_POLICIES:
    raise ConverterError(f"policy '{name}' needs trained per-exit branches "
                         "(bench/energy_policies.py runs it)")
  if name.startswith("exit-") and name[5:].isdigit() and int(name[5:]) < exits:
    k = int(name[5:])
    return Policy(name, False, [0 if i == k else graph.NEVER for i in range(exits)])
  raise ConverterError(f"policy '{name}': one of full, freeml, confidence, exit-0 .. "
                       f"exit-{exits - 1}")


def draw_inputs(model: bytes, data_name: str, count: int, seed: int):
  """`count` test inputs drawn with `seed`: (inputs (count, 1, ...) in the
  model's input type, labels, their indices in the test split)."""
  from converter import datasets
  from converter.evaluate import model_inputs
  from tflm_freeml.runtime import Runtime
  data = datasets.load(data_name)
  chosen = np.random.default_rng(seed).permutation(len(data.x_test))[:count]
  return (model_inputs(data.x_test[chosen], Runtime(model).inputs[0])[:, None],
          data.y_test[chosen], chosen)


@dataclasses.dataclass(frozen=True)
class Setting:
  """The device and its supply, the same for every policy."""
  trace: PowerTrace
  capacitor: Capacitor
  mcu: Mcu
  efficiency: float
  period_s: float
  deadline_s: float


def compare(model: bytes, report: dict, names: Sequence[str], x: np.ndarray,
            y: Optional[np.ndarray], setting: Setting,
            branches: Optional[cosim.Branches] = None,
            progress: Callable[[str], None] = lambda line: None
            ) -> Tuple[Dict[str, Simulation], List[Summary], Dict[str, str]]:
  """Runs every named policy (BRANCH_POLICIES need `branches`) on the same
  inputs and trace; report: the converter's report.json of the model.
  Returns the simulations, their summaries, and notes for the report: where
  the instruction counts and the exit rule's table came from, the tiles."""
  plan = graph.read_plan(model)
  calibrated = [] if plan is None else list(plan.thresholds)
  exits = len(calibrated)
  tiles = cosim.tile_budget(setting.capacitor, setting.mcu)
  expected = uninterrupted_answers(model, x)
  sims: Dict[str, Simulation] = {}
  summaries: List[Summary] = []
  notes = {"tiles": "the runtime's defaults" if tiles == (0, 0) else
           f"at most {tiles[0]:,} MACs and {tiles[1]:,} output bytes (one fits in half a "
           "charge)"}
  for name in names:
    start = time.monotonic()
    run_branches = branches if name in BRANCH_POLICIES else None
    chosen = policy(name, calibrated) if run_branches is None else \
        Policy(name, name == "branches-energy", [graph.NEVER] * exits)
    it = IntermittentRuntime(model_for(model, chosen), *tiles)
    work = exit_rule.exit_work([op.work for op in it.ops], it.exit_ops)
    costs = cosim.Costs.from_report(report, it)
    if run_branches is None:
      stops, truth = exit_rule.StopValues.from_report(report, work), expected
      notes.update({"instructions": costs.source, "FreeML's exit rule": stops.source})
    else:
      stops = exit_rule.StopValues(work, run_branches.stop_accuracy, "the branches' validation")
      truth = np.concatenate([run_branches.answers, expected[:, -1:]], axis=1)
    sim = cosim.simulate(it, x, y, setting.trace, setting.capacitor, setting.mcu, costs,
                         setting.efficiency, stops if chosen.energy_aware else None,
                         setting.period_s, branches=run_branches)
    sims[name] = sim
    s = summarize(name, sim, exits, setting.deadline_s, (len(x) - 1) * setting.period_s, truth)
    summaries.append(s)
    progress(f"{name}: {s.answers} answers, {100 * s.accuracy:.1f}% right, "
             f"{s.correct_per_minute:.2f} correct/min, {s.failures} power failures in "
             f"{s.simulated_s:.1f} s simulated ({time.monotonic() - start:.1f} s)")
  return sims, summaries, notes


def model_for(model: bytes, chosen: Policy) -> bytes:
  return model if chosen.thresholds is None else graph.set_thresholds(model, chosen.thresholds)


@dataclasses.dataclass(frozen=True)
class Summary:
  """What a policy delivered over the simulated time."""
  policy: str
  answers: int
  accuracy: float  # of the answers delivered
  correct_per_minute: float
  mean_latency_s: float
  energy_per_inference_mj: float
  wasted_mj: float  # on work power failures cut short
  failures: int
  deadline_misses: int  # answers later than the deadline
  answers_per_exit: List[int]  # the last: the network's end
  simulated_s: float
  stalled: str
  changed_by_failures: int  # answers unlike an uninterrupted run's at the same exit


def uninterrupted_answers(model: bytes, x: np.ndarray) -> np.ndarray:
  """(inputs, exits + 1): the top class each exit, and the network's end,
  gives in one uninterrupted run of the plain runtime."""
  from tflm_freeml.runtime import Runtime
  runtime = Runtime(model)
  rows = []
  for inputs in x:
    outputs, logits = runtime.invoke_exits([inputs])
    rows.append([int(np.argmax(row)) for row in logits[:len(runtime.exits)]] +
                [int(np.argmax(outputs[0]))])
  return np.array(rows)


def summarize(name: str, sim: Simulation, exits: int, deadline_s: float,
              arrivals_end_s: float = 0.0, expected: Optional[np.ndarray] = None) -> Summary:
  """Rates are per minute of the longer of the simulation and the inputs'
  arrivals (arrivals_end_s: when the last input arrived); expected:
  uninterrupted_answers (-1 when not given)."""
  done = sim.inferences
  correct = [r.correct for r in done if r.correct is not None]
  span = max(sim.time_s, arrivals_end_s)
  minutes = span / 60.0 if span > 0 else float("inf")
  return Summary(
      policy=name, answers=len(done),
      accuracy=float(np.mean(correct)) if correct else float("nan"),
      correct_per_minute=float(sum(correct)) / minutes,
      mean_latency_s=float(np.mean([r.latency_s for r in done])) if done else float("nan"),
      energy_per_inference_mj=1e3 * float(np.mean([r.energy_j for r in done]))
      if done else float("nan"),
      wasted_mj=1e3 * sum(r.wasted_j for r in done),
      failures=sum(r.failures for r in done),
      deadline_misses=sum(r.latency_s > deadline_s for r in done),
      answers_per_exit=np.bincount([r.exit for r in done], minlength=exits + 1).tolist(),
      simulated_s=span, stalled=sim.stalled,
      changed_by_failures=-1 if expected is None else int(sum(
          r.answer != expected[n, r.exit] for n, r in enumerate(done))))


def exit_accuracy(sims: Dict[str, Simulation], exits: int) -> List[float]:
  """Accuracy of the answers each exit gave, over every policy's runs."""
  right = np.zeros(exits + 1)
  total = np.zeros(exits + 1)
  for sim in sims.values():
    for r in sim.inferences:
      if r.correct is not None:
        total[r.exit] += 1
        right[r.exit] += r.correct
  return [float(right[k] / total[k]) if total[k] else float("nan") for k in range(exits + 1)]
