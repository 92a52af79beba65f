"""gNet exits in the runtime: freeml_run answers early by confidence or by
energy (--energy-budget, --energy-schedule), the answer and the exit taken
do not depend on where power fails, and an early answer is the exit's
logits as the runtime computes them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Tuple

import numpy as np
import pytest

from converter import datasets
from converter.evaluate import model_inputs
from converter.gnet import graph
from tests.runtime.test_intermittent_cli import EXIT_POWER_FAILURE, run, stats, write_input
from tflm_freeml.intermittent import IntermittentRuntime, Supervisor
from tflm_freeml.runtime import FreemlError, Runtime


@pytest.fixture(scope="module")
def gnet_model(digits_gnet_out) -> bytes:
  return (digits_gnet_out / "model.tflite").read_bytes()


@pytest.fixture(scope="module")
def energy_only(gnet_model, tmp_path_factory) -> Path:
  """The gNet model with every threshold NEVER: exits only for energy."""
  path = tmp_path_factory.mktemp("energy_only") / "model.tflite"
  path.write_bytes(graph.set_thresholds(gnet_model, [graph.NEVER] * 3))
  return path


@pytest.fixture(scope="module")
def samples(gnet_model):
  rt = Runtime(gnet_model)
  return model_inputs(datasets.load("digits").x_test[:3], rt.inputs[0])


def answer(freeml_run: Path, model: Path, x: Path, out: Path, *args) -> Tuple[int, bytes]:
  result = run(freeml_run, model, "--input", x, "--output", out, *args)
  assert result.returncode == 0, result.stderr
  found = re.findall(r"^exit=(\d+)$", result.stdout, re.M)
  assert len(found) == 1, result.stdout
  return int(found[0]), out.read_bytes()


def test_energy_decides_the_exit(freeml_run, energy_only, samples, tmp_path):
  """With a budget of N MACs the answer comes from the last exit whose op
  ends within N (the first exit at least), or from the network if N covers
  all of it."""
  model = energy_only.read_bytes()
  rt = Runtime(model)
  work = np.cumsum([op.macs for op in IntermittentRuntime(model).ops])
  ends = [int(work[e.op]) for e in rt.exits] + [int(work[-1])]
  x = write_input(tmp_path, samples[0][None])
  outputs, logits = rt.invoke_exits([samples[0][None]])
  cases = {0: 0, 10**12: 3}
  for k, end in enumerate(ends):
    cases[end] = k
    cases[end - 1] = max(k - 1, 0)
  for budget, expected_exit in sorted(cases.items()):
    exit_index, output = answer(freeml_run, energy_only, x, tmp_path / "out.bin",
                                "--energy-budget", budget)
    assert exit_index == expected_exit, (budget, ends)
    expected = logits[exit_index] if exit_index < 3 else outputs[0].reshape(-1)
    assert output == expected.tobytes(), budget
  # Without a budget (and thresholds never met) the whole network answers.
  assert answer(freeml_run, energy_only, x, tmp_path / "out.bin")[0] == 3


def test_schedule_form(freeml_run, energy_only, samples, tmp_path):
  x = write_input(tmp_path, samples[0][None])
  out = tmp_path / "out.bin"
  plenty = answer(freeml_run, energy_only, x, out, "--energy-schedule", "0:1000000")
  assert plenty[0] == 3
  # Energy drops to 10 MACs once 40,000 are done (past the first exit): the
  # next exit is out of reach, whatever comes later.
  dropped = answer(freeml_run, energy_only, x, out, "--energy-schedule", "0:1000000,40000:10")
  assert dropped[0] < 3
  assert dropped == answer(freeml_run, energy_only, x, out, "--energy-schedule",
                           "0:1000000,40000:10,60000:1000000")


@pytest.mark.parametrize("energy", [("--energy-budget", "20000"), ("--energy-budget", "40000"),
                                    ("--energy-schedule", "0:90000,35000:0"), ()])
def test_same_exit_and_answer_through_power_failures(freeml_run, digits_gnet_out, energy_only,
                                                     digits_gnet_rank_out, samples, energy,
                                                     tmp_path):
  for model in (digits_gnet_out / "model.tflite", energy_only,
                digits_gnet_rank_out / "model.tflite"):
    for sample in samples[:2]:
      x = write_input(tmp_path, sample[None])
      expected = answer(freeml_run, model, x, tmp_path / "plain.bin", *energy)
      for every in (6, 7, 13):  # a boot must afford a tile and its commit
        nvm = tmp_path / "state.nvm"
        nvm.unlink(missing_ok=True)
        for _ in range(500):
          result = run(freeml_run, model, "--input", x, "--output", tmp_path / "out.bin",
                       "--nvm", nvm, "--fail-after-writes", every, *energy)
          if result.returncode != EXIT_POWER_FAILURE:
            break
        assert result.returncode == 0, result.stderr
        assert answer(freeml_run, model, x, tmp_path / "out.bin", "--nvm", nvm,
                      *energy) == expected, (model.name, energy, every)


def test_an_early_answer_is_committed(freeml_run, energy_only, samples, tmp_path):
  x = write_input(tmp_path, samples[1][None])
  nvm, out = tmp_path / "state.nvm", tmp_path / "out.bin"
  first = answer(freeml_run, energy_only, x, out, "--nvm", nvm, "--energy-budget", 20000)
  assert first[0] < 3
  again = run(freeml_run, energy_only, "--input", x, "--output", out, "--nvm", nvm,
              "--energy-budget", 20000, "--print-stats")
  assert again.returncode == 0 and stats(again.stdout)["tiles"] == 0
  assert f"exit={first[0]}" in again.stdout and out.read_bytes() == first[1]


def test_confidence_exits(freeml_run, gnet_model, samples, tmp_path):
  """Threshold 0 answers at the first exit whatever the energy."""
  path = tmp_path / "eager.tflite"
  path.write_bytes(graph.set_thresholds(gnet_model, [0, 0, 0]))
  x = write_input(tmp_path, samples[0][None])
  assert answer(freeml_run, path, x, tmp_path / "out.bin", "--energy-budget", 10**9)[0] == 0


def test_energy_option_errors(freeml_run, digits_out, energy_only, samples, tmp_path):
  x = write_input(tmp_path, samples[0][None])
  out = tmp_path / "out.bin"
  for bad in (("--energy-budget", "-1"), ("--energy-budget", "12x"),
              ("--energy-schedule", "5:100"), ("--energy-schedule", "0:1,0:2"),
              ("--energy-schedule", "0:1,"), ("--energy-budget", "1", "--energy-schedule", "0:1")):
    result = run(freeml_run, energy_only, "--input", x, "--output", out, *bad)
    assert result.returncode == 2 and "freeml_run:" in result.stderr, bad
  plain = run(freeml_run, digits_out / "model.tflite", "--input", x, "--output", out,
              "--energy-budget", "100")
  assert plain.returncode == 2 and "need a model with gNet exits" in plain.stderr


class _Budget(Supervisor):
  """The energy port of `--energy-budget N`, and a power failure at every
  `every`-th NVM write of a boot (0: none); records the progress it sees."""

  def __init__(self, budget: int, every: int = 0):
    self.budget, self.every, self.writes, self.computed, self.seen = budget, every, 0, 0, []

  def new_boot(self):
    self.writes = self.computed = 0

  def on_write(self, state, op, tile, tiles_computed, nbytes):
    self.writes += 1
    if tiles_computed > self.computed:
      self.computed = tiles_computed
      self.seen.append((op, tile))
    return self.every > 0 and self.writes % self.every == 0

  def available(self, work_done):
    return max(self.budget - work_done, 0)


@pytest.mark.parametrize("budget", [20000, 40000, 10**12])
def test_supervised_boots_answer_as_freeml_run(freeml_run, energy_only, samples, budget,
                                               tmp_path):
  """The binding's supervised boot (the energy simulator's hook into the
  runtime) takes the exit and gives the answer freeml_run gives for the same
  budget, with and without power failures at the supervisor's say."""
  model = energy_only.read_bytes()
  it = IntermittentRuntime(model)
  x = samples[0][None]
  expected = answer(freeml_run, energy_only, write_input(tmp_path, x), tmp_path / "out.bin",
                    "--energy-budget", budget)
  for every in (0, 7, 13):
    nvm, supervisor = it.new_nvm(), _Budget(budget, every)
    boots = [it.boot(nvm, [x], supervisor=supervisor)]
    while not boots[-1].done:
      supervisor.new_boot()
      boots.append(it.boot(nvm, [x], supervisor=supervisor))
    assert len(boots) > 1 or every == 0
    done = boots[-1]
    assert (done.exit, done.outputs[0].tobytes()) == expected, (budget, every)
    if every == 0:
      # Each computed tile is named once, in order.
      assert supervisor.seen == sorted(set(supervisor.seen))
      assert len(supervisor.seen) == sum(b.tiles for b in boots)


