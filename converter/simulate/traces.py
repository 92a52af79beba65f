"""Harvested power over time: real recordings and synthetic traces.

A PowerTrace is the DC power a harvester delivers to the power converter,
piecewise constant: power_w[i] holds from time_s[i] until time_s[i + 1], and
the last sample for one median interval. Each real format is turned into
power by the model its recording calls for:

  powercast   REACT's Powercast P2110B traces (`sec RSSI,mW`): received RF
              power times the RF-to-DC efficiency (`rf_efficiency`, 0.5: the
              P2110B's datasheet curve sits near 50% at 0 to 5 dBm)
  mementos    Mementos' WISP traces (`<ms> <volts>` across 30 kOhm): V^2 / R
  pv-jogging  Shepherd's IVonne recording (`time_s,isc_a,is_a,inv_nvt_per_v`):
              the single-diode cell I(V) = isc - is (exp(V inv_nvt) - 1) of
              each sample at its maximum-power point (the converter tracks it)
  nrel        NREL outdoor irradiance (`date,MST,W/m^2`, 1 min): irradiance
              times a panel's area and efficiency (`panel_cm2`, 10 cm^2;
              `panel_efficiency`, 0.15, a small monocrystalline panel)

Synthetic traces (constant, square, random) take their parameters in the
name: `constant:P`, `square:HIGH:LOW:PERIOD[:DUTY]`, `random:MEAN:STEP`
(watts and seconds; random draws a log-uniform level around MEAN every STEP
seconds from the simulation's seed).

Example:
  trace = load("powercast-cart", shared=Path("../shared/traces"))
  trace.mean_power_w()
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import math
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from converter.errors import ConverterError


@dataclasses.dataclass(frozen=True)
class PowerTrace:
  name: str
  time_s: np.ndarray  # float64, starts at 0, strictly increasing
  power_w: np.ndarray  # float64, >= 0, same length
  duration_s: float  # the last sample holds until then

  def mean_power_w(self) -> float:
    return float(self._energy_at_samples[-1] / self.duration_s)

  @functools.cached_property
  def _energy_at_samples(self) -> np.ndarray:
    durations = np.diff(np.append(self.time_s, self.duration_s))
    return np.concatenate([[0.0], np.cumsum(self.power_w * durations)])

  def time_at_energy(self, energy_j: float) -> float:
    """The first time energy_j(t) reaches `energy_j`; inf when the trace
    delivers nothing."""
    cumulative = self._energy_at_samples
    if cumulative[-1] <= 0:
      return math.inf if energy_j > 0 else 0.0
    laps, into = divmod(energy_j, cumulative[-1])
    if into <= 0 and laps > 0:  # reached at the end of the previous lap's last harvest
      laps, into = laps - 1, cumulative[-1]
    i = max(int(np.searchsorted(cumulative, into, side="left")) - 1, 0)
    within = (into - cumulative[i]) / self.power_w[i] if into > cumulative[i] else 0.0
    return float(laps * self.duration_s + self.time_s[i] + within)

  def energy_j(self, t: float) -> float:
    """Energy delivered from 0 to t seconds, the trace repeating."""
    laps, into = divmod(t, self.duration_s)
    i = int(np.searchsorted(self.time_s, into, side="right")) - 1
    cumulative = self._energy_at_samples
    return float(laps * cumulative[-1] + cumulative[i] +
                 self.power_w[i] * (into - self.time_s[i]))


def _checked(name: str, time_s: np.ndarray, power_w: np.ndarray,
             duration_s: Optional[float] = None) -> PowerTrace:
  """The trace from raw columns, after the checks every format shares. A
  recording's last sample lasts its median sampling interval."""
  if len(time_s) == 0:
    raise ConverterError(f"trace {name}: no samples")
  if not (np.all(np.isfinite(time_s)) and np.all(np.isfinite(power_w))):
    bad = int(np.argmax(~(np.isfinite(time_s) & np.isfinite(power_w))))
    raise ConverterError(f"trace {name}: sample {bad} is not a number")
  steps = np.diff(time_s)
  if np.any(steps <= 0):
    bad = int(np.argmax(steps <= 0)) + 1
    raise ConverterError(f"trace {name}: time goes backwards or stands still at sample {bad} "
                         f"({time_s[bad - 1]} -> {time_s[bad]})")
  if np.any(power_w < 0):
    raise ConverterError(f"trace {name}: negative power at sample {int(np.argmax(power_w < 0))}")
  start = float(time_s[0])
  if duration_s is None:
    duration_s = float(time_s[-1]) - start + (float(np.median(steps)) if len(steps) else 1.0)
  return PowerTrace(name, (time_s - start).astype(np.float64), power_w.astype(np.float64),
                    duration_s)


