"""Intermittent execution, in process: a power failure at every NVM write,
random failure schedules, and damaged or stale NVM must all end with the
bytes of an uninterrupted run, which are TFLM's, losing at most one tile of
work per failure."""

from __future__ import annotations

import dataclasses
import itertools
from typing import List

import numpy as np
import pytest

from tests.runtime.conftest import tflm_outputs
from tflm_freeml.intermittent import (
  FORMAT_VERSION,
  HEADER_BYTES,
  MARKER_OFFSET,
  SLOT_BYTES,
  SLOT_STRIDE,
  SNAPSHOT_HEADER_BYTES,
  SNAPSHOT_WRITES,
  IntermittentRuntime,
  latest_commit,
  read_marker,
  read_slot,
)
from tflm_freeml.runtime import Runtime

# The ResNet's failure points are split so that test workers share them.
RESNET_CHUNKS = 8


def max_tile_macs(rt: IntermittentRuntime) -> int:
  return max(op.tile_units * op.unit_macs for op in rt.ops)


def writes_per_run(rt: IntermittentRuntime, snapshot: bool = True) -> int:
  """NVM writes of an uninterrupted run, by the documented protocol
  (docs/intermittent.md): on NVM without the snapshot of the prepared
  tables (`snapshot`), the boot writes it first; a commit is a slot write
  and a marker write; the run commits LOADING, writes each input and its
  checksum, commits RUNNING, then per tile writes the output and commits,
  and per op its checksum."""
  return ((SNAPSHOT_WRITES if snapshot else 0) + 2 + 2 * len(rt.inputs) + 2
          + 3 * rt.total_tiles + len(rt.ops))


def check_failure_points(rt: IntermittentRuntime, x: np.ndarray, expected: np.ndarray,
                         writes) -> int:
  budget = max_tile_macs(rt)
  checked = 0
  for write in writes:
    boots = rt.run_through_failures([x], iter([write]))
    assert len(boots) == 2, f"no failure at write {write}"
    first, final = boots
    assert np.array_equal(final.outputs[0], expected), f"wrong output, failure at write {write}"
    re_executed = first.macs + final.macs - rt.total_macs
    assert 0 <= re_executed <= budget, (write, re_executed, budget)
    # Only a failure during the very first commit loses the run itself.
    assert "new run" not in final.notice or write == SNAPSHOT_WRITES + 1, (
        write, final.notice)
    checked += 1
  return checked


@pytest.fixture(scope="module")
def digits_rt(digits_model) -> IntermittentRuntime:
  return IntermittentRuntime(digits_model)


@pytest.fixture(scope="module")
def digits_expected(digits_model, digits_inputs) -> List[np.ndarray]:
  return tflm_outputs(digits_model, digits_inputs)


def test_uninterrupted_run_matches_tflm_and_protocol(digits_rt, digits_inputs, digits_expected):
  nvm = digits_rt.new_nvm()
  for run_id, (x, expected) in enumerate(zip(digits_inputs, digits_expected, strict=True), 1):
    boot = digits_rt.boot(nvm, [x])
    assert boot.done and np.array_equal(boot.outputs[0], expected)
    assert boot.run_id == run_id  # a new input starts a new run
    assert boot.tiles == digits_rt.total_tiles
    assert boot.macs == digits_rt.total_macs
    # The first boot on blank NVM prepares the tables and writes their
    # snapshot; every later boot restores them from it.
    assert boot.restored == (run_id > 1)
    assert boot.nvm_writes == writes_per_run(digits_rt, snapshot=run_id == 1)
    again = digits_rt.boot(nvm, [x])  # finished: answers without recomputing
    assert again.done and again.tiles == 0 and again.nvm_writes == 0
    assert again.restored
    assert np.array_equal(again.outputs[0], expected)


