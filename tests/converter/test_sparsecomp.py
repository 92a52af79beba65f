"""python -m converter --target-kb: SparseComp on the bundled digits CNN
reaches the target, counts it from the emitted buffers, is reproducible, and
refuses what it cannot do with one line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from converter import sparse_format, tflite_graph, tflm_oracle
from converter.ops import builtin_code, op_name
from converter.tflite_graph import check_int8
from tests.converter.helpers import DIGITS_H5, assert_refused, run_converter
from tests.converter.test_sparse_format import decode

TARGET_KB = 8
# Above the dense model (15.2 KB), and on the way; 11.3 is no whole number of bytes.
CHECKPOINTS_KB = (16, 11.3)
# Short rounds keep the test quick; the search itself is what is tested.
QUICK = ("--round-steps", "60", "--final-steps", "120", "--max-eval", "120")


def _compress(out: Path, *extra: str):
  return run_converter("--in", DIGITS_H5, "--data", "digits", "--target-kb", TARGET_KB,
                       "--checkpoint-kb", ",".join(map(str, CHECKPOINTS_KB)), *QUICK, *extra,
                       "--out", out)


@pytest.fixture(scope="module")
def compressed(tmp_path_factory) -> Path:
  out = tmp_path_factory.mktemp("sparsecomp")
  result = _compress(out)
  assert result.returncode == 0, result.stderr
  (out / "stderr.txt").write_text(result.stderr)
  return out


def _constant_buffers(model: bytes):
  root = tflite_graph.parse(model)
  graph = root.subgraphs[0]
  return root, graph, {t.buffer for t in graph.tensors if t.buffer > 0
                       and root.buffers[t.buffer].data is not None}


def test_target_is_reached_and_counted_from_the_buffers(compressed):
  report = json.loads((compressed / "report.json").read_text())
  model = (compressed / "model.tflite").read_bytes()
  root, graph, constants = _constant_buffers(model)
  stored = sum(len(root.buffers[b].data) for b in constants)
  assert report["model"]["weight_bytes"] == stored <= TARGET_KB * 1024
  assert report["sparsecomp"]["compressed"]["weight_bytes"] == stored
  assert report["model"]["file_bytes"] == len(model)
  by_name = {tflite_graph.tensor_name(t): t for t in graph.tensors}
  sparse = [s for s in report["storage"] if s["format"] != "dense"]
  assert sparse, report["storage"]
  for s in report["storage"]:
    assert len(root.buffers[by_name[s["tensor"]].buffer].data) == s["stored_bytes"]
  c = report["sparsecomp"]
  assert c["x_float32"] == pytest.approx(c["source_float32_bytes"] / stored)
  assert c["dense_int8"]["weight_bytes"] > stored


def test_every_round_is_reported_and_printed(compressed):
  report = json.loads((compressed / "report.json").read_text())
  rounds = report["sparsecomp"]["rounds"]
  assert rounds and [r["index"] for r in rounds] == list(range(1, len(rounds) + 1))
  stderr = (compressed / "stderr.txt").read_text()
  for r in rounds:
    assert f"round {r['index']} {r['kind']} {r['layer']}" in stderr
  kept = [r for r in rounds if r["kind"] == "prune" and r["kept"]]
  assert kept and all(r["accuracy"] >= _floor(report) for r in kept)
  assert "## SparseComp" in (compressed / "report.md").read_text()


def test_the_report_holds_the_search_settings(compressed):
  settings = json.loads((compressed / "report.json").read_text())["sparsecomp"]["settings"]
  assert settings["target_bytes"] == TARGET_KB * 1024
  assert (settings["round_steps"], settings["final_steps"]) == (60, 120)
  assert settings["checkpoint_bytes"] == [int(kb * 1024) for kb in CHECKPOINTS_KB]
  assert "rounds of 60 steps (final 120)" in (compressed / "report.md").read_text()


def _floor(report) -> float:
  c = report["sparsecomp"]
  return c["validation_accuracy_before"] - 0.01  # --max-drop 1.0 point


def test_reference_is_builtin_dense_with_the_same_weights(compressed):
  model = (compressed / "model.tflite").read_bytes()
  reference = (compressed / "reference.tflite").read_bytes()
  reference_graph = check_int8(reference)
  assert not any(layer.op.startswith("FREEML_") for layer in reference_graph.layers)
  tflm_oracle.arena_bytes(reference)  # stock TFLM prepares it
  ref_root, ref_graph, _ = _constant_buffers(reference)
  root, graph, _ = _constant_buffers(model)
  sparse_ops = 0
  for op, ref_op in zip(graph.operators, ref_graph.operators, strict=True):
    opcode = root.operatorCodes[op.opcodeIndex]
    if not opcode.customCode:
      continue
    sparse_ops += 1
    name = op_name(builtin_code(ref_root.operatorCodes[ref_op.opcodeIndex]))
    assert sparse_format.CUSTOM_OPS[name] == opcode.customCode.decode()
    dense = np.frombuffer(bytes(ref_root.buffers[ref_graph.tensors[ref_op.inputs[1]].buffer].data),
                          np.int8).reshape(ref_graph.tensors[ref_op.inputs[1]].shape)
    rows = sparse_format.filter_rows(name, dense)
    options = np.frombuffer(bytes(op.customOptions), "<i4")
    blob = bytes(root.buffers[graph.tensors[op.inputs[1]].buffer].data)
    np.testing.assert_array_equal(decode(options[1], blob, *rows.shape, options[2]), rows)
  assert sparse_ops > 0


def test_runtime_on_the_sparse_model_equals_tflm_on_the_reference(compressed):
  e = json.loads((compressed / "report.json").read_text())["evaluation"]
  assert e["tflm_compared"] == e["samples"] == 120
  assert e["tflm_identical"] == e["tflm_compared"]


def test_the_same_seed_gives_the_same_model(compressed, tmp_path):
  result = _compress(tmp_path)
  assert result.returncode == 0, result.stderr
  assert (tmp_path / "model.tflite").read_bytes() == (compressed / "model.tflite").read_bytes()


def test_checkpoints_are_saved_as_the_search_passes_them(compressed, tmp_path):
  report = json.loads((compressed / "report.json").read_text())
  c = report["sparsecomp"]
  checkpoints = {k["target_bytes"]: k for k in c["checkpoints"]}
  assert sorted(checkpoints) == [int(kb * 1024) for kb in sorted(CHECKPOINTS_KB)]
  dense = c["dense_int8"]["weight_bytes"]
  assert checkpoints[16 * 1024]["after_round"] == 0  # the dense model fits already
  assert checkpoints[16 * 1024]["measurement"]["weight_bytes"] == dense
  on_the_way = checkpoints[int(11.3 * 1024)]
  assert c["compressed"]["weight_bytes"] < on_the_way["measurement"]["weight_bytes"] <= 11.3 * 1024
  assert 0 < on_the_way["after_round"] < len(c["rounds"])
  assert "Checkpoints" in (compressed / "report.md").read_text()
  # A checkpoint converts like any model, to the bytes the search counted.
  result = run_converter("--in", compressed / "checkpoints" / "11.3kb.h5", "--data", "digits",
                         "--max-eval", "60", "--out", tmp_path)
  assert result.returncode == 0, result.stderr
  converted = json.loads((tmp_path / "report.json").read_text())
  assert converted["model"]["weight_bytes"] == on_the_way["measurement"]["weight_bytes"]


def test_an_unreachable_target_fails_with_the_smallest_size_and_the_fragile_layers(tmp_path):
  """The checkpoints passed stay, and the smallest model kept is saved; the
  files an earlier run left that this search does not write are gone."""
  checkpoints = tmp_path / "checkpoints"
  checkpoints.mkdir()
  for stale in ("1kb.h5", "smallest.h5"):
    (checkpoints / stale).write_bytes(b"an earlier search's")
  # Above the 794 B that biases and other constants hold, but out of reach.
  result = run_converter("--in", DIGITS_H5, "--data", "digits", "--target-kb", "0.9",
                         "--max-drop", "0", "--round-steps", "20", "--separation-energy", "0",
                         "--checkpoint-kb", "100,1", "--out", tmp_path)
  line = assert_refused(result, tmp_path, "--target-kb 0.9 not reached", "smallest model kept",
                        "fragile layers:")
  assert "fragile layers: none" not in line
  assert sorted(p.name for p in checkpoints.iterdir()) == ["100kb.h5", "smallest.h5"]
  smallest = checkpoints / "smallest.h5"
  assert f"saved as {smallest}" in line
  reached = int(re.search(r"stores ([\d,]+) B", line).group(1).replace(",", ""))
  result = run_converter("--in", smallest, "--data", "digits", "--max-eval", "60",
                         "--out", tmp_path / "smallest")
  assert result.returncode == 0, result.stderr
  converted = json.loads((tmp_path / "smallest" / "report.json").read_text())
  assert converted["model"]["weight_bytes"] == reached


def test_a_target_below_the_biases_is_refused_before_any_round(tmp_path):
  result = run_converter("--in", DIGITS_H5, "--data", "digits", "--target-kb", "0.01",
                         "--round-steps", "20", "--out", tmp_path)
  assert_refused(result, tmp_path, "--target-kb 0.01 cannot be reached",
                 "with a single weight per layer", "of biases and other constants")
  assert "round 1" not in result.stderr


def test_a_pruned_model_keeps_its_zeros(tmp_path):
  """A model pruned before (a checkpoint) starts at its own density: the
  rounds that retrain it do not let its zeros grow back."""
  import tf_keras

  from converter.model_loading import save_h5
  from converter.sparsecomp import prune
  model = tf_keras.models.load_model(DIGITS_H5, compile=False)
  layers = [model.get_layer(name) for name in prune.prunable_layers(model)]
  pruned = layers[-1]  # not the largest layer: the first round prunes another one
  kernel = prune.kernel_of(pruned)
  kernel.assign(prune.project(kernel.numpy(), 0.3))
  save_h5(model, tmp_path / "pruned.h5")
  result = run_converter("--in", tmp_path / "pruned.h5", "--data", "digits", "--target-kb", "12",
                         "--round-steps", "20", "--final-steps", "20", "--separation-energy", "0",
                         "--max-drop", "100", "--max-eval", "60", "--out", tmp_path / "out")
  assert result.returncode == 0, result.stderr
  assert f"already sparse, kept at their density: {pruned.name} 0.300" in result.stderr
  report = json.loads((tmp_path / "out" / "report.json").read_text())
  assert report["sparsecomp"]["rounds"]
  assert all(r["layer"] != pruned.name for r in report["sparsecomp"]["rounds"])
  assert report["sparsecomp"]["densities"][pruned.name] <= 0.3


def test_a_separation_retrains_without_the_zeros_of_other_layers_growing_back():
  """Keeping a separation retrains the whole model; a layer pruned before
  stays at its density through it."""
  import tf_keras

  from converter.sparsecomp import prune, search, size
  rng = np.random.default_rng(0)
  x = rng.normal(size=(256, 64)).astype(np.float32)
  y = rng.integers(0, 10, size=256)
  model = tf_keras.Sequential([tf_keras.Input((64,)),
                               tf_keras.layers.Dense(64, activation="relu", name="low_rank"),
                               tf_keras.layers.Dense(10, name="pruned")])
  low_rank = rng.normal(size=(64, 4)) @ rng.normal(size=(4, 64))  # separation pays
  model.get_layer("low_rank").kernel.assign(low_rank.astype(np.float32))
  pruned = model.get_layer("pruned").kernel
  pruned.assign(prune.project(pruned.numpy(), 0.3))

  def measure(keras_model) -> search.Measurement:
    stored = sum(size.layer_bytes(keras_model.get_layer(name))
                 for name in prune.prunable_layers(keras_model))
    return search.Measurement(weight_bytes=stored, file_bytes=stored, ram_bytes=0)

  state = search._Search(model, x, y, x, y, search.SearchOptions(target_bytes=1, round_steps=20),
                         measure, progress=lambda line: None, save=None)
  state.calibrate()
  state.densities = {"pruned": 0.3}
  assert search._separate(state, accuracy=0.0) == ["low_rank"]  # any accuracy keeps it
  assert state.trainer.densities()["pruned"] <= 0.3


def test_distillation_alone_learns_from_the_teacher_and_not_the_labels():
  """With distillation 1 the labels carry no weight: two label sets train the
  same weights, and the pruned student moves towards the teacher's outputs."""
  import tf_keras

  from converter.sparsecomp import prune
  rng = np.random.default_rng(0)
  x = rng.normal(size=(256, 16)).astype(np.float32)
  teacher = tf_keras.Sequential([tf_keras.Input((16,)),
                                 tf_keras.layers.Dense(32, activation="relu", name="hidden"),
                                 tf_keras.layers.Dense(5, activation="softmax", name="out")])

  def trained(labels: np.ndarray, distillation: float):
    student = tf_keras.models.clone_model(teacher)
    student.set_weights(teacher.get_weights())
    config = prune.TrainConfig(learning_rate=1e-2, distillation=distillation)
    trainer = prune.SparseTrainer(student, x, labels, config, teacher)
    trainer.train({"hidden": 0.2}, steps=40)
    return trainer

  def gap(trainer) -> float:  # mean KL divergence from the teacher's outputs
    p, q = teacher.predict(x, verbose=0), trainer.predict(x)
    return float(np.mean(np.sum(p * np.log(p / np.maximum(q, 1e-12)), axis=-1)))

  labels = rng.integers(0, 5, size=256)
  shuffled = rng.permutation(labels)
  student = trained(labels, 1.0)
  for a, b in zip(student.snapshot(), trained(shuffled, 1.0).snapshot(), strict=True):
    np.testing.assert_array_equal(a, b)
  assert any(not np.array_equal(a, b) for a, b in
             zip(trained(labels, 0.5).snapshot(), trained(shuffled, 0.5).snapshot(), strict=True))
  assert gap(student) < gap(trained(labels, 0.0))
  with pytest.raises(ValueError, match="teacher"):
    prune.SparseTrainer(teacher, x, labels, prune.TrainConfig(distillation=0.5))


