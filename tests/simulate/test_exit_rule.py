"""FreeML's exit rule (converter/simulate/exit_rule.py): it finishes the
network when energy and time allow, answers from the exit with the best
accuracy per joule when the harvest is weak, and counts work exactly as
the runtime does."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from converter import datasets
from converter.evaluate import model_inputs
from converter.gnet import graph
from converter.simulate import exit_rule
from tflm_freeml.intermittent import IntermittentRuntime, Supervisor
from tflm_freeml.runtime import Runtime

# One exit at 20% of the work, 60% right on the inputs it is not sure of,
# against 90% at the network's end.
VALUES = exit_rule.StopValues(work=(200, 1000), accuracy=[(0.6, 0.9)], source="test")
MCU_W = 3e-3
OUTLOOK = exit_rule.Outlook(idle_s=0.0, period_s=0.0, harvest_w=1e-3, mcu_w=MCU_W,
                            joules_per_work=1e-7, seconds_per_work=1e-7 / MCU_W,
                            charge_j=1e-4, overhead_j=1e-5)


def test_weak_harvest_back_to_back_answers_from_the_exit():
  """Energy-bound: 0.6 per 200 units beats 0.9 per 1000, so a second is
  worth 0.6 / (200 units' harvest time) and going on gains too little."""
  assert exit_rule.answer_rate(VALUES, OUTLOOK) == pytest.approx(
      0.6 / exit_rule.harvest_seconds(200, OUTLOOK))
  assert exit_rule.best_stop(VALUES, 200, OUTLOOK) == 0
  assert exit_rule.work_allowed(VALUES, 200, OUTLOOK) == 0


def test_time_before_the_next_input_is_free():
  """The harvest pays for the rest in about 0.09 s: with the next input a
  second away the device would idle, so the end's accuracy wins; with
  inputs waiting back to back, the exit does."""
  assert exit_rule.harvest_seconds(800, OUTLOOK) < 0.1
  slow = dataclasses.replace(OUTLOOK, idle_s=1.0, period_s=1.0)
  assert exit_rule.best_stop(VALUES, 200, slow) == 1
  assert exit_rule.work_allowed(VALUES, 200, slow) == 800
  assert exit_rule.best_stop(VALUES, 200, dataclasses.replace(slow, idle_s=0.0,
                                                              period_s=0.0)) == 0


def test_a_harvest_above_the_draw_runs_at_compute_speed():
  strong = dataclasses.replace(OUTLOOK, harvest_w=5e-3)
  assert exit_rule.harvest_seconds(1000, strong) == 0.0
  assert exit_rule.seconds_for(800, strong) == pytest.approx(800 * OUTLOOK.seconds_per_work)
  # Back to back, time is what answers cost: 0.6 in 200 units' compute is
  # 3x the end's rate and the end gains 0.3 for 4x the time; an input
  # every 0.05 s leaves time to finish.
  assert exit_rule.best_stop(VALUES, 200, strong) == 0
  assert exit_rule.best_stop(
      VALUES, 200, dataclasses.replace(strong, idle_s=0.05, period_s=0.05)) == 1


def test_every_charge_pays_its_overhead():
  spent = OUTLOOK.charge_j * MCU_W / (MCU_W - OUTLOOK.harvest_w)
  expected = 1000 * 1e-7 * spent / (spent - OUTLOOK.overhead_j) / OUTLOOK.harvest_w
  assert exit_rule.harvest_seconds(1000, OUTLOOK) == pytest.approx(expected)
  assert exit_rule.seconds_for(1000, OUTLOOK) == pytest.approx(expected)


def test_no_harvest_or_no_charge_left_after_a_boot_never_gets_there():
  assert exit_rule.harvest_seconds(800, dataclasses.replace(OUTLOOK, harvest_w=0.0)) == math.inf
  assert exit_rule.harvest_seconds(800, dataclasses.replace(OUTLOOK, overhead_j=1e-3)) == \
      math.inf
  assert exit_rule.best_stop(VALUES, 200, dataclasses.replace(OUTLOOK, harvest_w=0.0)) == 0


def test_unknown_accuracy_leaves_it_to_confidence():
  unknown = exit_rule.StopValues(work=(200, 1000), accuracy=[(None, None)], source="test")
  assert exit_rule.best_stop(unknown, 200, OUTLOOK) == 1


def test_report_table_and_its_fallback():
  report = {"gnet": {"exits": [{"float_validation_accuracy": 0.7}],
                     "validation": {"full_accuracy": 0.9, "stop_accuracy": [[0.5, 0.85]]}}}
  assert exit_rule.StopValues.from_report(report, [200, 1000]).accuracy == [(0.5, 0.85)]
  del report["gnet"]["validation"]["stop_accuracy"]
  assert exit_rule.StopValues.from_report(report, [200, 1000]).accuracy == [(0.7, 0.9)]


class _Recorder(Supervisor):
  def __init__(self):
    self.work_done = []

  def available(self, work_done: int) -> int:
    self.work_done.append(work_done)
    return 2**63


def test_exit_work_is_the_runtimes_count(digits_gnet_out):
  """The runtime asks the port before every tile once exit 0 is done: right
  after each exit's op with exactly exit_work's count, last before the
  network's last tile."""
  model = graph.set_thresholds((digits_gnet_out / "model.tflite").read_bytes(),
                               [graph.NEVER] * 3)
  it = IntermittentRuntime(model)
  work = exit_rule.exit_work([op.work for op in it.ops], it.exit_ops)
  x = model_inputs(datasets.load("digits").x_test[:1], Runtime(model).inputs[0])
  recorder = _Recorder()
  assert it.boot(it.new_nvm(), [x], supervisor=recorder).done
  asked = recorder.work_done
  assert asked[0] == work[0] and set(work[:-1]) <= set(asked)
  assert np.all(np.diff(asked) > 0) and asked[-1] < work[-1]


def test_when_nothing_more_can_be_paid_the_exit_answers():
  broke = dataclasses.replace(OUTLOOK, overhead_j=1e-3)
  assert exit_rule.answer_rate(VALUES, broke) == 0.0
  assert exit_rule.best_stop(VALUES, 200, broke) == 0


def test_energy_the_capacitor_would_spill_is_free():
  """Next input 50 ms away: the harvest needs about 86 ms for the rest, so
  the exit answers; if the full capacitor would spill that energy anyway,
  the network finishes."""
  soon = dataclasses.replace(OUTLOOK, idle_s=0.05, period_s=0.05)
  assert exit_rule.best_stop(VALUES, 200, soon) == 0
  assert exit_rule.best_stop(VALUES, 200, dataclasses.replace(soon, spare_j=1e-4)) == 1