def _rows(path: Path, delimiter: Optional[str], columns: int, skip_header: bool) -> np.ndarray:
  """A text file's rows as floats, each with at least `columns` fields."""
  if not path.exists():
    raise ConverterError(f"trace file {path} not found")
  values: List[List[float]] = []
  with path.open(newline="") as f:
    lines = f.read().splitlines()
  for number, line in enumerate(lines[1 if skip_header else 0:], 2 if skip_header else 1):
    if not line.strip():
      continue
    fields = line.split(delimiter) if delimiter else line.split()
    if len(fields) < columns:
      raise ConverterError(f"trace {path}: line {number} has {len(fields)} columns, "
                           f"expected {columns}")
    try:
      values.append([float(x) for x in fields[:columns]])
    except ValueError as e:
      raise ConverterError(f"trace {path}: line {number}: {e}") from None
  return np.array(values, np.float64).reshape(-1, columns)


def _header(path: Path) -> str:
  if not path.exists():
    raise ConverterError(f"trace file {path} not found")
  with path.open() as f:
    return f.readline().strip()


def powercast(path: Path, rf_efficiency: float = 0.5) -> PowerTrace:
  if not _header(path).startswith("sec"):
    raise ConverterError(f"trace {path}: expected the header 'sec RSSI,mW'")
  rows = _rows(path, None, 2, skip_header=True)
  return _checked(path.stem, rows[:, 0], rows[:, 1] * 1e-3 * rf_efficiency)


def mementos(path: Path, load_ohm: float = 30e3) -> PowerTrace:
  rows = _rows(path, None, 2, skip_header=False)
  return _checked(f"mementos-{path.stem}", rows[:, 0] * 1e-3, rows[:, 1] ** 2 / load_ohm)


def max_power_point(isc: np.ndarray, i_s: np.ndarray, inv_nvt: np.ndarray) -> np.ndarray:
  """Power at the maximum-power point of single-diode cells, vectorized:
  V from 0 to the open-circuit voltage in 400 steps, refined once around
  the best (within 0.01% of the optimum for these smooth curves)."""
  isc, i_s, inv_nvt = (np.asarray(a, np.float64)[:, None] for a in (isc, i_s, inv_nvt))
  v_oc = np.log(np.maximum(isc, 0) / np.maximum(i_s, 1e-30) + 1.0) / inv_nvt
  fractions = np.linspace(0.0, 1.0, 401)[None, :]

  def power(v):
    return v * (isc - i_s * np.expm1(v * inv_nvt))

  coarse = v_oc * fractions
  best = np.argmax(power(coarse), axis=1)[:, None]
  step = v_oc / 400
  fine = np.clip(coarse[np.arange(len(coarse))[:, None], best] + step * (fractions * 2 - 1),
                 0, v_oc)
  return np.maximum(power(fine).max(axis=1), 0.0)


def pv_jogging(path: Path) -> PowerTrace:
  expected = "time_s,isc_a,is_a,inv_nvt_per_v"
  if _header(path) != expected:
    raise ConverterError(f"trace {path}: expected the header '{expected}', "
                         f"got '{_header(path)}'")
  rows = _rows(path, ",", 4, skip_header=True)
  return _checked(path.stem, rows[:, 0], max_power_point(rows[:, 1], rows[:, 2], rows[:, 3]))


def nrel(path: Path, panel_cm2: float = 10.0, panel_efficiency: float = 0.15) -> PowerTrace:
  if not path.exists():
    raise ConverterError(f"trace file {path} not found")
  times: List[float] = []
  irradiance: List[float] = []
  with path.open(newline="") as f:
    reader = csv.reader(f)
    header = next(reader, None)
    if header is None or len(header) < 3:
      raise ConverterError(f"trace {path}: expected the header 'date,MST,W/m^2'")
    for number, row in enumerate(reader, 2):
      if len(row) < 3:
        raise ConverterError(f"trace {path}: line {number} has {len(row)} columns, expected 3")
      try:
        _month, day, _year = (int(x) for x in row[0].split("/"))
        hour, minute = (int(x) for x in row[1].split(":"))
        irradiance.append(float(row[2]))
      except ValueError as e:
        raise ConverterError(f"trace {path}: line {number}: {e}") from None
      # A file holds one month: the day of the month orders its samples.
      times.append(((day - 1) * 24 + hour) * 3600.0 + minute * 60.0)
  power = np.maximum(np.array(irradiance), 0.0) * panel_cm2 * 1e-4 * panel_efficiency
  return _checked(f"nrel-{path.stem}", np.array(times), power)