@pytest.mark.parametrize("args,fragments", [
    (("--target-kb", "0"), ("--target-kb must be > 0, got 0",)),
    (("--target-kb", "-3"), ("--target-kb must be > 0, got -3",)),
    (("--target-kb", "4", "--ram-kb", "0"), ("--ram-kb must be > 0",)),
    (("--target-kb", "4", "--max-drop", "-1"), ("--max-drop must be >= 0",)),
    (("--target-kb", "4", "--distillation", "1.5"), ("--distillation must be in [0, 1]",)),
    (("--checkpoint-kb", "8"), ("--checkpoint-kb saves models on the way to --target-kb",)),
    (("--target-kb", "4", "--checkpoint-kb", "8,4"),
     ("--checkpoint-kb sizes must be above --target-kb (4), got 4",)),
    (("--target-kb", "4", "--checkpoint-kb", "8,big"),
     ("--checkpoint-kb takes sizes in KB separated by commas, got 8,big",)),
])
def test_bad_settings_are_refused(tmp_path, args, fragments):
  result = run_converter("--in", DIGITS_H5, "--data", "digits", *args, "--out", tmp_path)
  assert_refused(result, tmp_path, *fragments)


def test_no_data_is_refused(tmp_path):
  result = run_converter("--in", DIGITS_H5, "--target-kb", "4", "--out", tmp_path)
  assert_refused(result, tmp_path, "needs --data")


def test_an_int8_tflite_cannot_be_retrained(tmp_path, compressed):
  result = run_converter("--in", compressed / "reference.tflite", "--data", "digits",
                         "--target-kb", "4", "--out", tmp_path)
  assert_refused(result, tmp_path, "--target-kb trains on the float model")


def test_data_of_the_wrong_shape_is_refused(tmp_path):
  data = tmp_path / "wrong.npz"
  np.savez(data, x=np.zeros((50, 5, 5), np.float32), y=np.zeros(50, np.int64))
  result = run_converter("--in", DIGITS_H5, "--data", data, "--target-kb", "4",
                         "--out", tmp_path / "out")
  assert_refused(result, tmp_path / "out", "gives samples of shape (5, 5)",
                 "the model takes (8, 8, 1)")


def test_a_model_above_the_ram_limit_is_refused(tmp_path):
  result = run_converter("--in", DIGITS_H5, "--data", "digits", "--target-kb", "4",
                         "--ram-kb", "1", "--out", tmp_path)
  assert_refused(result, tmp_path, "B of runtime RAM, more than --ram-kb (1,024 B)")
