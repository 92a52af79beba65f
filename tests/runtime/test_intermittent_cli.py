"""`freeml_run --nvm`: simulated power failures (exit 75, run again to
resume), processes killed at random instants, and NVM files that are not
what the model needs. Every run that finishes writes TFLM's output."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import List

import numpy as np
import pytest

from tests.runtime.conftest import tflm_outputs
from tflm_freeml.intermittent import HEADER_BYTES, IntermittentRuntime, latest_commit

TIMEOUT_S = 30
EXIT_POWER_FAILURE = 75
KILL_SCHEDULES = 1000
KILL_CHUNKS = 4


def run(freeml_run: Path, *args) -> subprocess.CompletedProcess:
  return subprocess.run([str(freeml_run), *map(str, args)], capture_output=True, text=True,
                        timeout=TIMEOUT_S)


def write_input(tmp_path: Path, x: np.ndarray, name: str = "in.bin") -> Path:
  path = tmp_path / name
  path.write_bytes(x.tobytes())
  return path


def stats(stdout: str) -> dict:
  line = next(line for line in stdout.splitlines() if line.startswith("tiles="))
  return {key: int(value) for key, value in (item.split("=") for item in line.split())}


@pytest.fixture(scope="module")
def digits_path(digits_out) -> Path:
  return digits_out / "model.tflite"


@pytest.fixture(scope="module")
def digits_expected(digits_model, digits_inputs) -> List[np.ndarray]:
  return tflm_outputs(digits_model, digits_inputs[:2])


def test_every_write_through_the_cli(freeml_run, digits_path, digits_model, digits_inputs,
                                     digits_expected, tmp_path):
  x = write_input(tmp_path, digits_inputs[0])
  out, nvm = tmp_path / "out.bin", tmp_path / "nvm.bin"
  # freeml_run prepares the tables at every boot, writing no snapshot.
  (boot,) = IntermittentRuntime(digits_model, snapshot=False).run_through_failures(
      [digits_inputs[0]], iter([]))
  writes = boot.nvm_writes
  for write in range(1, writes + 1):
    nvm.unlink(missing_ok=True)
    failed = run(freeml_run, digits_path, "--input", x, "--output", out, "--nvm", nvm,
                 "--fail-after-writes", write)
    assert failed.returncode == EXIT_POWER_FAILURE, failed.stderr
    assert failed.stderr.strip().endswith(
        f"power failed at NVM write {write} (simulated); run again to resume")
    resumed = run(freeml_run, digits_path, "--input", x, "--output", out, "--nvm", nvm)
    assert resumed.returncode == 0, resumed.stderr
    assert out.read_bytes() == digits_expected[0].tobytes(), write
  finished = run(freeml_run, digits_path, "--input", x, "--output", out, "--nvm", nvm,
                 "--print-stats")
  assert finished.returncode == 0 and stats(finished.stdout)["tiles"] == 0


def test_new_input_and_memory_report(freeml_run, digits_path, digits_model, digits_inputs,
                                     digits_expected, tmp_path):
  nvm, out = tmp_path / "nvm.bin", tmp_path / "out.bin"
  rt = IntermittentRuntime(digits_model)
  for run_id, (x, expected) in enumerate(zip(digits_inputs, digits_expected, strict=False), 1):
    result = run(freeml_run, digits_path, "--input", write_input(tmp_path, x), "--output", out,
                 "--nvm", nvm, "--print-stats", "--print-memory")
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == expected.tobytes()
    assert stats(result.stdout)["run_id"] == run_id
    assert stats(result.stdout)["tiles"] == rt.total_tiles
    assert (f"scratch_bytes={rt.memory.scratch_bytes} total_bytes={rt.memory.sram_bytes} "
            f"nvm_bytes={rt.memory.nvm_bytes}") in result.stdout
  assert nvm.stat().st_size == rt.memory.nvm_bytes


def test_truncated_or_foreign_nvm_file(freeml_run, digits_path, digits_inputs, digits_expected,
                                       tmp_path):
  x = write_input(tmp_path, digits_inputs[0])
  nvm, out = tmp_path / "nvm.bin", tmp_path / "out.bin"
  args = (digits_path, "--input", x, "--output", out, "--nvm", nvm)
  assert run(freeml_run, *args, "--fail-after-writes", 50).returncode == EXIT_POWER_FAILURE
  size = nvm.stat().st_size
  os.truncate(nvm, size // 2)
  result = run(freeml_run, *args)
  assert result.returncode == 0, result.stderr
  assert f"has {size // 2} bytes, the model needs {size}: starting from an empty NVM" in (
      result.stderr)
  assert out.read_bytes() == digits_expected[0].tobytes()
  nvm.write_bytes(os.urandom(3 * size))
  result = run(freeml_run, *args)
  assert result.returncode == 0 and "starting from an empty NVM" in result.stderr
  assert out.read_bytes() == digits_expected[0].tobytes()


def test_option_errors(freeml_run, digits_path, digits_inputs, tmp_path):
  x = write_input(tmp_path, digits_inputs[0])
  base = (digits_path, "--input", x, "--output", tmp_path / "out.bin")
  for extra, fragment in ((("--fail-after-writes", 3), "need --nvm"),
                          (("--max-tile-macs", 64), "need --nvm"),
                          (("--nvm", tmp_path / "n.bin", "--fail-after-writes", 0),
                           "bad --fail-after-writes value '0'"),
                          (("--nvm", tmp_path / "n.bin", "--max-tile-macs", "-5"),
                           "bad --max-tile-macs value '-5'"),
                          (("--nvm", tmp_path / "no" / "such" / "dir"), "cannot map NVM file")):
    result = run(freeml_run, *base, *extra)
    assert result.returncode in (1, 2), result.stderr
    assert fragment in result.stderr


# ---- processes killed at random instants ----

def committed_sequence(nvm: Path) -> int:
  """Sequence number of the latest commit in the NVM file (0: none)."""
  try:
    with nvm.open("rb") as f:
      commit = latest_commit(f.read(HEADER_BYTES))
  except FileNotFoundError:
    return 0
  return commit.sequence if commit is not None else 0


def kill_after_commit(command: List[str], nvm: Path, target: int, delay_s: float) -> None:
  """Starts the runner and kills it (SIGKILL) `delay_s` after it commits
  sequence number `target`, or lets it finish if it gets there first. Kill
  instants keyed to progress, not to a clock, land inside the inference
  however loaded the machine is."""
  process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  deadline = time.monotonic() + TIMEOUT_S
  while process.poll() is None and committed_sequence(nvm) < target:
    assert time.monotonic() < deadline, "runner made no progress"
    time.sleep(0.0001)
  time.sleep(delay_s)
  process.send_signal(signal.SIGKILL)
  process.wait(timeout=TIMEOUT_S)


def kill_schedules(freeml_run: Path, model: Path, x: Path, expected: bytes, tmp_path: Path,
                   schedules: int, seed: int, max_delay_s: float = 0.0005,
                   extra_args: tuple = ()) -> dict:
  """Runs `schedules` inferences, each killed (SIGKILL) up to 3 times at a
  random instant after a random commit (fewer if a process finishes first),
  then run to the end. Returns counts of where the kills landed, read from
  the control block they left."""
  out, nvm = tmp_path / "out.bin", tmp_path / "nvm.bin"
  command = [str(freeml_run), str(model), "--input", str(x), "--output", str(out),
             "--nvm", str(nvm), *map(str, extra_args)]
  subprocess.run(command, check=True, timeout=TIMEOUT_S)
  commits = committed_sequence(nvm)  # of an uninterrupted run from blank NVM
  rng = np.random.default_rng(seed)
  landed = {"mid_run": 0, "after_done": 0}
  for _ in range(schedules):
    nvm.unlink(missing_ok=True)
    out.unlink(missing_ok=True)
    for _ in range(int(rng.integers(1, 4))):
      now = committed_sequence(nvm)
      kill_after_commit(command, nvm, int(rng.integers(now + 1, max(now + 2, commits))),
                        float(rng.uniform(0, max_delay_s)))
      commit = latest_commit(nvm.read_bytes())
      if commit is not None and commit.state == 3:
        landed["after_done"] += 1
        break
      landed["mid_run"] += 1
    result = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert result.returncode == 0, result.stderr
    assert out.read_bytes() == expected
  return landed


@pytest.mark.shared_data
@pytest.mark.parametrize("chunk", range(KILL_CHUNKS))
def test_random_kills_resnet(chunk, freeml_run, shared_dir, resnet_model, resnet_inputs,
                             tmp_path):
  (expected,) = tflm_outputs(resnet_model, resnet_inputs[1:2])
  landed = kill_schedules(freeml_run, shared_dir / "models" / "ic_resnet8_int8.tflite",
                          write_input(tmp_path, resnet_inputs[1]), expected.tobytes(), tmp_path,
                          KILL_SCHEDULES // KILL_CHUNKS, seed=100 + chunk)
  print(f"kills: {landed}")
  assert landed["mid_run"] > 0.5 * sum(landed.values()), landed


def test_random_kills_default_model(freeml_run, digits_path, digits_inputs, digits_expected,
                                    tmp_path):
  # Its inference takes a fraction of a millisecond at the default plan: one
  # unit per tile (5,789 commits) gives the kills an inference to land in.
  # Polling for progress lags such fast runs, so schedules continue past 200
  # until at least 60 kills have landed mid-inference, however loaded the
  # machine is.
  landed = {"mid_run": 0, "after_done": 0}
  schedules = 0
  while schedules < 200 or landed["mid_run"] < 60:
    assert schedules < 2000, landed
    batch = kill_schedules(freeml_run, digits_path, write_input(tmp_path, digits_inputs[1]),
                           digits_expected[1].tobytes(), tmp_path, 50, seed=5 + schedules,
                           max_delay_s=0, extra_args=("--max-tile-macs", 1, "--max-tile-bytes", 1))
    landed = {key: landed[key] + batch[key] for key in landed}
    schedules += 50
  print(f"kills: {landed} in {schedules} schedules")
