"""Co-simulation: the FreeML runtime on a simulated batteryless device.

The real runtime (the C code, through the Python binding's supervised
boots) computes every tile; the simulator charges each computed tile's
instructions to the capacitor at the MCU's power while the trace recharges
it. When the capacitor reaches v_off during a tile, power fails during that
tile's NVM writes (the runtime loses the tile, exactly as a device loses
everything since its last commit); the device stays off until the
capacitor is back at v_on, boots (paying the boot's instructions) and
resumes from NVM. The exit policy reads the energy through the runtime's
energy port (exit_rule.py). Everything is a function of the trace, the inputs
and the seed: the same arguments give the same run.

Instruction counts come from the converter report's "device" section when
`make profile` wrote one (per op, measured under QEMU), else from a model
fitted to the QEMU totals of bench/firmware.py (DSP kernels, intermittent
mode, 16,384-MAC tiles): 1.63 instructions per MAC plus 102 per output
byte (within 0.1% for the shared DS-CNN and ResNet-8, 9% over for the
default digits model), and 100,000 for a boot: a boot that restores the
prepared tables from their NVM snapshot, as every boot but the very first
on blank NVM does (measured: 21K to 130K, from reset to the next tile,
recovery and activation checks included; the model image's CRC check,
once per run, is left out). The first boot on blank NVM prepares the
tables and writes the snapshot (0.27M to 0.55M): the simulator charges
one figure per boot, the resuming boot's. From a profile, the boot is
likewise its `resume_boot_instructions` when it has one.
"""

from __future__ import annotations

import dataclasses
from typing import List, Optional, Sequence, Tuple

import numpy as np

from converter.simulate import exit_rule
from converter.simulate.energy import Capacitor, Ledger, Mcu, PowerPath
from converter.simulate.traces import PowerTrace
from tflm_freeml.intermittent import IntermittentRuntime, Supervisor

INSTRUCTIONS_PER_MAC = 1.63
INSTRUCTIONS_PER_OUTPUT_BYTE = 102.0
BOOT_INSTRUCTIONS = 100_000.0


DEFAULT_TILE_MACS, DEFAULT_TILE_BYTES = 16384, 1024  # the runtime's (intermittent.h)


def tile_budget(capacitor: Capacitor, mcu: Mcu) -> Tuple[int, int]:
  """(max_tile_macs, max_tile_bytes) for the runtime, (0, 0) for its
  defaults: tiles shrunk in proportion until one costs at most half of
  what a charge from v_on pays after a boot (cost model), so that every
  tile can finish. A charge that cannot pay for a boot keeps the defaults
  (the simulation then stalls and says why)."""
  per_charge = (capacitor.energy_j(capacitor.v_on) -
                capacitor.energy_j(capacitor.v_off)) / mcu.energy_j(1.0)
  budget = (per_charge - BOOT_INSTRUCTIONS) / 2
  default = INSTRUCTIONS_PER_MAC * DEFAULT_TILE_MACS + \
      INSTRUCTIONS_PER_OUTPUT_BYTE * DEFAULT_TILE_BYTES
  if budget >= default or budget <= 0:
    return 0, 0
  scale = budget / default
  return max(int(DEFAULT_TILE_MACS * scale), 64), max(int(DEFAULT_TILE_BYTES * scale), 16)


