"""Python binding of the intermittent runtime: simulated boots on an NVM
buffer that Python keeps, with power failures injected at chosen NVM writes.

Each boot() is one power-on of a device: SRAM (the arena) starts as garbage,
the C runtime is built again from the model, and the run resumes from what
NVM holds. This is the same C code as `freeml_run --nvm`, without a process
per boot, so tests and the energy simulator can afford thousands of boots.

Example:
  rt = IntermittentRuntime(model_bytes)
  nvm = rt.new_nvm()
  boot = rt.boot(nvm, [x], fail_at_write=40)   # power fails at write 40
  while not boot.done:
    boot = rt.boot(nvm, [x])
  logits = boot.outputs[0]
"""

from __future__ import annotations

import ctypes
import dataclasses
import struct
import zlib
from typing import Iterator, List, Optional, Sequence

import numpy as np

from tflm_freeml.runtime import FreemlError, Runtime, _aligned_copy, _Error, _load, library_path

# The NVM format of tflm_freeml/intermittent.h (docs/intermittent.md).
MAGIC = 0x4E4C4D46
FORMAT_VERSION = 4
SLOT_STRIDE = 64
MARKER_OFFSET = 2 * SLOT_STRIDE
HEADER_BYTES = MARKER_OFFSET + 16
SNAPSHOT_HEADER_BYTES = 312  # freeml_snapshot_header
SNAPSHOT_WRITES = 2  # a boot that writes the snapshot: its header, the tables
_SLOT = struct.Struct("<IHHIIIIIIIII")  # freeml_control_slot
SLOT_BYTES = _SLOT.size
_SLOT_CHECKED = SLOT_BYTES - 4
_MAX_OPERATORS = 512
_MAX_TENSORS = 1024
_STATUS_OK = 0
_STATUS_INTERRUPTED = 5
STATES = {0: "none", 1: "loading", 2: "running", 3: "done"}


class _Config(ctypes.Structure):
  _fields_ = [("model_hash", ctypes.c_uint32), ("max_tile_macs", ctypes.c_uint32),
              ("max_tile_bytes", ctypes.c_uint32), ("snapshot_crc", ctypes.c_uint32)]


class _Plan(ctypes.Structure):
  _fields_ = [(name, ctypes.c_uint32) for name in (
      "persistent_bytes", "activation_bytes", "scratch_bytes", "total_bytes", "nvm_bytes",
      "num_ops", "num_tensors", "checksum_offset", "activations_offset", "snapshot_bytes",
      "snapshot_crc")]


class _Boot(ctypes.Structure):
  _fields_ = [("macs", ctypes.c_uint64), ("nvm_bytes_written", ctypes.c_uint64)] + [
      (name, ctypes.c_uint32) for name in (
          "tiles", "commits", "nvm_writes", "state", "run_id", "op", "tile", "sequence",
          "restored")]


@dataclasses.dataclass(frozen=True)
class IntermittentMemory:
  """SRAM and NVM bytes of intermittent mode, counted by the C code.

  sram_bytes: the arena: op table, parameters, tensor plans and the scratch
    of one tile (scratch_bytes).
  nvm_bytes: control block (HEADER_BYTES), the snapshot of the prepared
    tables (snapshot_bytes: a header and the arena's persistent_bytes),
    activations and the checksum table.
  """
  persistent_bytes: int
  activation_bytes: int
  scratch_bytes: int
  sram_bytes: int
  nvm_bytes: int
  snapshot_bytes: int


