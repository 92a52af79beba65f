"""The co-simulation (converter/simulate/cosim.py): the real runtime on a
simulated device. Power fails where the capacitor runs out, yet no answer
is wrong because of it; a run repeats exactly; the joules balance; the
energy-aware policy answers from exits when energy is short."""

from __future__ import annotations

import json

import numpy as np
import pytest

from converter import datasets
from converter.errors import ConverterError
from converter.evaluate import model_inputs
from converter.gnet import graph
from converter.simulate import cosim, exit_rule, traces
from converter.simulate.energy import MCU_PRESETS, Capacitor
from tflm_freeml.intermittent import IntermittentRuntime
from tflm_freeml.runtime import Runtime

MSP430 = MCU_PRESETS["msp430fr5994-8mhz"]
CAPACITOR = Capacitor(470e-6)


@pytest.fixture(scope="module")
def model(digits_gnet_out) -> bytes:
  """The gNet model answering early only for energy (thresholds never met)."""
  return graph.set_thresholds((digits_gnet_out / "model.tflite").read_bytes(), [graph.NEVER] * 3)


@pytest.fixture(scope="module")
def stops(digits_gnet_out, model) -> exit_rule.StopValues:
  it = IntermittentRuntime(model)
  report = json.loads((digits_gnet_out / "report.json").read_text())
  return exit_rule.StopValues.from_report(
      report, exit_rule.exit_work([op.work for op in it.ops], it.exit_ops))


@pytest.fixture(scope="module")
def inputs(model):
  data = datasets.load("digits")
  return model_inputs(data.x_test[:12], Runtime(model).inputs[0])[:, None], data.y_test[:12]


def _run(model, inputs, trace="square:3e-3:2e-4:2", capacitor=CAPACITOR, **options):
  """Confidence alone unless options give `stops` (FreeML's rule)."""
  it = IntermittentRuntime(model)
  x, y = inputs
  return cosim.simulate(it, x, y, traces.load(trace, duration_s=600), capacitor, MSP430,
                        cosim.Costs.modelled(it), **options)


def test_answers_survive_power_failures(model, inputs, stops):
  sim = _run(model, inputs, stops=stops)
  assert not sim.stalled and len(sim.inferences) == len(inputs[0])
  assert sum(r.failures for r in sim.inferences) > 0
  rt = Runtime(model)
  for r, x in zip(sim.inferences, inputs[0], strict=True):
    outputs, logits = rt.invoke_exits([x])
    expected = logits[r.exit] if r.exit < len(rt.exits) else outputs[0].reshape(-1)
    assert r.answer == int(np.argmax(expected))


def test_same_arguments_same_run(model, inputs, stops):
  first, second = _run(model, inputs, stops=stops), _run(model, inputs, stops=stops)
  assert first.inferences == second.inferences and first.time_s == second.time_s


def test_energy_balance(model, inputs):
  sim = _run(model, inputs, capacitor=Capacitor(470e-6, leakage_a=1e-6))
  ledger = sim.ledger
  assert ledger.harvested > 0 and ledger.used > 0
  assert abs(ledger.balance(sim.stored_change_j)) <= 1e-9 * ledger.harvested
  assert sum(r.energy_j for r in sim.inferences) <= ledger.used + 1e-12


def test_energy_aware_policy_takes_exits(model, inputs, stops):
  """A supply short of the load, inputs back to back: an exit's answers
  per joule beat the network's end."""
  weak = dict(trace="constant:2.5e-3", capacitor=Capacitor(220e-6))
  aware = _run(model, inputs, stops=stops, **weak)
  blind = _run(model, inputs, **weak)
  exits = len(Runtime(model).exits)
  assert all(r.exit == exits for r in blind.inferences)
  assert any(r.exit < exits for r in aware.inferences)


def test_a_supply_that_cannot_boot_stalls(model, inputs):
  sim = _run(model, inputs, trace="constant:1e-5", capacitor=Capacitor(10e-6), max_failures=20)
  assert sim.inferences == [] and "failed 20 times" in sim.stalled


