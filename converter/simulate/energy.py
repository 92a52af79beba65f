"""The device's power path: harvester -> converter -> storage capacitor ->
MCU, and where every joule goes.

  harvested   the trace's power into the converter
  converter   a boost charger of fixed efficiency (`efficiency`, 0.8: the
              BQ25504's datasheet curve is 80-90% above 100 uW); it stops
              charging at the capacitor's maximum voltage (the rest is lost)
  capacitor   C, turn-on and turn-off voltages (the device starts at v_on
              and browns out at v_off), v_max, and a leakage current
  MCU         draws constant power while on (a regulated supply): active
              current per MHz times clock times supply voltage

Energy bookkeeping is exact by construction: every step books harvested =
used + lost + (stored after - stored before), lost being converter loss,
overflow above v_max and leakage; tests check the balance and the
capacitor against its closed forms.

MCU presets (name: source):
  msp430fr5994-8mhz, -16mhz  118 uA/MHz active at 3.0 V (TI datasheet SLASE54,
                             FRAM, 0 wait states to 8 MHz); one Cortex-M4
                             instruction costs `cycles_per_instruction` 2.0
                             MSP430 cycles (a stated estimate: 16-bit ALU,
                             no 32-bit multiply-accumulate)
  stm32l4-80mhz              110 uA/MHz (about 100-120 uA/MHz in the
                             STM32L4 datasheets, run mode from flash) at
                             3.0 V, 1 cycle per instruction (the counts
                             are Cortex-M4 instructions; stalls ignored)
"""

from __future__ import annotations

import dataclasses
import math
from typing import Dict

from converter.errors import ConverterError


@dataclasses.dataclass(frozen=True)
class Capacitor:
  capacitance_f: float = 100e-6
  v_on: float = 2.8  # BQ25504 power-good thresholds of the Shepherd testbed
  v_off: float = 2.34
  v_max: float = 3.6
  leakage_a: float = 0.0

  def __post_init__(self):
    if not (self.capacitance_f > 0 and 0 <= self.v_off < self.v_on <= self.v_max):
      raise ConverterError(f"capacitor {self}: need C > 0 and 0 <= v_off < v_on <= v_max")
    if self.leakage_a < 0:
      raise ConverterError("capacitor leakage must be >= 0")

  def energy_j(self, volts: float) -> float:
    return 0.5 * self.capacitance_f * volts * volts

  def volts(self, energy_j: float) -> float:
    return math.sqrt(max(2.0 * energy_j / self.capacitance_f, 0.0))

  def usable_j(self) -> float:
    """Energy between turning on and browning out."""
    return self.energy_j(self.v_on) - self.energy_j(self.v_off)


@dataclasses.dataclass(frozen=True)
class Mcu:
  name: str
  active_a_per_mhz: float
  clock_mhz: float
  supply_v: float = 3.0
  cycles_per_instruction: float = 1.0  # per Cortex-M4 instruction counted

  @property
  def power_w(self) -> float:
    return self.active_a_per_mhz * self.clock_mhz * self.supply_v

  def seconds(self, instructions: float) -> float:
    return instructions * self.cycles_per_instruction / (self.clock_mhz * 1e6)

  def energy_j(self, instructions: float) -> float:
    return self.power_w * self.seconds(instructions)


MCU_PRESETS: Dict[str, Mcu] = {
    "msp430fr5994-8mhz": Mcu("msp430fr5994-8mhz", 118e-6, 8.0, cycles_per_instruction=2.0),
    "msp430fr5994-16mhz": Mcu("msp430fr5994-16mhz", 118e-6, 16.0, cycles_per_instruction=2.0),
    "stm32l4-80mhz": Mcu("stm32l4-80mhz", 110e-6, 80.0),
}


