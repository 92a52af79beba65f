"""python -m converter.simulate as a user runs it: the bundled trace and
model give a report with its plots; bad input is one line and status 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.converter.helpers import REPO


def simulate(*args) -> subprocess.CompletedProcess:
  return subprocess.run([sys.executable, "-m", "converter.simulate", *map(str, args)],
                        cwd=REPO, capture_output=True, text=True, timeout=600)


def test_report_and_plots(digits_gnet_out, tmp_path):
  result = simulate("--model", digits_gnet_out, "--samples", 6, "--out", tmp_path)
  assert result.returncode == 0, result.stderr
  report = json.loads((tmp_path / "report.json").read_text())
  assert [p["policy"] for p in report["policies"]] == ["full", "freeml", "confidence", "exit-0"]
  for p in report["policies"]:
    assert p["answers"] == 6 and sum(p["answers_per_exit"]) == 6, p
    assert p["failures"] > 0 and p["changed_by_failures"] == 0, p  # power failed, no answer moved
  assert report["policies"][0]["answers_per_exit"][-1] == 6  # full: always the network
  assert report["policies"][3]["answers_per_exit"][0] == 6  # exit-0: always exit 0
  for name in ("voltage.png", "exits.png", "policies.png"):
    assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"]({name})" in (tmp_path / "report.md").read_text()
  assert "[simulate] freeml:" in result.stdout
  assert "0 of 24 (power failures change no answer)" in (tmp_path / "report.md").read_text()


@pytest.mark.parametrize("args, message", [
    ((), "--model DIR required"),
    (("--trace", "nowhere.trace"), "trace nowhere.trace: not a file"),
    (("--policies", "sometimes"), "policy 'sometimes'"),
    (("--capacitor-uf", "0"), "need C > 0"),
    (("--mcu", "z80"), "MCU 'z80'"),
    (("--samples", "0"), "--samples must be >= 1"),
])
def test_bad_input(digits_gnet_out, tmp_path, args, message):
  model = () if args == () else ("--model", digits_gnet_out)
  result = simulate(*model, *args, "--out", tmp_path / "out")
  assert result.returncode == 2, result.stderr
  errors = [line for line in result.stderr.splitlines() if line.startswith("simulate: error:")]
  assert len(errors) == 1 and message in errors[0], result.stderr
  assert "Traceback" not in result.stderr and not (tmp_path / "out").exists()


def test_malformed_trace_file(digits_gnet_out, tmp_path):
  trace = tmp_path / "bad.trace"
  trace.write_text("sec RSSI,mW\n0.00\t0.2\n0.02\tnan\n")
  result = simulate("--model", digits_gnet_out, "--trace", trace, "--out", tmp_path / "out")
  assert result.returncode == 2 and "is not a number" in result.stderr
