"""Harvesting traces (converter/simulate/traces.py): the shared recordings
turn into the power their README states, synthetic traces are what their
spec says and repeat for a seed, and malformed files are clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from converter.errors import ConverterError
from converter.simulate import traces


@pytest.fixture(scope="module")
def folder(shared_dir):
  return shared_dir / "traces"


def test_powercast_traces(folder):
  """README: medians 1.40 / 0.19 / 0.24 mW of RF power, about 315 s, 50 Hz;
  DC power is half (rf_efficiency 0.5)."""
  for name, median_mw in (("cart", 1.40), ("mobile", 0.19), ("obstruction", 0.24)):
    trace = traces.load(f"powercast-{name}", folder)
    assert 300 < trace.duration_s < 330
    assert np.median(np.diff(trace.time_s)) == pytest.approx(0.02, rel=0.05)
    assert np.median(trace.power_w) * 1e3 == pytest.approx(0.5 * median_mw, rel=0.05)


def test_pv_jogging_max_power_point(folder):
  """README: maximum-power point 0.22 / 0.57 / 0.82 mW (min / median / max)."""
  trace = traces.load("pv-jogging", folder)
  assert trace.duration_s == pytest.approx(616.7, abs=0.1)
  for got, stated in zip(np.percentile(trace.power_w, [0, 50, 100]) * 1e3, (0.22, 0.57, 0.82),
                         strict=True):
    assert got == pytest.approx(stated, abs=0.006)


def test_max_power_point_against_a_fine_search():
  isc, i_s, inv_nvt = np.array([1e-3, 5e-4]), np.array([1e-9, 1e-6]), np.array([25.0, 4.0])
  v = np.linspace(0, 2.0, 2_000_001)[None, :]
  brute = np.max(v * (isc[:, None] - i_s[:, None] * np.expm1(v * inv_nvt[:, None])), axis=1)
  assert traces.max_power_point(isc, i_s, inv_nvt) == pytest.approx(brute, rel=1e-4)


def test_mementos_and_nrel(folder):
  trace = traces.load("mementos-1", folder)
  assert 25 <= trace.duration_s <= 92 and trace.power_w.max() > 0
  june = traces.load("nrel-2023jun", folder)
  assert june.duration_s == pytest.approx(30 * 86400, rel=0.001)
  # Clear noons in Colorado reach 1,000 W/m^2 and more (clouds' edges add
  # to it): 0.15 W and more on 10 cm^2 at 15%.
  assert 0.15 < june.power_w.max() < 0.25


def test_synthetic_traces():
  square = traces.load("square:2e-3:0:10:0.25", duration_s=100)
  assert square.mean_power_w() == pytest.approx(0.25 * 2e-3)
  assert traces.load("constant:1e-3", duration_s=5).mean_power_w() == pytest.approx(1e-3)
  a = traces.load("random:1e-3:0.5", duration_s=60, seed=4)
  b = traces.load("random:1e-3:0.5", duration_s=60, seed=4)
  c = traces.load("random:1e-3:0.5", duration_s=60, seed=5)
  assert np.array_equal(a.power_w, b.power_w) and not np.array_equal(a.power_w, c.power_w)
  assert a.mean_power_w() == pytest.approx(1e-3, rel=1e-9)
  for bad in ("square:1", "constant:-1", "sine:1", "random:1:0"):
    with pytest.raises(ConverterError):
      traces.load(bad)


@pytest.mark.parametrize("text, message", [
    ("", "no samples"),
    ("sec RSSI,mW\n", "no samples"),
    ("sec RSSI,mW\n0.00\t0.2\n0.02\n", "line 3 has 1 columns"),
    ("sec RSSI,mW\n0.00\t0.2\n0.02\tnan\n", "sample 1 is not a number"),
    ("sec RSSI,mW\n0.00\t0.2\n0.04\t0.1\n0.02\t0.3\n", "time goes backwards"),
    ("sec RSSI,mW\n0.00\t0.2\n0.02\tabc\n", "line 3"),
])
def test_malformed_powercast(tmp_path, text, message):
  path = tmp_path / "bad.trace"
  path.write_text(text)
  with pytest.raises(ConverterError, match=message):
    traces.load(str(path), file_format="powercast" if text else None)


def test_malformed_pv_header(tmp_path):
  path = tmp_path / "pv.csv"
  path.write_text("time_s,isc_a,is_a\n0,1e-3,1e-9\n")
  with pytest.raises(ConverterError, match="expected the header"):
    traces.load(str(path), file_format="pv-jogging")


def test_unknown_trace():
  with pytest.raises(ConverterError, match="powercast-cart"):
    traces.load("no-such-trace")
