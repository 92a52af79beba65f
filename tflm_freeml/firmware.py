"""The Cortex-M4 firmware (firmware/): build it for a model, run it in QEMU.

The firmware runs on QEMU's netduinoplus2 (an STM32F405) with
`-icount shift=0,sleep=off`: one instruction per nanosecond of virtual time,
so runs are deterministic and SysTick gives instruction counts. Input,
output and the log go through semihosting; simulated power failures are
system resets the firmware schedules itself (firmware/power_failure.h).

Example:
  elf = build(Path("out/digits"), Path("build/firmware/freeml_fw.elf"))
  result = run(elf, input_bytes, failures=20, seed=7)
  assert result.returncode == 0 and result.failures == 20
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

REPO = Path(__file__).resolve().parent.parent
BUILD_SCRIPT = REPO / "scripts" / "build_firmware.sh"
QEMU = "qemu-system-arm"
MACHINE = "netduinoplus2"
BOARD = "STM32F405 (QEMU netduinoplus2, -icount shift=0)"

# Exit statuses of firmware/board/board.h.
EXIT_OK, EXIT_MODEL, EXIT_USAGE, EXIT_IO, EXIT_FAULT = 0, 1, 2, 3, 4

_PAIR = re.compile(r"(\w+)=(\S+)")


class FirmwareError(RuntimeError):
  """The firmware could not be built, or QEMU did not finish in time."""


@dataclasses.dataclass(frozen=True)
class OpCount:
  """One op the firmware ran whole within one boot."""
  index: int
  instructions: int
  macs: int
  tiles: int


@dataclasses.dataclass(frozen=True)
class FirmwareRun:
  """What one QEMU process reported.

  returncode: the firmware's semihosting exit status (see EXIT_*).
  output: OUTPUT.bin's bytes, or None if the firmware did not write it.
  log: the semihosting console, one "freeml_fw: ..." line per event.
  boots: one dict of key=value pairs per boot line (mode, kernels, boot,
    model_crc32).
  resumes: per boot that reached NVM, where the run stood (state, op, tile).
  ops: per-op counts of the last boot.
  done: the totals line (boots, failures, instructions, memory), or {}.
  """
  returncode: int
  output: Optional[bytes]
  log: str
  boots: List[Dict[str, Union[int, str]]]
  resumes: List[Dict[str, int]]
  ops: List[OpCount]
  done: Dict[str, int]

  @property
  def failures(self) -> int:
    return self.done.get("failures", len(self.boots) - 1)

  @property
  def notices(self) -> List[str]:
    return [line.split("notice: ", 1)[1] for line in self.log.splitlines()
            if line.startswith("freeml_fw: notice: ")]


def build(model_dir: Path, output: Path, *, plain: bool = False,
          portable_kernels: bool = False) -> Path:
  """Builds the firmware for a converter output folder into `output`.

  Raises FirmwareError with the build's message (for example, that the
  model does not fit the board, with the numbers).
  """
  args = ["bash", str(BUILD_SCRIPT), str(model_dir), "--output", str(Path(output).resolve())]
  args += ["--plain"] if plain else []
  args += ["--portable-kernels"] if portable_kernels else []
  done = subprocess.run(args, cwd=REPO, capture_output=True, text=True)
  if done.returncode != 0:
    raise FirmwareError((done.stderr or done.stdout).strip())
  return Path(output)


def qemu_command(elf: Path, semihosting_args: Sequence[str],
                 extra: Sequence[str] = ()) -> List[str]:
  """The QEMU command line; semihosting_args must hold no comma or space."""
  config = ",".join(["enable=on", "target=native", "arg=freeml_fw"]
                    + [f"arg={a}" for a in semihosting_args])
  return [QEMU, "-M", MACHINE, "-nographic", "-monitor", "none", "-serial", "none",
          "-icount", "shift=0,sleep=off", "-semihosting-config", config,
          "-kernel", str(Path(elf).resolve()), *extra]


def run(elf: Path, input_bytes: bytes, *, failures: int = 0, seed: int = 1,
        max_interval: Optional[int] = None, timeout: float = 120.0,
        nvm_image: Optional[bytes] = None) -> FirmwareRun:
  """Runs one inference in a fresh QEMU (NVM starts zeroed).

  nvm_image: bytes QEMU writes at the NVM's address (the start of SRAM) at
  start and again at every reset, to check the firmware against damaged
  NVM.
  Raises FirmwareError if QEMU does not exit within `timeout` seconds.
  """
  with tempfile.TemporaryDirectory(prefix="freeml_fw_") as tmp:
    work = Path(tmp)
    (work / "in.bin").write_bytes(input_bytes)
    args = ["in.bin", "out.bin"]
    if failures:
      args += ["--failures", str(failures), "--seed", str(seed)]
    if max_interval is not None:
      args += ["--max-interval", str(max_interval)]
    extra: List[str] = []
    if nvm_image is not None:
      (work / "nvm.bin").write_bytes(nvm_image)
      extra = ["-device", "loader,file=nvm.bin,addr=0x20000000,force-raw=on"]
    try:
      done = subprocess.run(qemu_command(elf, args, extra), cwd=work, capture_output=True,
                            timeout=timeout)
    except subprocess.TimeoutExpired as e:
      raise FirmwareError(f"QEMU did not exit within {timeout:g} s: {elf} {' '.join(args)}") from e
    output_path = work / "out.bin"
    output = output_path.read_bytes() if output_path.exists() else None
  # QEMU 7.2 writes the semihosting console to stderr when it is no tty.
  log = (done.stdout + done.stderr).decode("utf-8", "replace")
  return parse(done.returncode, output, log)


def parse(returncode: int, output: Optional[bytes], log: str) -> FirmwareRun:
  """Reads the firmware's log lines into a FirmwareRun."""
  boots, resumes, ops, done = [], [], [], {}
  for line in log.splitlines():
    if not line.startswith("freeml_fw: "):
      continue
    kind, _, rest = line[len("freeml_fw: "):].partition(" ")
    values = {key: int(value) if value.isdigit() else value
              for key, value in _PAIR.findall(rest)}
    if kind == "boot":
      boots.append(values)
      ops = []  # per-op counts are those of the last boot
    elif kind == "resume":
      resumes.append(values)
    elif kind == "op":
      ops.append(OpCount(values["index"], values["instructions"], values["macs"],
                         values["tiles"]))
    elif kind == "done":
      done = values
  return FirmwareRun(returncode, output, log, boots, resumes, ops, done)