def test_inputs_arrive_on_their_period(model, inputs):
  """Input n arrives at n * period and is taken up once it has arrived and
  the device is free; its latency counts from its arrival."""
  sim = _run(model, inputs, period_s=5.0)
  previous_answer = 0.0
  for n, r in enumerate(sim.inferences):
    assert r.arrived_s == n * 5.0
    assert r.started_s == pytest.approx(max(r.arrived_s, previous_answer))
    previous_answer = r.arrived_s + r.latency_s
    assert previous_answer > r.started_s


def test_no_early_answer_when_the_harvest_covers_the_load(model, inputs, stops):
  """The energy port counts the harvest coming in: when it exceeds the
  MCU's draw and the network ends before the next input arrives, the
  network always answers."""
  sim = _run(model, inputs, trace="constant:5e-3", capacitor=Capacitor(47e-6), stops=stops,
             period_s=1.0)
  exits = len(Runtime(model).exits)
  assert all(r.exit == exits and r.failures == 0 for r in sim.inferences)


def test_branches_answer_where_they_are_confident_and_pay_for_their_heads(model, inputs):
  """Branches confident at exit 1 only: every answer is exit 1's branch's,
  and each inference pays its branches' instructions on top."""
  n = len(inputs[0])
  confident = np.zeros((n, 3), bool)
  confident[:, 1] = True
  answers = np.tile(np.arange(n)[:, None] % 10, (1, 3))
  plain = _run(model, inputs, trace="constant:5e-3", period_s=1.0,
               branches=cosim.Branches(answers, confident, [0.0, 0.0, 0.0], []))
  costly = _run(model, inputs, trace="constant:5e-3", period_s=1.0,
                branches=cosim.Branches(answers, confident, [4e4, 4e4, 4e4], []))
  for sim in (plain, costly):
    assert [r.exit for r in sim.inferences] == [1] * n
    assert [r.answer for r in sim.inferences] == list(answers[:, 1])
  extra = MSP430.energy_j(8e4)  # exits 0 and 1 ran their branches
  for cheap, paid in zip(plain.inferences, costly.inferences, strict=True):
    assert paid.energy_j - cheap.energy_j == pytest.approx(extra, rel=1e-6)


def test_tiles_shrink_to_fit_half_a_charge():
  """100 uF at 8 MHz pays about 167K instructions a charge: after a boot,
  the default tile (about 131K) would not fit, a shrunk one fits in half."""
  macs, nbytes = cosim.tile_budget(Capacitor(100e-6), MSP430)
  per_charge = Capacitor(100e-6).usable_j() / MSP430.energy_j(1.0)
  cost = cosim.INSTRUCTIONS_PER_MAC * macs + cosim.INSTRUCTIONS_PER_OUTPUT_BYTE * nbytes
  assert 0 < macs < cosim.DEFAULT_TILE_MACS and 0 < nbytes < cosim.DEFAULT_TILE_BYTES
  assert cost <= (per_charge - cosim.BOOT_INSTRUCTIONS) / 2
  assert cosim.tile_budget(Capacitor(1e-3), MSP430) == (0, 0)  # the defaults fit


def test_branch_policies_answer_by_confidence_or_by_freemls_rule(digits_gnet_out, model, inputs):
  """No branch confident: BranchyNet's policy runs every input to the
  network's end; with FreeML's rule, a weak supply answers from exits."""
  from converter.simulate import policies
  n = len(inputs[0])
  branches = cosim.Branches(np.zeros((n, 3), np.int64), np.zeros((n, 3), bool), [0.0] * 3,
                            [(0.5, 0.6, 0.7, 0.9), (0.6, 0.7, 0.9), (0.7, 0.9)])
  report = json.loads((digits_gnet_out / "report.json").read_text())
  setting = policies.Setting(traces.load("constant:2e-4", duration_s=600), CAPACITOR, MSP430,
                             0.8, period_s=0.0, deadline_s=2.0)
  sims, _, _ = policies.compare(model, report, ["branches", "branches-energy"], *inputs,
                                setting, branches)
  assert all(r.exit == 3 for r in sims["branches"].inferences)
  assert any(r.exit < 3 for r in sims["branches-energy"].inferences)
  with pytest.raises(ConverterError, match="needs trained per-exit branches"):
    policies.compare(model, report, ["branches"], *inputs, setting)
