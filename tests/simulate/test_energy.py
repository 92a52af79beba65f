"""The power path (converter/simulate/energy.py) against the capacitor's
closed forms, its energy balance, and the MCU presets' stated figures."""

from __future__ import annotations

import math

import numpy as np
import pytest

from converter.errors import ConverterError
from converter.simulate.energy import MCU_PRESETS, Capacitor, PowerPath, mcu


def test_constant_power_charge_matches_closed_form():
  """C V dV/dt = eta P: V(t) = sqrt(V0^2 + 2 eta P t / C), until v_max."""
  cap = Capacitor(capacitance_f=100e-6, v_on=2.8, v_off=2.34, v_max=3.6)
  path = PowerPath(cap, efficiency=0.8, volts=1.0)
  elapsed = 0.0
  for t in (0.05, 0.2, 0.5):
    path.advance(t - elapsed, harvested_w=1e-3, load_w=0.0)
    elapsed = t
    assert path.volts == pytest.approx(math.sqrt(1.0 + 2 * 0.8 * 1e-3 * t / 100e-6), rel=1e-9)


def test_charge_stops_at_v_max_and_the_excess_is_lost():
  cap = Capacitor(v_max=3.0)
  path = PowerPath(cap, efficiency=1.0, volts=2.9)
  path.advance(1.0, harvested_w=1e-3, load_w=0.0)
  assert path.volts == pytest.approx(3.0, rel=1e-12)
  expected_lost = 1e-3 * 1.0 - (cap.energy_j(3.0) - cap.energy_j(2.9))
  assert path.ledger.lost == pytest.approx(expected_lost, rel=1e-9)


def test_constant_power_discharge_browns_out_on_time():
  """V(t) = sqrt(V0^2 - 2 P t / C); the load stops at v_off, at
  t = C (V0^2 - v_off^2) / (2 P)."""
  cap = Capacitor(capacitance_f=47e-6, v_on=3.0, v_off=1.8, v_max=3.6)
  path = PowerPath(cap, volts=3.0)
  load = 2.832e-3
  path.advance(0.01, 0.0, load)
  assert path.volts == pytest.approx(math.sqrt(9.0 - 2 * load * 0.01 / 47e-6), rel=1e-9)
  ran = path.advance(10.0, 0.0, load)
  assert 0.01 + ran == pytest.approx(47e-6 * (9.0 - 1.8**2) / (2 * load), rel=1e-9)
  assert path.volts == pytest.approx(1.8, rel=1e-9)


def test_leakage_alone_discharges_linearly():
  """A constant leakage current: V(t) = V0 - I t / C (leakage booked at each
  1 ms step's starting voltage: within 0.1%)."""
  cap = Capacitor(capacitance_f=100e-6, leakage_a=2e-6)
  path = PowerPath(cap, volts=3.0)
  path.advance(20.0, 0.0, 0.0)
  assert path.volts == pytest.approx(3.0 - 2e-6 * 20.0 / 100e-6, rel=1e-3)


def test_energy_balance_under_a_random_harvest_and_load():
  """harvested = used + lost + stored change, within 1e-9 of the harvest."""
  rng = np.random.default_rng(3)
  cap = Capacitor(capacitance_f=100e-6, v_max=3.3, leakage_a=1e-6)
  path = PowerPath(cap, efficiency=0.7, volts=2.0)
  start = path.stored_j
  for _ in range(3000):
    path.advance(float(rng.uniform(1e-4, 5e-3)), float(rng.uniform(0, 5e-3)),
                 float(rng.choice([0.0, 2.8e-3, 1e-2])))
  assert path.ledger.harvested > 0 and path.ledger.used > 0 and path.ledger.lost > 0
  assert abs(path.ledger.balance(path.stored_j - start)) <= 1e-9 * path.ledger.harvested


def test_mcu_presets():
  msp = MCU_PRESETS["msp430fr5994-8mhz"]
  assert msp.power_w == pytest.approx(118e-6 * 8 * 3.0)
  # 1 M Cortex-M4 instructions at 2 cycles each, 8 MHz: 0.25 s.
  assert msp.seconds(1e6) == pytest.approx(0.25)
  assert mcu("custom:100:48:1.8").power_w == pytest.approx(100e-6 * 48 * 1.8)
  for bad in ("z80", "custom:1", "custom:-5:8", "custom:a:b"):
    with pytest.raises(ConverterError, match="one of"):
      mcu(bad)


def test_bad_capacitor():
  with pytest.raises(ConverterError):
    Capacitor(v_on=2.0, v_off=2.5)
  with pytest.raises(ConverterError):
    Capacitor(capacitance_f=0)