@dataclasses.dataclass(frozen=True)
class OpTiles:
  """How one op is split: `units` of work, `tile_units` per tile; a unit
  writes `unit_bytes` output bytes of tensor `output` and costs `unit_macs`
  MACs."""
  units: int
  tile_units: int
  unit_bytes: int
  unit_macs: int
  output: int

  @property
  def tiles(self) -> int:
    return -(-self.units // self.tile_units)

  @property
  def macs(self) -> int:
    return self.units * self.unit_macs

  @property
  def work(self) -> int:
    """The energy port's unit: MACs, or output units for an op without."""
    return self.units * max(self.unit_macs, 1)


@dataclasses.dataclass(frozen=True)
class NvmTensor:
  """Where a tensor lives in NVM (`bytes` 0: a constant or unused tensor),
  its lifetime in ops (first_op -1: a graph input; last_op len(ops): a graph
  output) and where its CRC-32 is kept once it is complete."""
  nvm_offset: int
  bytes: int
  first_op: int
  last_op: int
  checksum_offset: int


@dataclasses.dataclass(frozen=True)
class Boot:
  """What one boot did (counts of this boot only) and the progress it left.
  A finished run answered from `exit` (the number of exits, 0 without any:
  the network's end), and `outputs` are then the graph's outputs, or the
  exit's int8 logits as one array for an early exit."""
  done: bool
  outputs: Optional[List[np.ndarray]]
  exit: int
  notice: str
  tiles: int
  macs: int
  commits: int
  nvm_writes: int
  nvm_bytes_written: int
  state: str
  run_id: int
  op: int
  tile: int
  restored: bool = False  # the prepared tables came from the NVM snapshot


@dataclasses.dataclass(frozen=True)
class ControlSlot:
  magic: int
  format_version: int
  state: int
  model_hash: int
  plan_hash: int
  run_id: int
  input_hash: int
  sequence: int
  op: int
  tile: int
  output_crc: int
  crc: int

  @property
  def valid(self) -> bool:
    packed = _SLOT.pack(*dataclasses.astuple(self))
    return self.magic == MAGIC and self.crc == zlib.crc32(packed[:_SLOT_CHECKED])

  def pack(self) -> bytes:
    return _SLOT.pack(*dataclasses.astuple(self))

  def with_crc(self) -> "ControlSlot":
    """This slot with its crc recomputed (to forge well-formed states)."""
    return dataclasses.replace(self, crc=zlib.crc32(self.pack()[:_SLOT_CHECKED]))


def read_slot(nvm: bytes | np.ndarray, index: int) -> ControlSlot:
  """Control slot 0 or 1 as stored, valid or not."""
  start = index * SLOT_STRIDE
  return ControlSlot(*_SLOT.unpack(bytes(nvm[start:start + _SLOT.size])))


def read_marker(nvm: bytes | np.ndarray) -> int:
  return struct.unpack("<I", bytes(nvm[MARKER_OFFSET:MARKER_OFFSET + 4]))[0]


def latest_commit(nvm: bytes | np.ndarray) -> Optional[ControlSlot]:
  """The valid slot with the highest sequence number, if any (none in an
  NVM shorter than the control block, such as a file cut while created)."""
  if len(nvm) < HEADER_BYTES:
    return None
  slots = [s for s in (read_slot(nvm, 0), read_slot(nvm, 1)) if s.valid]
  return max(slots, key=lambda s: s.sequence) if slots else None


# freeml_py_write_hook and freeml_py_energy_hook of host/python_api.c.
WRITE_HOOK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_uint32,
                              ctypes.c_uint32, ctypes.c_uint32, ctypes.c_uint32)
ENERGY_HOOK = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_void_p, ctypes.c_uint64)


class Supervisor:
  """What drives a boot from outside, as a power supply would (the energy
  simulator, converter/simulate). Subclasses override both."""

  def on_write(self, state: str, op: int, tile: int, tiles_computed: int, nbytes: int) -> bool:
    """Before each NVM write: the committed progress, the tiles this boot
    has computed (a new count: tile (op, tile) was just computed, and these
    are its writes) and the write's size. True: power fails during this
    write."""
    return False

  def available(self, work_done: int) -> int:
    """Before each tile once an exit is reached: the energy left, in the
    runtime's work units (MACs), given the work the run has committed."""
    return 2**63


def _hooks(supervisor: Optional[Supervisor]):
  if supervisor is None:
    return WRITE_HOOK(), ENERGY_HOOK()
  return (WRITE_HOOK(lambda _user, state, op, tile, computed, nbytes: int(bool(
              supervisor.on_write(STATES.get(state, "?"), op, tile, computed, nbytes)))),
          ENERGY_HOOK(lambda _user, work_done: int(supervisor.available(work_done))))