def synthetic(spec: str, duration_s: float, seed: int = 0) -> PowerTrace:
  """`constant:P`, `square:HIGH:LOW:PERIOD[:DUTY]` or `random:MEAN:STEP`, in
  watts and seconds, lasting duration_s."""
  kind, *args = spec.split(":")
  try:
    values = [float(a) for a in args]
  except ValueError:
    raise ConverterError(f"trace {spec}: parameters must be numbers") from None
  shapes: Dict[str, Tuple[int, int]] = {"constant": (1, 1), "square": (3, 4), "random": (2, 2)}
  if kind not in shapes:
    raise ConverterError(f"trace {spec}: synthetic traces are constant, square and random")
  low, high = shapes[kind]
  if not low <= len(values) <= high or any(v < 0 for v in values):
    raise ConverterError(f"trace {spec}: {kind} takes {low} to {high} non-negative numbers "
                         f"(see converter/simulate/traces.py)")
  if kind == "constant":
    return _checked(spec, np.zeros(1), np.full(1, values[0]), duration_s)
  if kind == "square":
    p_high, p_low, period = values[:3]
    duty = values[3] if len(values) == 4 else 0.5
    if period <= 0 or not 0 < duty < 1:
      raise ConverterError(f"trace {spec}: the period must be > 0 and the duty in (0, 1)")
    starts = np.arange(0.0, duration_s, period)
    t = np.stack([starts, starts + duty * period], 1).reshape(-1)
    p = np.tile([p_high, p_low], len(starts))
    keep = t < duration_s
    return _checked(spec, t[keep], p[keep], duration_s)
  mean, step = values
  if step <= 0:
    raise ConverterError(f"trace {spec}: the step must be > 0")
  count = max(1, int(math.ceil(duration_s / step)))
  levels = np.exp(np.random.default_rng(seed).uniform(np.log(0.1), np.log(10.0), count))
  return _checked(spec, np.arange(count) * step, mean * levels / levels.mean(), count * step)


# Names of the shared recordings, relative to the traces folder.
_SHARED: Dict[str, Tuple[str, Callable[[Path], PowerTrace]]] = {
    "powercast-cart": ("rf_powercast_react/rf-cart.trace", powercast),
    "powercast-mobile": ("rf_powercast_react/rf-mobile.trace", powercast),
    "powercast-obstruction": ("rf_powercast_react/rf-obstruction.trace", powercast),
    "pv-jogging": ("pv_jogging_shepherd.csv", pv_jogging),
    **{f"mementos-{i}": (f"rf_mementos_wisp/{i}.txt", mementos) for i in range(1, 11)},
    **{f"nrel-{m}": (f"solar_nrel_outdoor/{m}.txt", nrel)
       for m in ("2018sep", "2023jan", "2023jun")},
}

_FORMATS: Dict[str, Callable[[Path], PowerTrace]] = {
    "powercast": powercast, "mementos": mementos, "pv-jogging": pv_jogging, "nrel": nrel}


def names() -> Sequence[str]:
  return sorted(_SHARED)


def load(name: str, shared: Optional[Path] = None, duration_s: float = 60.0,
         seed: int = 0, file_format: Optional[str] = None) -> PowerTrace:
  """A trace by name (names(), from `shared`), synthetic spec, or file path
  (`file_format` one of powercast, mementos, pv-jogging, nrel; by default
  guessed from the header)."""
  if name.split(":")[0] in ("constant", "square", "random"):
    return synthetic(name, duration_s, seed)
  if name in _SHARED:
    if shared is None:
      raise ConverterError(f"trace {name} is a shared recording: give the traces folder")
    relative, loader = _SHARED[name]
    return loader(shared / relative)
  path = Path(name)
  if not path.exists():
    raise ConverterError(f"trace {name}: not a file, a synthetic spec, nor one of "
                         f"{', '.join(names())}")
  if file_format is None:
    header = _header(path)
    file_format = ("powercast" if header.startswith("sec") else
                   "pv-jogging" if header.startswith("time_s,isc_a") else
                   "nrel" if header.startswith("DATE") else "mementos")
  if file_format not in _FORMATS:
    raise ConverterError(f"trace format {file_format}: one of {', '.join(_FORMATS)}")
  return _FORMATS[file_format](path)
