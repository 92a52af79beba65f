"""The Cortex-M4 firmware under QEMU (netduinoplus2): the same bytes as TFLM
and the host runtime, through any number of power failures; clear errors
for a corrupted model, damaged NVM and bad usage; a build that refuses a
model the board cannot hold."""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from tests.firmware.conftest import DeviceModel
from tflm_freeml import firmware
from tflm_freeml.intermittent import IntermittentRuntime
from tflm_freeml.runtime import Runtime

FAILURES = 25
QEMU_TIMEOUT = 60.0


def run(device: DeviceModel, index: int = 0, **kwargs) -> firmware.FirmwareRun:
  return firmware.run(device.elf, device.inputs[index], timeout=QEMU_TIMEOUT, **kwargs)


def test_continuous_run_equals_tflm_and_host(any_device):
  model = (any_device.model_dir / "model.tflite").read_bytes()
  host = Runtime(model)
  for x, expected in zip(any_device.inputs, any_device.expected, strict=True):
    result = firmware.run(any_device.elf, x, timeout=QEMU_TIMEOUT)
    assert result.returncode == firmware.EXIT_OK, result.log
    assert result.output == expected
    (ours,) = host.invoke([np.frombuffer(x, np.int8).reshape(host.inputs[0].shape)])
    assert ours.tobytes() == result.output
    assert result.done["boots"] == 1 and result.failures == 0
    # One uninterrupted inference runs every op whole, in order.
    assert [op.index for op in result.ops] == list(range(len(result.ops)))
    assert result.boots[0]["model_crc32"] == zlib.crc32(model)


def _progressing_boots(result: firmware.FirmwareRun) -> int:
  """Boots that found the run further on than the boot before (the first
  resume is the fresh start)."""
  positions = [(r["state"], r["op"], r["tile"]) for r in result.resumes]
  return sum(1 for a, b in zip(positions, positions[1:], strict=False) if b > a)


@pytest.mark.parametrize("name", ["digits_small_tiles", "kws", "resnet"])
@pytest.mark.parametrize("seed", [1, 2])
def test_power_failures_give_the_identical_output(request, name, seed):
  device = request.getfixturevalue(f"{name}_device")
  continuous = run(device)
  work = continuous.done["instructions"] - continuous.done["boot_instructions"]
  # Intervals uniform in [1, 4/3 of a FAILURES-th of the inference] add up to
  # two thirds of it on average, with a spread of under 8%: every failure
  # lands before the end, over most of the inference.
  max_interval = 4 * work // (3 * FAILURES)
  for index in range(2):
    result = run(device, index, failures=FAILURES, seed=seed + 10 * index,
                 max_interval=max_interval)
    assert result.returncode == firmware.EXIT_OK, result.log
    assert result.output == device.expected[index]
    assert result.failures == FAILURES and len(result.boots) == FAILURES + 1
    # Some failures strike during recovery, before a boot logs its resume.
    # Most failures struck mid-inference, after some progress was committed.
    assert _progressing_boots(result) >= FAILURES // 2, result.resumes
    assert all(r["run_id"] == 1 for r in result.resumes), "a failure restarted the run"
    assert result.done["total_instructions"] > continuous.done["instructions"]


