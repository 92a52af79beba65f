"""FreeML's energy-aware exit rule, as the device's energy port would apply
it: at an exit whose confidence fell short, answer now or go on to a later
exit, whichever gives more correct answers over time.

The runtime asks the port, before each tile once an exit is reached, how
much work it may still spend (freeml_energy_port); it answers from the
latest exit when that is less than the work to the next one. This rule
returns the work to the stop j (k, the latest exit reached: answer now; a
later exit; or the network's end) that maximises

    accuracy(k -> j) - rate * extra time(j)

accuracy(k -> j): the validation accuracy of answering at j for inputs not
confident up to k (the converter's stop_accuracy table, docs/gnet.md).
extra time(j): how much later than now, or than the next input's arrival
if that is later, the device is free: the remaining work's compute time,
or the time the harvest (its mean over the last 30 s, as a device
measures its charger) takes to pay for it, each charge of the capacitor
paying a boot; energy the full capacitor would spill before the next
input arrives is free. rate: what a second of the device is worth, the correct
answers per second of a stream of inputs each answered at the best single
stop for the present harvest. The rule goes on while the accuracy it gains
is worth more than the answers the time would give elsewhere (optimal
stopping with the long-run rate as the price of time): a strong supply or
a slow input stream lets the network finish, a weak one or a queue of
waiting inputs answers from the exit whose accuracy per joule is best.
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
  idle_s: float  # until the next input arrives (0: it is waiting)
  period_s: float  # between inputs (0: back to back)
  harvest_w: float  # recent harvest after the converter
  mcu_w: float  # the MCU's draw while it runs
  joules_per_work: float
  seconds_per_work: float
  charge_j: float  # the capacitor's energy from v_off to v_on
  overhead_j: float  # what each charge loses: a boot, and half a tile on average
  spare_j: float = 0.0  # what the capacitor would spill above v_max before the next input


def harvest_seconds(work: float, now: Outlook, spare_j: float = 0.0) -> float:
  """Time the harvest takes to pay for `work` units beyond `spare_j`, each
  charge of the capacitor losing its overhead; 0 when the harvest covers
  the MCU's draw."""
  need = work * now.joules_per_work - spare_j
  if need <= 0 or now.harvest_w >= now.mcu_w:
    return 0.0
  # Per charge the MCU runs charge_j * mcu / (mcu - harvest) joules, all
  # of them harvested, of which the overhead is lost.
  spent = now.charge_j * now.mcu_w / (now.mcu_w - now.harvest_w)
  if now.harvest_w <= 0 or spent <= now.overhead_j:
    return math.inf
  return need * spent / (spent - now.overhead_j) / now.harvest_w


def seconds_for(work: float, now: Outlook, spare_j: float = 0.0) -> float:
  """Time `work` units take: to compute, or for the harvest to pay."""
  return max(work * now.seconds_per_work, harvest_seconds(work, now, spare_j))


def answer_rate(values: StopValues, now: Outlook) -> float:
  """Correct answers per second a stream of fresh inputs gets, each
  answered at the best single stop for the present harvest: what a second
  of the device is worth."""
  best = 0.0
  for j, accuracy in enumerate(values.accuracy[0] if values.accuracy else ()):
    if accuracy is not None:
      best = max(best, accuracy / max(now.period_s, seconds_for(values.work[j], now), 1e-9))
  return best


def best_stop(values: StopValues, work_done: int, now: Outlook) -> int:
  """The stop (an exit, or len(values.work) - 1: the end) whose accuracy,
  less the answers the device's extra time is worth elsewhere, is highest;
  the end when nothing is known. Time before the next input arrives costs
  nothing, and so does energy the capacitor would spill before then; what
  has been spent already does not count."""
  k = latest_exit(values.work, work_done)
  worth = answer_rate(values, now)
  best, best_value = k, -math.inf
  for j, accuracy in enumerate(values.accuracy[k], start=k):
    if accuracy is None:
      return len(values.work) - 1 if j == k else best
    rest = max(values.work[j] - work_done, 0)
    extra = max(now.idle_s, seconds_for(rest, now, now.spare_j)) - now.idle_s
    if extra == math.inf:  # the harvest cannot pay for it
      continue
    value = accuracy - worth * extra
    if value > best_value:
      best, best_value = j, value
  return best


def work_allowed(values: StopValues, work_done: int, now: Outlook) -> int:
  """The energy port's answer: the work to the best stop (0: answer now)."""
  return int(values.work[best_stop(values, work_done, now)] - work_done)


def latest_exit(work: Sequence[int], work_done: int) -> int:
  """The latest exit reached after `work_done` units (work: exit_work's
  list; -1 before exit 0)."""
  return sum(w <= work_done for w in work[:-1]) - 1


def exit_work(op_work: Sequence[int], exit_ops: Sequence[int]) -> List[int]:
  """Work from the input to each exit's answer and to the network's end,
  as the runtime counts it (per op: units x MACs per unit, at least 1)."""
  return [sum(op_work[:op + 1]) for op in exit_ops] + [sum(op_work)]