class IntermittentRuntime:
  """A model with its tile plan; boots on NVM buffers the caller keeps."""

  def __init__(self, model: bytes, max_tile_macs: int = 0, max_tile_bytes: int = 0,
               snapshot: bool = True):
    """snapshot: boots restore the prepared tables from the snapshot an
    earlier boot left in NVM, as the firmware does (docs/intermittent.md);
    False: every boot prepares them again, as freeml_run does."""
    self._lib = _load(str(library_path()))
    self._declare(self._lib)
    self._model = _aligned_copy(bytes(model))
    self._config = _Config(zlib.crc32(bytes(model)), max_tile_macs, max_tile_bytes)
    plan = _Plan()
    arrays = [(ctypes.c_int32 * _MAX_OPERATORS)(), (ctypes.c_int32 * _MAX_OPERATORS)(),
              (ctypes.c_uint32 * _MAX_OPERATORS)(), (ctypes.c_uint32 * _MAX_OPERATORS)(),
              (ctypes.c_int32 * _MAX_OPERATORS)()]
    tensor_arrays = [(ctypes.c_uint32 * _MAX_TENSORS)(), (ctypes.c_uint32 * _MAX_TENSORS)(),
                     (ctypes.c_int32 * _MAX_TENSORS)(), (ctypes.c_int32 * _MAX_TENSORS)()]
    probe_arena = np.zeros(64 << 20, dtype=np.uint8)
    error = _Error()
    status = self._lib.freeml_py_intermittent_plan(
        self._model.ctypes.data, len(self._model), probe_arena.ctypes.data, len(probe_arena),
        ctypes.byref(self._config), ctypes.byref(plan), *arrays, *tensor_arrays,
        ctypes.byref(error))
    if status != _STATUS_OK:
      raise FreemlError(error.message.decode("utf-8", "replace"))
    self.memory = IntermittentMemory(plan.persistent_bytes, plan.activation_bytes,
                                     plan.scratch_bytes, plan.total_bytes, plan.nvm_bytes,
                                     plan.snapshot_bytes)
    self.snapshot_crc = plan.snapshot_crc
    if snapshot:
      self._config.snapshot_crc = plan.snapshot_crc
    self.ops = [OpTiles(*(a[i] for a in arrays)) for i in range(plan.num_ops)]
    offsets, sizes, first, last = tensor_arrays
    self.activations_offset = plan.activations_offset
    self.tensors = [NvmTensor(plan.activations_offset + offsets[i], sizes[i], first[i], last[i],
                              plan.checksum_offset + 4 * i) for i in range(plan.num_tensors)]
    # The arena is exactly what the C code asked for (plus alignment slack),
    # so every boot also checks that the reported SRAM is enough.
    self._arena = np.zeros(plan.total_bytes + 16, dtype=np.uint8)
    self._arena_offset = (-self._arena.ctypes.data) % 16
    plain = Runtime(model)  # the graph's inputs and outputs, the exits
    self.inputs = plain.inputs
    self.outputs = plain.outputs
    self.num_exits = len(plain.exits)
    self.exit_ops = [e.op for e in plain.exits]
    self.exit_classes = plain.exit_classes  # 0 without exits
    self._output_bytes = [int(np.prod(d.shape)) * np.dtype(d.dtype).itemsize
                          for d in self.outputs]

  @staticmethod
  def _declare(lib: ctypes.CDLL) -> None:
    p = ctypes.c_void_p
    u32 = ctypes.c_uint32
    lib.freeml_py_intermittent_plan.restype = ctypes.c_int32
    lib.freeml_py_intermittent_plan.argtypes = [p, u32, p, u32, p, p] + [p] * 10
    lib.freeml_py_intermittent_boot.restype = ctypes.c_int32
    lib.freeml_py_intermittent_boot.argtypes = [
        p, u32, p, u32, p, p, u32, ctypes.c_uint64, WRITE_HOOK, ENERGY_HOOK, p, p, p, u32, p,
        ctypes.POINTER(u32), p, p]

  @property
  def total_macs(self) -> int:
    return sum(op.macs for op in self.ops)

  @property
  def total_tiles(self) -> int:
    return sum(op.tiles for op in self.ops)

  def new_nvm(self) -> np.ndarray:
    """A blank NVM of the size the model needs (16-byte aligned)."""
    raw = np.zeros(self.memory.nvm_bytes + 16, dtype=np.uint8)
    start = (-raw.ctypes.data) % 16
    return raw[start:start + self.memory.nvm_bytes]

  def boot(self, nvm: np.ndarray, inputs: Sequence[np.ndarray], fail_at_write: int = 0,
           supervisor: Optional[Supervisor] = None) -> Boot:
    """One power-on: resume (or start) the inference for `inputs` on `nvm`,
    with a power failure at NVM write `fail_at_write` of this boot (1-based;
    0: none) and the network run to its end; or, with a `supervisor`, run
    adaptively (gNet exits by confidence and by the energy it reports) with
    power failing where it says. Raises FreemlError for errors other than a
    power failure."""
    if nvm.ctypes.data % 16 or not nvm.flags.c_contiguous or nvm.dtype != np.uint8:
      raise FreemlError("NVM must be a contiguous, 16-byte aligned uint8 array (new_nvm())")
    arrays = [np.ascontiguousarray(x, dtype=d.dtype) for x, d in zip(inputs, self.inputs,
                                                                      strict=True)]
    pointers = (ctypes.c_void_p * len(arrays))(*[a.ctypes.data for a in arrays])
    out = np.zeros(max(sum(self._output_bytes), self.exit_classes), dtype=np.uint8)
    result, notice, error, exit_taken = _Boot(), _Error(), _Error(), ctypes.c_uint32()
    arena = self._arena[self._arena_offset:]
    hooks = _hooks(supervisor)  # referenced until the call returns
    status = self._lib.freeml_py_intermittent_boot(
        self._model.ctypes.data, len(self._model), arena.ctypes.data, len(arena),
        ctypes.byref(self._config), nvm.ctypes.data, len(nvm), fail_at_write, *hooks, None,
        pointers, out.ctypes.data, len(out), ctypes.byref(result), ctypes.byref(exit_taken),
        ctypes.byref(notice), ctypes.byref(error))
    if status not in (_STATUS_OK, _STATUS_INTERRUPTED):
      raise FreemlError(error.message.decode("utf-8", "replace"))
    outputs = None
    if status == _STATUS_OK and exit_taken.value < self.num_exits:
      outputs = [out[:self.exit_classes].view(np.int8).copy()]
    elif status == _STATUS_OK:
      outputs, start = [], 0
      for details, size in zip(self.outputs, self._output_bytes, strict=True):
        outputs.append(out[start:start + size].view(details.dtype).reshape(details.shape))
        start += size
    return Boot(done=status == _STATUS_OK, outputs=outputs, exit=exit_taken.value,
                notice=notice.message.decode("utf-8", "replace"), tiles=result.tiles,
                macs=result.macs, commits=result.commits, nvm_writes=result.nvm_writes,
                nvm_bytes_written=result.nvm_bytes_written, state=STATES.get(result.state, "?"),
                run_id=result.run_id, op=result.op, tile=result.tile,
                restored=bool(result.restored))

  def run_through_failures(self, inputs: Sequence[np.ndarray],
                           failure_writes: Iterator[int]) -> List[Boot]:
    """Boots on a blank NVM until the inference is done, boot i failing at
    NVM write next(failure_writes) (once the iterator is exhausted, boots
    run without failure). Returns every boot; the last one is done."""
    nvm = self.new_nvm()
    boots = [self.boot(nvm, inputs, fail_at_write=next(failure_writes, 0))]
    while not boots[-1].done:
      boots.append(self.boot(nvm, inputs, fail_at_write=next(failure_writes, 0)))
    return boots