def test_memory_split_between_sram_and_nvm(digits_rt, digits_model):
  plain = Runtime(digits_model).ram
  memory = digits_rt.memory
  from tensorflow.lite.python import schema_py_generated as schema
  tensors = len(schema.ModelT.InitFromPackedBuf(digits_model, 0).subgraphs[0].tensors)
  checksum_table = (4 * tensors + 15) // 16 * 16
  snapshot = (SNAPSHOT_HEADER_BYTES + memory.persistent_bytes + 15) // 16 * 16
  assert memory.snapshot_bytes == snapshot
  assert digits_rt.activations_offset == HEADER_BYTES + snapshot
  assert memory.nvm_bytes == HEADER_BYTES + snapshot + plain.activation_bytes + checksum_table
  assert memory.scratch_bytes >= max(op.tile_units for op in digits_rt.ops)
  assert memory.sram_bytes < plain.total_bytes  # activations left SRAM
  assert memory.sram_bytes == (memory.persistent_bytes + 15) // 16 * 16 + memory.scratch_bytes


def test_tile_plan_follows_the_budgets(digits_model):
  for macs, tile_bytes in ((256, 64), (4096, 1024), (1 << 20, 1 << 20)):
    rt = IntermittentRuntime(digits_model, max_tile_macs=macs, max_tile_bytes=tile_bytes)
    for op in rt.ops:
      assert 1 <= op.tile_units <= op.units
      if op.tile_units > 1:
        assert op.tile_units * op.unit_macs <= macs
      assert op.tile_units * op.unit_bytes <= max(tile_bytes, op.unit_bytes)
    assert rt.memory.scratch_bytes >= max(op.tile_units * op.unit_bytes for op in rt.ops)


def test_failure_at_every_nvm_write_digits(digits_rt, digits_inputs, digits_expected):
  writes = writes_per_run(digits_rt)
  for x, expected in zip(digits_inputs[:3], digits_expected[:3], strict=True):
    assert check_failure_points(digits_rt, x, expected, range(1, writes + 1)) == writes


@pytest.fixture(scope="module")
def resnet_rt(resnet_model) -> IntermittentRuntime:
  return IntermittentRuntime(resnet_model)


@pytest.fixture(scope="module")
def resnet_expected(resnet_model, resnet_inputs) -> List[np.ndarray]:
  return tflm_outputs(resnet_model, resnet_inputs[:1])


@pytest.mark.shared_data
@pytest.mark.parametrize("chunk", range(RESNET_CHUNKS))
def test_failure_at_every_nvm_write_resnet(chunk, resnet_rt, resnet_inputs, resnet_expected):
  writes = writes_per_run(resnet_rt)
  points = range(1 + chunk, writes + 1, RESNET_CHUNKS)
  assert check_failure_points(resnet_rt, resnet_inputs[0], resnet_expected[0], points) == len(
      points)


@pytest.mark.parametrize("model_name", ["digits", "resnet"])
def test_random_failure_schedules(model_name, request):
  """Many failures per inference, at random writes of every boot, including
  boots that fail again while recovering."""
  rt = request.getfixturevalue(f"{model_name}_rt")
  inputs = request.getfixturevalue(f"{model_name}_inputs")
  expected = request.getfixturevalue(f"{model_name}_expected")
  rng = np.random.default_rng(7)
  schedules = 200 if model_name == "digits" else 40
  failures = 0
  budget = max_tile_macs(rt)
  for _ in range(schedules):
    k = int(rng.integers(len(expected)))
    mean_gap = int(rng.choice([2, 5, 20]))
    boots = rt.run_through_failures(
        [inputs[k]], (int(rng.integers(1, 2 * mean_gap + 1)) for _ in itertools.count()))
    failures += len(boots) - 1
    assert np.array_equal(boots[-1].outputs[0], expected[k])
    assert sum(b.macs for b in boots) - rt.total_macs <= (len(boots) - 1) * budget
  assert failures > schedules * 10


def test_new_input_mid_run_starts_a_new_run(digits_rt, digits_inputs, digits_expected):
  nvm = digits_rt.new_nvm()
  first = digits_rt.boot(nvm, [digits_inputs[0]], fail_at_write=40)
  assert not first.done and first.state == "running"
  other = digits_rt.boot(nvm, [digits_inputs[1]])
  assert other.done and other.run_id == first.run_id + 1
  assert np.array_equal(other.outputs[0], digits_expected[1])


# ---- damaged and stale NVM: a clean restart with a notice, never a wrong answer ----