@dataclasses.dataclass(frozen=True)
class Costs:
  """Cortex-M4 instructions of a boot and of one tile of each op (its
  computation and NVM writes)."""
  boot: float
  tile: Sequence[float]
  source: str

  @classmethod
  def modelled(cls, it: IntermittentRuntime) -> "Costs":
    return cls(BOOT_INSTRUCTIONS,
               [(INSTRUCTIONS_PER_MAC * op.macs +
                 INSTRUCTIONS_PER_OUTPUT_BYTE * op.units * op.unit_bytes) / op.tiles
                for op in it.ops], "cost model")

  @classmethod
  def from_report(cls, report: dict, it: IntermittentRuntime) -> "Costs":
    """The report's measured counts when it has them for this tile plan."""
    device = report.get("device")
    if not device or device.get("mode") != "intermittent":
      return cls.modelled(it)
    ops = {op["index"]: op for op in device["ops"]}
    if len(ops) != len(it.ops) or any(ops[i]["tiles"] != op.tiles for i, op in
                                      enumerate(it.ops)):
      return cls.modelled(it)
    boot = device.get("resume_boot_instructions", device["boot_instructions"])
    return cls(float(boot),
               [ops[i]["instructions"] / op.tiles for i, op in enumerate(it.ops)],
               f"QEMU profile ({device.get('board', 'Cortex-M4')})")


class Clock:
  """Simulated time and the capacitor, driven through the trace (which
  repeats when it ends)."""

  def __init__(self, trace: PowerTrace, path: PowerPath):
    self.trace, self.path, self.time_s = trace, path, 0.0
    self.voltage: List[Tuple[float, float]] = [(0.0, path.volts)]  # (s, V) for plots

  def _record(self) -> None:
    self.voltage.append((self.time_s, self.path.volts))

  def recent_harvest_w(self, window_s: float) -> float:
    """The trace's mean power over the last window_s seconds (less at the
    start)."""
    span = min(window_s, self.time_s)
    if span <= 0:
      return self._segment()[0]
    return (self.trace.energy_j(self.time_s) - self.trace.energy_j(self.time_s - span)) / span

  def _segment(self) -> tuple:
    """(harvested power now, seconds until it changes)."""
    t = self.time_s % self.trace.duration_s
    i = int(np.searchsorted(self.trace.time_s, t, side="right")) - 1
    end = self.trace.time_s[i + 1] if i + 1 < len(self.trace.time_s) else self.trace.duration_s
    # At least a nanosecond: hours into a run, a shorter step would not move
    # time_s (float resolution) and the loop would never leave the segment.
    return float(self.trace.power_w[i]), max(float(end - t), 1e-9)

  def run(self, seconds: float, load_w: float) -> bool:
    """The load for `seconds`; False if the capacitor browned out first
    (the time advanced to that moment)."""
    left = seconds
    while left > 0:
      power, span = self._segment()
      step = min(left, span)
      ran = self.path.advance(step, power, load_w)
      self.time_s += ran
      left -= ran
      if ran < step:
        self._record()
        return False
    self._record()
    return True

  def charge(self, limit_s: float) -> bool:
    """Off until the capacitor reaches v_on; False if it did not within
    limit_s seconds."""
    cap = self.path.capacitor
    deadline = self.time_s + limit_s
    if cap.leakage_a == 0:
      # Exact in one step: the stored energy is the harvest so far.
      needed = (cap.energy_j(cap.v_on) - self.path.stored_j) / self.path.efficiency
      if needed <= 0:
        return True
      start = self.trace.energy_j(self.time_s)
      reached_s = self.trace.time_at_energy(start + needed)
      end_s = max(min(reached_s, deadline), self.time_s)
      self.path.charge_with(self.trace.energy_j(end_s) - start)
      if reached_s <= deadline and self.path.volts < cap.v_on:
        # Rounding: hours into a run the trace's cumulative energy is large.
        self.path.charge_with((cap.energy_j(cap.v_on) - self.path.stored_j) /
                              self.path.efficiency)
      self.time_s = end_s
      self._record()
      return reached_s <= deadline
    while self.path.volts < cap.v_on:
      if self.time_s >= deadline:
        return False
      power, span = self._segment()
      step = min(span, deadline - self.time_s, PowerPath.max_step_s)
      self.path.advance(step, power, 0.0)
      self.time_s += step
      self._record()
    return True