def mcu(spec: str) -> Mcu:
  """A preset name, or `custom:UA_PER_MHZ:MHZ[:VOLTS[:CYCLES_PER_INSTRUCTION]]`."""
  if spec in MCU_PRESETS:
    return MCU_PRESETS[spec]
  kind, *args = spec.split(":")
  if kind == "custom" and 2 <= len(args) <= 4:
    try:
      values = [float(a) for a in args]
    except ValueError:
      values = []
    if values and all(v > 0 for v in values):
      return Mcu(spec, values[0] * 1e-6, *values[1:])
  raise ConverterError(f"MCU '{spec}': one of {', '.join(MCU_PRESETS)}, or "
                       "custom:UA_PER_MHZ:MHZ[:VOLTS[:CYCLES_PER_INSTRUCTION]]")


@dataclasses.dataclass
class Ledger:
  """Joules booked since the start."""
  harvested: float = 0.0
  used: float = 0.0
  lost: float = 0.0

  def balance(self, stored_change_j: float) -> float:
    """harvested - used - lost - stored change: 0 up to rounding."""
    return self.harvested - self.used - self.lost - stored_change_j


class PowerPath:
  """The capacitor's state under harvest and load, advanced in steps of
  constant harvested power and load. Within a step the stored energy moves
  linearly, which is exact without leakage; leakage is booked at the step's
  starting voltage, so with leakage a step lasts at most `max_step_s`."""

  max_step_s = 1e-3

  def __init__(self, capacitor: Capacitor, efficiency: float = 0.8, volts: float = 0.0):
    if not 0 < efficiency <= 1:
      raise ConverterError(f"converter efficiency {efficiency}: must be in (0, 1]")
    self.capacitor = capacitor
    self.efficiency = efficiency
    self.stored_j = capacitor.energy_j(min(volts, capacitor.v_max))
    self.ledger = Ledger()

  @property
  def volts(self) -> float:
    return self.capacitor.volts(self.stored_j)

  def advance(self, seconds: float, harvested_w: float, load_w: float) -> float:
    """Runs `seconds` (with leakage, in steps of at most max_step_s) and
    returns the time actually run: less when the load browns the capacitor
    out (at v_off, exactly to rounding), the load then stopping."""
    longest = self.max_step_s if self.capacitor.leakage_a > 0 else seconds
    done = 0.0
    while done < seconds:
      step = min(longest, seconds - done)
      ran = self._step(step, harvested_w, load_w)
      done += ran
      if ran < step:
        break
    return done

  def charge_with(self, harvested_j: float) -> None:
    """Books a harvest with no load and no leakage (the device off): the
    stored energy rises by what the converter passes, up to v_max."""
    assert self.capacitor.leakage_a == 0
    into = harvested_j * self.efficiency
    full = self.capacitor.energy_j(self.capacitor.v_max)
    overflow = max(self.stored_j + into - full, 0.0)
    self.stored_j += into - overflow
    self.ledger.harvested += harvested_j
    self.ledger.lost += harvested_j - into + overflow

  def _step(self, seconds: float, harvested_w: float, load_w: float) -> float:
    c = self.capacitor
    leak_w = c.leakage_a * self.volts
    into_w = harvested_w * self.efficiency
    net_w = into_w - load_w - leak_w
    if load_w > 0 and net_w < 0:
      # The load stops at v_off: cut the step there.
      reserve = self.stored_j - c.energy_j(c.v_off)
      if reserve <= -net_w * seconds:
        seconds = max(reserve, 0.0) / -net_w
    full = c.energy_j(c.v_max)
    stored = self.stored_j + net_w * seconds
    overflow = max(stored - full, 0.0)
    stored -= overflow
    if stored < 0:  # leakage only: the capacitor empties
      leak_w += stored / seconds
      stored = 0.0
    self.ledger.harvested += harvested_w * seconds
    self.ledger.used += load_w * seconds
    self.ledger.lost += (harvested_w - into_w + leak_w) * seconds + overflow
    self.stored_j = stored
    return seconds