def test_a_bad_two_layer_plan_is_refused(digits_gnet_rank_out):
  model = (digits_gnet_rank_out / "model.tflite").read_bytes()
  plan = graph.read_plan(model)
  Runtime(graph.with_plan(model))  # the model as written is accepted
  for changes, message in [
      ({"rank": 65}, "rank 65"),
      ({"rank": 3}, "another number of units"),
      ({"hidden_scale": 0.0}, "scales"),
      ({"output_weights": 10**6}, "tensors are not in the graph"),
      ({"output_weights": plan.accumulators[0]}, "weights are not constant int8"),
      ({"output_bias": plan.output_weights}, "bias is not constant int32")]:
    with pytest.raises(FreemlError, match=message):
      Runtime(graph.with_plan(model, **changes))


def test_int4_head_weights_need_one_scale(digits_gnet_rank_out):
  """TFLM's FULLY_CONNECTED, the head's reference, reads int4 weights with
  one scale only; the runtime refuses per-unit scales on them."""
  from converter import tflite_graph, tflite_writer
  model = (digits_gnet_rank_out / "model.tflite").read_bytes()
  plan = graph.read_plan(model)
  root = tflite_graph.parse(model)
  accumulate = next(op for op in root.subgraphs[0].operators
                    if int(op.outputs[0]) == plan.accumulators[0])
  weights = root.subgraphs[0].tensors[int(accumulate.inputs[1])]
  scale = weights.quantization.scale[0]
  weights.quantization.scale = [scale] * plan.rank
  weights.quantization.zeroPoint = [0] * plan.rank
  with pytest.raises(FreemlError, match="one scale if int4"):
    Runtime(tflite_writer.pack(root))
