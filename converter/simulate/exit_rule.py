"""FreeML's energy-aware exit rule, as the device's energy port would apply
it: at an exit whose confidence fell short, answer now or go on to a later
exit, whichever gives more correct answers per second.

The runtime asks the port, before each tile once an exit is reached, how
much work it may still spend (freeml_energy_port); it answers from the
latest exit when that is less than the work to the next one. This rule
returns the work to the stop j that maximises

    accuracy(k -> j) / max(period, elapsed + time to reach j)

where k is the latest exit reached, accuracy(k -> j) the validation
accuracy of answering at j for inputs not confident up to k (the
converter's stop_accuracy table, docs/gnet.md), elapsed the time since the
device took up the input, and the time to reach j what the energy needs:
the capacitor's charge above v_off first, then the harvest (its mean over
the last 30 s, as a device measures its charger), each charge
paying a boot. Waiting for energy thus costs what it costs in answers: a
strong supply or a slow input stream lets the network finish; a weak one
answers from the exit whose accuracy per joule is best.
"""

from __future__ import annotations

import dataclasses
import math
from typing import List, Optional, Sequence

HARVEST_WINDOW_S = 30.0


@dataclasses.dataclass(frozen=True)
class StopValues:
  """What each stop costs and is worth: work[j] is the runtime's work from
  the input to exit j's answer (the last: the network's end); accuracy[k]
  lists the accuracies of stopping at j = k, k+1, .. for inputs that reach
  exit k unconfident (None: not measured)."""
  work: Sequence[int]
  accuracy: Sequence[Sequence[Optional[float]]]
  source: str

  @classmethod
  def from_report(cls, report: dict, exit_work: Sequence[int]) -> "StopValues":
    """The converter report's table (gnet.validation.stop_accuracy); an
    older report without it gives each exit's validation accuracy, the
    same for every row."""
    gnet = report.get("gnet") or {}
    validation = gnet.get("validation") or {}
    table = validation.get("stop_accuracy")
    if table and len(table) == len(exit_work) - 1:
      return cls(tuple(exit_work), [tuple(row) for row in table], "validation stop accuracy")
    flat = [e.get("float_validation_accuracy") for e in gnet.get("exits", [])] + \
        [validation.get("full_accuracy")]
    if len(flat) != len(exit_work):
      flat = [None] * len(exit_work)
    return cls(tuple(exit_work), [tuple(flat[k:]) for k in range(len(exit_work) - 1)],
               "validation accuracy per exit")


@dataclasses.dataclass(frozen=True)
class Outlook:
  """What the device knows when it decides."""
  elapsed_s: float  # since it took up this input, off time included
  period_s: float  # between inputs (0: back to back)
  bank_j: float  # the capacitor's energy above v_off
  harvest_w: float  # recent harvest after the converter
  mcu_w: float  # the MCU's draw while it runs
  joules_per_work: float
  seconds_per_work: float
  charge_j: float  # the capacitor's energy from v_off to v_on
  overhead_j: float  # what each charge loses: a boot, and half a tile on average


def seconds_to(work: float, now: Outlook) -> float:
  """Time to do `work` units from now: running on the bank, then on the
  harvest, whose energy every charge pays a boot out of."""
  compute = work * now.seconds_per_work
  need = work * now.joules_per_work
  if now.harvest_w >= now.mcu_w or need <= now.bank_j:
    return compute
  # Per charge the MCU runs charge_j * mcu / (mcu - harvest) joules, all
  # of them harvested, of which the overhead is lost.
  spent = now.charge_j * now.mcu_w / (now.mcu_w - now.harvest_w)
  if now.harvest_w <= 0 or spent <= now.overhead_j:
    return math.inf
  harvested = (need - now.bank_j) * spent / (spent - now.overhead_j)
  return max(compute, now.bank_j / now.mcu_w + harvested / now.harvest_w)


def best_stop(values: StopValues, work_done: int, now: Outlook) -> int:
  """The stop (an exit, or len(values.work) - 1: the end) with the most
  correct answers per second; the latest reached exit when nothing is
  known."""
  reached = [j for j, w in enumerate(values.work[:-1]) if w <= work_done]
  k = reached[-1]
  best, best_rate = k, -1.0
  for j, accuracy in enumerate(values.accuracy[k], start=k):
    if accuracy is None:
      return len(values.work) - 1 if j == k else best
    seconds = now.elapsed_s + seconds_to(max(values.work[j] - work_done, 0), now)
    rate = accuracy / max(now.period_s, seconds, 1e-9)
    if rate > best_rate:
      best, best_rate = j, rate
  return best


def work_allowed(values: StopValues, work_done: int, now: Outlook) -> int:
  """The energy port's answer: the work to the best stop (0: answer now)."""
  return int(values.work[best_stop(values, work_done, now)] - work_done)


def exit_work(op_work: Sequence[int], exit_ops: Sequence[int]) -> List[int]:
  """Work from the input to each exit's answer and to the network's end,
  as the runtime counts it (per op: units x MACs per unit, at least 1)."""
  return [sum(op_work[:op + 1]) for op in exit_ops] + [sum(op_work)]