def mid_run_nvm(rt: IntermittentRuntime, x: np.ndarray, write: int) -> np.ndarray:
  nvm = rt.new_nvm()
  assert not rt.boot(nvm, [x], fail_at_write=write).done
  return nvm


def write_leaving_whole_slots(rt: IntermittentRuntime, x: np.ndarray) -> int:
  """A write in the middle of the run at which a failure leaves both slots
  whole and the marker naming the latest (a tile output or checksum write)."""
  for write in range(writes_per_run(rt) // 2, writes_per_run(rt)):
    nvm = mid_run_nvm(rt, x, write)
    latest = latest_commit(nvm)
    if (read_slot(nvm, 0).valid and read_slot(nvm, 1).valid
        and read_marker(nvm) == latest.sequence):
      return write
  raise AssertionError("every write after the middle tears a slot or the marker")


def latest_slot_index(nvm: np.ndarray) -> int:
  latest = latest_commit(nvm)
  return latest.sequence % 2


@pytest.mark.parametrize("state", ["mid_run", "done"])
def test_flipped_bit_in_either_control_slot(state, digits_rt, digits_inputs, digits_expected):
  x, expected = digits_inputs[0], digits_expected[0]
  write = write_leaving_whole_slots(digits_rt, x)
  restarts = resumes = 0
  for slot in (0, 1):
    for bit in range(0, SLOT_BYTES * 8, 3):
      nvm = mid_run_nvm(digits_rt, x, write) if state == "mid_run" else digits_rt.new_nvm()
      if state == "done":
        assert digits_rt.boot(nvm, [x]).done
      assert read_slot(nvm, 0).valid and read_slot(nvm, 1).valid
      latest = latest_slot_index(nvm)
      nvm[slot * SLOT_STRIDE + bit // 8] ^= 1 << (bit % 8)
      boot = digits_rt.boot(nvm, [x])
      assert boot.done and np.array_equal(boot.outputs[0], expected), (slot, bit)
      if slot == latest:
        assert "latest commit, fails its check: starting a new run" in boot.notice
        assert boot.tiles == digits_rt.total_tiles
        restarts += 1
      else:
        assert f"slot {slot} fails its check" in boot.notice and "resuming" in boot.notice
        resumes += 1
  assert restarts and resumes


def test_damaged_commit_marker_is_repaired(digits_rt, digits_inputs, digits_expected):
  x = digits_inputs[0]
  nvm = mid_run_nvm(digits_rt, x, write_leaving_whole_slots(digits_rt, x))
  nvm[MARKER_OFFSET] ^= 0x10
  boot = digits_rt.boot(nvm, [digits_inputs[0]])
  assert boot.done and np.array_equal(boot.outputs[0], digits_expected[0])
  assert boot.notice == ""
  assert read_marker(nvm) == latest_commit(nvm).sequence


def weight_byte(model: bytes) -> int:
  """Position of a byte in the middle of the model's largest weight buffer."""
  from tensorflow.lite.python import schema_py_generated as schema
  root = schema.ModelT.InitFromPackedBuf(model, 0)
  data = bytes(max((b.data for b in root.buffers if b.data is not None), key=len))
  position = model.find(data)
  assert position > 0
  return position + len(data) // 2


def test_nvm_of_another_model(digits_model, digits_inputs):
  """Same layout, another weight: the committed progress must not be reused."""
  changed = bytearray(digits_model)
  changed[weight_byte(digits_model)] ^= 0x55
  changed = bytes(changed)
  rt_a, rt_b = IntermittentRuntime(digits_model), IntermittentRuntime(changed)
  assert rt_a.memory == rt_b.memory
  nvm = mid_run_nvm(rt_a, digits_inputs[0], 40)
  boot = rt_b.boot(nvm, [digits_inputs[0]])
  assert "another model: starting a new run" in boot.notice
  assert boot.tiles == rt_b.total_tiles
  (expected,) = Runtime(changed).invoke([digits_inputs[0]])
  assert boot.done and np.array_equal(boot.outputs[0], expected)


def test_snapshot_of_the_prepared_tables(digits_model, digits_inputs, digits_expected):
  """A boot restores the tables from the snapshot only when its bytes have
  the CRC known ahead: torn or damaged (any 32-bit burst), or another tile
  plan's, the tables are prepared again, the snapshot written again, and
  the answer is the same."""
  x, expected = digits_inputs[0], digits_expected[0]
  rt = IntermittentRuntime(digits_model, max_tile_macs=1024)
  first = rt.boot(rt.new_nvm(), [x])
  assert first.done and not first.restored
  for write in range(1, SNAPSHOT_WRITES + 1):  # a torn snapshot
    nvm = rt.new_nvm()
    assert not rt.boot(nvm, [x], fail_at_write=write).done
    boot = rt.boot(nvm, [x])
    assert boot.done and not boot.restored and np.array_equal(boot.outputs[0], expected)
    assert rt.boot(nvm, [x]).restored
  pristine = mid_run_nvm(rt, x, 40)
  # Every byte the CRC covers (not the alignment padding after them).
  snapshot = range(HEADER_BYTES,
                   HEADER_BYTES + SNAPSHOT_HEADER_BYTES + rt.memory.persistent_bytes - 3)
  header, tables = snapshot[:SNAPSHOT_HEADER_BYTES:4], snapshot[SNAPSHOT_HEADER_BYTES::97]
  for offset in [*header, *tables]:
    nvm = pristine.copy()
    nvm[offset:offset + 4] ^= np.array([0x80, 0, 0, 0x01], np.uint8)
    boot = rt.boot(nvm, [x])
    assert boot.done and not boot.restored, offset
    assert np.array_equal(boot.outputs[0], expected), offset
    assert rt.boot(nvm, [x]).restored
  # Another tile plan of the same model: another snapshot CRC.
  other = IntermittentRuntime(digits_model, max_tile_macs=2048)
  assert other.snapshot_crc != rt.snapshot_crc
  nvm = rt.new_nvm()
  assert not rt.boot(nvm, [x], fail_at_write=40).done
  nvm = np.concatenate([nvm, np.zeros(max(0, other.memory.nvm_bytes - len(nvm)), np.uint8)])
  aligned = other.new_nvm()
  aligned[:] = nvm[:len(aligned)]
  boot = other.boot(aligned, [x])
  assert boot.done and not boot.restored and np.array_equal(boot.outputs[0], expected)
  # Without a CRC known ahead (freeml_run), no boot uses the snapshot.
  plain = IntermittentRuntime(digits_model, max_tile_macs=1024, snapshot=False)
  nvm = rt.new_nvm()
  assert not rt.boot(nvm, [x], fail_at_write=40).done  # leaves a valid snapshot
  boot = plain.boot(nvm, [x])
  assert boot.done and not boot.restored and np.array_equal(boot.outputs[0], expected)


def test_nvm_of_another_format_version(digits_rt, digits_inputs, digits_expected):
  nvm = mid_run_nvm(digits_rt, digits_inputs[0], 40)
  for index in (0, 1):
    slot = dataclasses.replace(read_slot(nvm, index), format_version=FORMAT_VERSION + 1).with_crc()
    nvm[index * SLOT_STRIDE:index * SLOT_STRIDE + SLOT_BYTES] = np.frombuffer(slot.pack(), np.uint8)
  boot = digits_rt.boot(nvm, [digits_inputs[0]])
  assert (f"format version {FORMAT_VERSION + 1}, this runtime writes {FORMAT_VERSION}: "
          "starting a new run") in boot.notice
  assert boot.done and np.array_equal(boot.outputs[0], digits_expected[0])


def test_nvm_of_another_tile_plan(digits_model, digits_inputs, digits_expected):
  fine = IntermittentRuntime(digits_model, max_tile_macs=1024)
  coarse = IntermittentRuntime(digits_model)
  assert fine.memory.nvm_bytes == coarse.memory.nvm_bytes
  nvm = mid_run_nvm(fine, digits_inputs[0], 60)
  boot = coarse.boot(nvm, [digits_inputs[0]])
  assert "another tile plan or layout: starting a new run" in boot.notice
  assert boot.done and np.array_equal(boot.outputs[0], digits_expected[0])


def test_garbage_nvm(digits_rt, digits_inputs, digits_expected):
  rng = np.random.default_rng(11)
  for _ in range(20):
    nvm = digits_rt.new_nvm()
    nvm[:] = rng.integers(0, 256, nvm.shape, dtype=np.uint8)
    boot = digits_rt.boot(nvm, [digits_inputs[0]])
    assert "fails its checks: starting a new run" in boot.notice
    assert boot.done and np.array_equal(boot.outputs[0], digits_expected[0])


def test_forged_progress_outside_the_model(digits_rt, digits_inputs, digits_expected):
  nvm = mid_run_nvm(digits_rt, digits_inputs[0], 30)
  index = latest_slot_index(nvm)
  slot = dataclasses.replace(read_slot(nvm, index), op=len(digits_rt.ops) + 3).with_crc()
  nvm[index * SLOT_STRIDE:index * SLOT_STRIDE + SLOT_BYTES] = np.frombuffer(slot.pack(), np.uint8)
  boot = digits_rt.boot(nvm, [digits_inputs[0]])
  assert "is outside the model: starting a new run" in boot.notice
  assert boot.done and np.array_equal(boot.outputs[0], digits_expected[0])


# ---- damaged activations: any 32-bit burst in what a resumed run reads is caught ----

def _damage_cases(rt: IntermittentRuntime, nvm: np.ndarray):
  """(what, NVM offset) of a byte in each region a resume reads: the current
  op's committed output, every finished tensor still to be read and its
  checksum."""
  commit = latest_commit(nvm)
  op = rt.ops[commit.op]
  done = commit.tile * op.tile_units * op.unit_bytes
  if done:
    yield "partial output", rt.tensors[op.output].nvm_offset + done // 2
  for index, tensor in enumerate(rt.tensors):
    if tensor.bytes and tensor.first_op < commit.op <= tensor.last_op:
      yield f"tensor {index}", tensor.nvm_offset + tensor.bytes - 1
      yield f"checksum of tensor {index}", tensor.checksum_offset + 2


def test_damaged_live_activations_restart_the_run(digits_model, digits_inputs, digits_expected):
  x, expected = digits_inputs[0], digits_expected[0]
  rt = IntermittentRuntime(digits_model, max_tile_macs=1024)  # many commits inside ops
  checked = 0
  for write in range(20, writes_per_run(rt), 7):
    pristine = mid_run_nvm(rt, x, write)
    if latest_commit(pristine).state != 2:
      continue
    for kind, offset in _damage_cases(rt, pristine):
      nvm = pristine.copy()
      nvm[offset:offset + 4] ^= np.array([0x80, 0, 0, 0x01], np.uint8)[:len(nvm) - offset]
      boot = rt.boot(nvm, [x])
      assert "fail their check: starting a new run" in boot.notice, kind
      assert boot.tiles == rt.total_tiles
      assert boot.done and np.array_equal(boot.outputs[0], expected), (write, kind)
      checked += 1
  assert checked > 30


def test_damaged_output_after_done_is_recomputed(digits_rt, digits_inputs, digits_expected):
  x, expected = digits_inputs[0], digits_expected[0]
  nvm = digits_rt.new_nvm()
  assert digits_rt.boot(nvm, [x]).done
  output = digits_rt.ops[-1].output
  nvm[digits_rt.tensors[output].nvm_offset] ^= 0x04
  boot = digits_rt.boot(nvm, [x])
  assert f"activations of tensor {output} fail their check" in boot.notice
  assert boot.done and np.array_equal(boot.outputs[0], expected)


def test_damage_outside_what_a_resume_reads_is_ignored(digits_rt, digits_inputs, digits_expected):
  """Bytes a resumed run rewrites before reading (the current op's tiles to
  come) need no check: the run resumes and still gives the right answer."""
  x, expected = digits_inputs[0], digits_expected[0]
  nvm = mid_run_nvm(digits_rt, x, write_leaving_whole_slots(digits_rt, x))
  commit = latest_commit(nvm)
  op = digits_rt.ops[commit.op]
  output = digits_rt.tensors[op.output]
  nvm[output.nvm_offset + output.bytes - 1] ^= 0xFF
  boot = digits_rt.boot(nvm, [x])
  assert boot.notice == "" and boot.tiles < digits_rt.total_tiles
  assert boot.done and np.array_equal(boot.outputs[0], expected)