def test_a_gnet_model_with_an_int4_head_runs_on_the_device(digits_gnet_rank_device):
  """Run to the network's end, the exit ops accumulate every exit's
  features through the int4 kernel on the Cortex-M4 as on the host, with
  and without power failures spread over the inference."""
  device = digits_gnet_rank_device
  for index, expected in enumerate(device.expected):
    continuous = run(device, index)
    assert continuous.returncode == firmware.EXIT_OK, continuous.log
    assert continuous.output == expected
    work = continuous.done["instructions"] - continuous.done["boot_instructions"]
    failed = run(device, index, failures=10, seed=5 + index, max_interval=4 * work // 30)
    assert failed.returncode == firmware.EXIT_OK, failed.log
    assert failed.output == expected and failed.failures == 10


def test_power_failure_schedule_is_deterministic(kws_device):
  first = run(kws_device, failures=5, seed=3, max_interval=3_000_000)
  again = run(kws_device, failures=5, seed=3, max_interval=3_000_000)
  assert first.log == again.log and first.output == again.output
  other = run(kws_device, failures=5, seed=4, max_interval=3_000_000)
  assert other.resumes != first.resumes and other.output == first.output


# ---- Corrupted model image ----


def _elf_file_offset(elf_bytes: bytes, address: int) -> int:
  """File offset of a virtual address, from the ELF32 program headers."""
  phoff, = struct.unpack_from("<I", elf_bytes, 0x1C)
  phentsize, phnum = struct.unpack_from("<HH", elf_bytes, 0x2A)
  for i in range(phnum):
    p_type, p_offset, p_vaddr, _, p_filesz, *_ = struct.unpack_from(
        "<8I", elf_bytes, phoff + i * phentsize)
    if p_type == 1 and p_vaddr <= address < p_vaddr + p_filesz:
      return p_offset + address - p_vaddr
  raise AssertionError(f"address {address:#x} is in no loaded segment")


def _model_symbol(elf: Path) -> tuple:
  nm = subprocess.run(["arm-none-eabi-nm", "-S", str(elf)], capture_output=True, text=True,
                      check=True).stdout
  for line in nm.splitlines():
    parts = line.split()
    if len(parts) == 4 and parts[3] == "freeml_model_data":
      return int(parts[0], 16), int(parts[1], 16)
  raise AssertionError("freeml_model_data not in the ELF")


@pytest.mark.parametrize("where", [0, 4, 0.5, -1])
def test_corrupted_model_image_is_an_error(digits_device, tmp_path, where):
  address, size = _model_symbol(digits_device.elf)
  data = bytearray(digits_device.elf.read_bytes())
  byte = int(where * size) if isinstance(where, float) else where % size
  data[_elf_file_offset(bytes(data), address + byte)] ^= 0x10
  corrupted = tmp_path / "corrupted.elf"
  corrupted.write_bytes(bytes(data))
  result = firmware.run(corrupted, digits_device.inputs[0], timeout=QEMU_TIMEOUT)
  assert result.returncode == firmware.EXIT_MODEL, result.log
  assert result.output is None
  assert "model image is corrupted" in result.log


def test_model_check_runs_once_per_run_and_resumes_after_a_failure(digits_device):
  continuous = run(digits_device)
  model_bytes = (digits_device.model_dir / "model.tflite").stat().st_size
  assert continuous.done["model_check_instructions"] > 3 * model_bytes  # the whole image
  # Failures within 40,000 instructions of each boot's arming strike the
  # model check (about 90,000 instructions, 4 KB chunks of about 14,000): it
  # finishes before the last boot only if it goes on from its last recorded
  # chunk instead of starting over.
  result = run(digits_device, failures=8, seed=5, max_interval=40_000)
  assert result.returncode == firmware.EXIT_OK, result.log
  assert result.output == digits_device.expected[0]
  assert all(r["run_id"] == 1 for r in result.resumes)
  assert result.done["model_check_instructions"] < continuous.done["model_check_instructions"]
  # Ops run only once the check is done: a boot that resumes after op 0 of
  # the same run only reads the record.
  resumed = run(digits_device, failures=1, seed=2,
                max_interval=continuous.done["instructions"])
  assert resumed.returncode == firmware.EXIT_OK, resumed.log
  assert resumed.resumes[-1]["op"] > 0, resumed.resumes
  assert resumed.done["model_check_instructions"] < 2_000


# ---- Damaged NVM ----


def _host_nvm_mid_run(device: DeviceModel, stop_at_write: int) -> bytes:
  """NVM as the host runtime leaves it when power fails at a write."""
  model = (device.model_dir / "model.tflite").read_bytes()
  plan = json.loads((device.model_dir / "report.json").read_text())["intermittent"]
  runtime = IntermittentRuntime(model, plan["max_tile_macs"], plan["max_tile_bytes"])
  nvm = runtime.new_nvm()
  x = np.frombuffer(device.inputs[0], np.int8).reshape(Runtime(model).inputs[0].shape)
  boot = runtime.boot(nvm, [x], fail_at_write=stop_at_write)
  assert not boot.done
  return bytes(nvm)


def test_nvm_written_by_the_host_resumes_on_the_device(digits_device):
  image = _host_nvm_mid_run(digits_device, stop_at_write=40)
  result = run(digits_device, nvm_image=image)
  assert result.returncode == firmware.EXIT_OK, result.log
  assert result.output == digits_device.expected[0]
  assert result.resumes[0]["op"] > 0, "the device did not resume the host's run"


@pytest.mark.parametrize("offset", [4, 20, 36, 64 + 8, 128])
def test_damaged_control_block_restarts_or_resumes_safely(digits_device, offset):
  image = bytearray(_host_nvm_mid_run(digits_device, stop_at_write=40))
  image[offset] ^= 0x01
  result = run(digits_device, nvm_image=bytes(image))
  assert result.returncode == firmware.EXIT_OK, result.log
  assert result.output == digits_device.expected[0]


@pytest.mark.parametrize("failures", [0, 3])
def test_garbage_nvm_restarts_cleanly(digits_device, failures):
  # QEMU writes the image again at every reset: each boot finds garbage.
  nvm_bytes = json.loads((digits_device.model_dir / "report.json").read_text())[
      "intermittent"]["nvm_bytes"]
  garbage = np.random.default_rng(5).integers(0, 256, nvm_bytes, dtype=np.uint8).tobytes()
  result = run(digits_device, nvm_image=garbage, failures=failures, max_interval=200_000)
  assert result.returncode == firmware.EXIT_OK, result.log
  assert result.output == digits_device.expected[0]
  assert result.failures == failures


# ---- Usage and build errors ----


def _raw_run(elf: Path, args, tmp_path: Path) -> subprocess.CompletedProcess:
  return subprocess.run(firmware.qemu_command(elf, args), cwd=tmp_path, capture_output=True,
                        timeout=QEMU_TIMEOUT)


@pytest.mark.parametrize("args, status, message", [
    ([], firmware.EXIT_USAGE, "usage"),
    (["in.bin", "out.bin", "--failures"], firmware.EXIT_USAGE, "usage"),
    (["in.bin", "out.bin", "--failures", "x1"], firmware.EXIT_USAGE, "usage"),
    (["in.bin", "out.bin", "--bogus", "1"], firmware.EXIT_USAGE, "usage"),
    (["missing.bin", "out.bin"], firmware.EXIT_IO, "cannot open input"),
    (["short.bin", "out.bin"], firmware.EXIT_IO, "exactly the model's input bytes"),
])
def test_bad_command_line_is_an_error(digits_device, tmp_path, args, status, message):
  (tmp_path / "in.bin").write_bytes(digits_device.inputs[0])
  (tmp_path / "short.bin").write_bytes(digits_device.inputs[0][:-1])
  done = _raw_run(digits_device.elf, args, tmp_path)
  assert done.returncode == status
  assert message in (done.stdout + done.stderr).decode()
  assert not (tmp_path / "out.bin").exists()


def test_a_model_too_big_for_the_board_fails_the_build(digits_out, tmp_path):
  model_dir = tmp_path / "huge"
  shutil.copytree(digits_out, model_dir)
  header = (model_dir / "model_data.h").read_text()
  header = re.sub(r"FREEML_MODEL_NVM_BYTES \d+u", "FREEML_MODEL_NVM_BYTES 200000u", header)
  (model_dir / "model_data.h").write_text(header)
  with pytest.raises(firmware.FirmwareError) as error:
    firmware.build(model_dir, tmp_path / "huge.elf")
  needed = re.search(r"needs (\d+) bytes of SRAM, the board has 131072", str(error.value))
  assert needed, str(error.value)
  assert int(needed.group(1)) > 200_000
  assert not (tmp_path / "huge.elf").exists()


# ---- Per-op counts in the report ----


def test_device_profile_adds_per_op_counts_to_the_report(digits_device, tmp_path):
  model_dir = tmp_path / "digits"
  shutil.copytree(digits_device.model_dir, model_dir)
  done = subprocess.run([sys.executable, "-m", "converter.device_profile", "--model-dir",
                         str(model_dir), "--elf", str(digits_device.elf)],
                        capture_output=True, text=True, cwd=firmware.REPO)
  assert done.returncode == 0, done.stderr
  report = json.loads((model_dir / "report.json").read_text())
  device = report["device"]
  assert [op["index"] for op in device["ops"]] == list(range(len(report["layers"])))
  assert all(op["instructions"] > 0 for op in device["ops"])
  assert sum(op["instructions"] for op in device["ops"]) <= device["run_instructions"]
  assert device["macs"] == report["model"]["macs"]
  assert device["nvm_bytes"] >= report["intermittent"]["nvm_bytes"]
  assert device["model_bytes"] == (model_dir / "model.tflite").stat().st_size
  assert device["flash_bytes"] > device["model_bytes"]
  assert device["power_failures"]["failures"] == 20
  assert device["power_failures"]["boots"] == 21
  markdown = (model_dir / "report.md").read_text()
  assert "## On the Cortex-M4" in markdown and "instructions/MAC" in markdown
  assert "through 20 power failures | same output" in markdown


def test_device_profile_refuses_an_elf_of_another_model(kws_device, digits_device, tmp_path):
  model_dir = tmp_path / "digits"
  shutil.copytree(digits_device.model_dir, model_dir)
  done = subprocess.run([sys.executable, "-m", "converter.device_profile", "--model-dir",
                         str(model_dir), "--elf", str(kws_device.elf)],
                        capture_output=True, text=True, cwd=firmware.REPO)
  assert done.returncode == 2
  assert "carries another model" in done.stderr