@dataclasses.dataclass(frozen=True)
class Inference:
  """One input's way through the device."""
  answer: int  # top class of the answer
  exit: int  # exits of the model: the network's end
  correct: Optional[bool]
  arrived_s: float
  started_s: float  # the device took it up (after the previous answer)
  latency_s: float  # from its arrival to the answer, off time included
  failures: int
  energy_j: float  # the MCU's energy for this inference, boots included
  wasted_j: float  # of which spent on work power failures cut short (tiles, boots)


@dataclasses.dataclass(frozen=True)
class Branches:
  """Per-exit branches in place of the model's gNet exits (BranchyNet's
  way, compared in bench/energy_policies.py): exit k's own head runs when
  the op of exit k completes, costing instructions[k] more in that op's
  last tile, and answers when it is confident; otherwise the network goes
  on, or, given `stops`, FreeML's exit rule decides with the branches' own
  stop_accuracy table. The runtime computes
  the network (with gNet's accumulators, a few hundred MACs), the port
  stops it where a branch answers, and the branch's answer replaces
  gNet's."""
  answers: np.ndarray  # (inputs, exits) top class of each branch
  confident: np.ndarray  # (inputs, exits) bool: its margin met its threshold
  instructions: Sequence[float]  # per exit
  stop_accuracy: Sequence[Sequence[Optional[float]]]  # as thresholds.stop_accuracy


class _Device(Supervisor):
  """A boot's supervisor: charges each computed tile to the clock and fails
  power during its writes when the capacitor cannot finish it."""

  def __init__(self, clock: Clock, mcu: Mcu, costs: Costs, it: IntermittentRuntime,
               stops: Optional[exit_rule.StopValues], period_s: float, next_input_s: float,
               branch_confident: Optional[np.ndarray] = None,
               branch_instructions: Sequence[float] = ()):
    self.clock, self.mcu, self.costs = clock, mcu, costs
    self.stops, self.period_s, self.next_input_s = stops, period_s, next_input_s
    ops = it.ops
    self.exit_work = exit_rule.exit_work([op.work for op in ops], it.exit_ops)
    self.branch_confident = branch_confident
    self.extra = {(op, ops[op].tiles - 1): cost
                  for op, cost in zip(it.exit_ops, branch_instructions, strict=False)}
    instructions = sum(c * op.tiles for c, op in zip(costs.tile, ops, strict=True))
    work = sum(op.work for op in ops)
    self.joules_per_work = mcu.energy_j(instructions) / work
    self.seconds_per_work = mcu.seconds(instructions) / work
    self.half_tile_j = mcu.energy_j(instructions / sum(op.tiles for op in ops)) / 2
    self.computed = 0
    self.energy_j = self.wasted_j = 0.0

  def spend(self, instructions: float) -> bool:
    seconds = self.mcu.seconds(instructions)
    used_before = self.clock.path.ledger.used
    finished = self.clock.run(seconds, self.mcu.power_w)
    spent = self.clock.path.ledger.used - used_before
    self.energy_j += spent
    if not finished:
      self.wasted_j += spent
    return finished

  def on_write(self, state, op, tile, tiles_computed, nbytes) -> bool:
    if tiles_computed > self.computed:
      self.computed = tiles_computed
      return not self.spend(self.costs.tile[op] + self.extra.get((op, tile), 0.0))
    return False

  def available(self, work_done: int) -> int:
    """FreeML's rule (exit_rule.py) from what a device knows: its
    capacitor, its charger's recent input and when the next input comes.
    A branch that is confident answers first."""
    if self.branch_confident is not None:
      if self.branch_confident[exit_rule.latest_exit(self.exit_work, work_done)]:
        return 0
    if self.stops is None:
      return 2**63
    clock, cap = self.clock, self.clock.path.capacitor
    idle_s = max(self.next_input_s - clock.time_s, 0.0)
    harvest_w = clock.recent_harvest_w(exit_rule.HARVEST_WINDOW_S) * clock.path.efficiency
    now = exit_rule.Outlook(
        idle_s=idle_s, period_s=self.period_s, harvest_w=harvest_w,
        mcu_w=self.mcu.power_w, joules_per_work=self.joules_per_work,
        seconds_per_work=self.seconds_per_work,
        charge_j=cap.energy_j(cap.v_on) - cap.energy_j(cap.v_off),
        overhead_j=self.mcu.energy_j(self.costs.boot) + self.half_tile_j,
        spare_j=max(clock.path.stored_j + harvest_w * idle_s - cap.energy_j(cap.v_max), 0.0))
    return exit_rule.work_allowed(self.stops, work_done, now)


