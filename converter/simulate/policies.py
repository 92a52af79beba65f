"""Exit policies compared on the same trace and inputs, and what each
delivered.

  full        no exit: the network always runs to its end
  freeml      FreeML: an exit answers when its confidence meets its
              calibrated threshold, or when the energy left cannot reach
              the next exit
  confidence  the calibrated thresholds alone
  exit-K      always answer at exit K (a fixed early exit)

Each policy is the same model with its exit thresholds rewritten (256:
never by confidence, 0: always) and the energy port on or off.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional, Sequence

import numpy as np

from converter.errors import ConverterError
from converter.gnet import graph
from converter.simulate.cosim import Simulation


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
  if name.startswith("exit-") and name[5:].isdigit() and int(name[5:]) < exits:
    k = int(name[5:])
    return Policy(name, False, [0 if i == k else graph.NEVER for i in range(exits)])
  raise ConverterError(f"policy '{name}': one of full, freeml, confidence, exit-0 .. "
                       f"exit-{exits - 1}")


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


def summarize(name: str, sim: Simulation, exits: int, deadline_s: float,
              arrivals_end_s: float = 0.0) -> Summary:
  """Rates are per minute of the longer of the simulation and the inputs'
  arrivals (arrivals_end_s: when the last input arrived)."""
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
      simulated_s=span, stalled=sim.stalled)


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