@dataclasses.dataclass(frozen=True)
class Simulation:
  inferences: List[Inference]
  time_s: float  # simulated time at the end
  ledger: Ledger  # the power path's joules
  stored_change_j: float  # the capacitor starts empty
  stalled: str  # why it stopped before the last input; "" if it did not
  voltage: List[Tuple[float, float]]  # capacitor (s, V) after each step
  failures_s: List[float]  # when power failed


def simulate(it: IntermittentRuntime, inputs: Sequence[np.ndarray],
             labels: Optional[Sequence[int]], trace: PowerTrace, capacitor: Capacitor,
             mcu: Mcu, costs: Costs, efficiency: float = 0.8,
             stops: Optional[exit_rule.StopValues] = None,
             period_s: float = 0.0, off_limit_s: float = 3600.0,
             max_failures: int = 1000, branches: Optional[Branches] = None) -> Simulation:
  """Runs the inputs on one device, from an empty capacitor at the trace's
  start: input n arrives at n * period_s (0: all at once) and waits until
  the device has answered the ones before; between them the device sleeps
  (drawing nothing) while the capacitor charges. With `stops` the energy
  port applies FreeML's rule (exit_rule.py); without, only confidence
  answers early. Stops early when the trace cannot turn the
  device on within off_limit_s, or an inference fails max_failures times
  (a charge that cannot pay for a boot, or for a tile, never finishes)."""
  clock = Clock(trace, PowerPath(capacitor, efficiency))
  nvm = it.new_nvm()
  results: List[Inference] = []
  powered = False  # on, with the runtime booted

  failures_s: List[float] = []

  def stop(why: str) -> Simulation:
    return Simulation(results, clock.time_s, clock.path.ledger, clock.path.stored_j, why,
                      clock.voltage, failures_s)

  for n, x in enumerate(inputs):
    arrived = n * period_s
    if clock.time_s < arrived:
      clock.run(arrived - clock.time_s, 0.0)
      powered = powered and clock.path.volts > capacitor.v_off  # leakage may end it
    device = _Device(clock, mcu, costs, it, stops, period_s, (n + 1) * period_s,
                     None if branches is None else branches.confident[n],
                     () if branches is None else branches.instructions)
    started, failures = clock.time_s, 0
    while True:
      if failures >= max_failures:
        return stop(f"input {n} failed {failures} times without finishing")
      if not powered:
        if not clock.charge(off_limit_s):
          return stop(f"the device stayed off for {off_limit_s:g} s")
        if not device.spend(costs.boot):
          failures += 1
          failures_s.append(clock.time_s)
          continue
        powered = True
      device.computed = 0
      boot = it.boot(nvm, [x], supervisor=device)
      if boot.done:
        break
      powered = False
      failures += 1
      failures_s.append(clock.time_s)
    answer = int(np.argmax(boot.outputs[0]))
    if branches is not None and boot.exit < it.num_exits:
      answer = int(branches.answers[n, boot.exit])
    results.append(Inference(
        answer=answer, exit=boot.exit,
        correct=None if labels is None else answer == int(labels[n]), arrived_s=arrived,
        started_s=started, latency_s=clock.time_s - arrived, failures=failures,
        energy_j=device.energy_j,
        wasted_j=device.wasted_j))
  return stop("")
