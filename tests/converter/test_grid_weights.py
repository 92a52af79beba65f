"""int4 and 2-bit weights (--weight-bits 4, 2): the trainer holds every
prunable kernel on its grid, on_grid moves exactly the filters that lie on it
back to -7..7 (-2..2) without changing what TFLM computes, and a search
stores them with int4 (2-bit) values that the runtime runs as TFLM runs
reference.tflite."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tf_keras

from converter import sparse_format, sparse_rewrite, tflite_graph, tflite_writer, tflm_oracle
from converter.grid_filters import on_grid
from converter.model_loading import LoadedModel
from converter.ops import builtin_code, op_name
from converter.quantize import quantize_int8
from converter.sparsecomp import prune
from tests.converter.helpers import DIGITS_H5, run_converter
from tests.converter.test_sparsecomp import QUICK, _constant_buffers

layers = tf_keras.layers


def _small_model(seed: int):
  tf_keras.utils.set_random_seed(seed)
  return tf_keras.Sequential([
      tf_keras.Input((8, 8, 2)),
      layers.Conv2D(6, 3, activation="relu", name="conv"),
      layers.DepthwiseConv2D(3, depth_multiplier=2, name="depthwise"),
      layers.Flatten(),
      layers.Dense(10, name="dense")])


def _filters(model: bytes):
  """The int8 filter rows [F, K] of the filtered ops, in graph order."""
  root = tflite_graph.parse(model)
  graph = root.subgraphs[0]
  found = []
  for op in graph.operators:
    name = op_name(builtin_code(root.operatorCodes[op.opcodeIndex]))
    if name in sparse_format.CUSTOM_OPS:
      t = graph.tensors[op.inputs[1]]
      weights = np.frombuffer(bytes(root.buffers[t.buffer].data), np.int8).reshape(t.shape)
      found.append(sparse_format.filter_rows(name, weights))
  return found


def test_training_holds_every_kernel_on_its_int4_grid():
  model = _small_model(1)
  rng = np.random.default_rng(1)
  x = rng.normal(size=(128, 8, 8, 2)).astype(np.float32)
  y = rng.integers(0, 10, size=128)
  trainer = prune.SparseTrainer(model, x, y, prune.TrainConfig(weight_bits=4))
  trainer.train({"conv": 0.5}, steps=20)
  for layer in (model.get_layer(n) for n in prune.prunable_layers(model)):
    kernel = prune.kernel_of(layer).numpy()
    axes = prune.channel_axes(layer)
    np.testing.assert_allclose(prune.on_grid(kernel, axes), kernel, rtol=1e-6, atol=0)
    channels = kernel.size // int(np.prod([kernel.shape[a] for a in axes]))
    levels = np.unique(np.abs(kernel)[kernel != 0])
    assert 1 < len(levels) <= 7 * channels
  assert trainer.densities()["conv"] <= 0.5


@pytest.mark.parametrize("levels", [prune.INT4_LEVELS, prune.GRID_LEVELS[2]])
def test_filters_on_the_grid_move_and_the_others_stay(levels):
  model = _small_model(2)
  for name in ("conv", "dense"):  # the depthwise kernel stays off the grid
    layer = model.get_layer(name)
    layer.kernel.assign(prune.on_grid(layer.kernel.numpy(), prune.channel_axes(layer), levels))
  x = np.random.default_rng(2).normal(size=(64, 8, 8, 2)).astype(np.float32)
  reference = quantize_int8(LoadedModel("keras", Path("small.h5"), keras_model=model), x)
  moved_model, moved, filters = on_grid(reference, levels)
  assert (moved, filters) == (2, 3)
  before, after = _filters(reference), _filters(moved_model)
  assert np.abs(after[0]).max() == levels and np.abs(after[2]).max() == levels
  np.testing.assert_array_equal(after[1], before[1])
  assert np.abs(before[0]).max() == 127
  # The same real weights: TFLM's outputs stay within a step of the int8 ones.
  inputs = [np.random.default_rng(3).integers(-128, 128, (1, 8, 8, 2), dtype=np.int8)]
  a = tflm_oracle.invoke(reference, inputs)[0].astype(np.int32)
  b = tflm_oracle.invoke(moved_model, inputs)[0].astype(np.int32)
  assert np.abs(a - b).max() <= 2
  assert on_grid(moved_model, levels)[1] == 2  # already there: the same values
  np.testing.assert_array_equal(_filters(on_grid(moved_model, levels)[0])[0], after[0])


def _share_second_filter(model: bytes, how: str) -> bytes:
  """The model with its second filtered op reading the first one's filter:
  the same tensor ("tensor") or its own tensor on the same buffer ("buffer")."""
  root = tflite_graph.parse(model)
  graph = root.subgraphs[0]
  first, second = [op for op in graph.operators
                   if op_name(builtin_code(root.operatorCodes[op.opcodeIndex])) in
                   sparse_format.CUSTOM_OPS][:2]
  if how == "tensor":
    second.inputs = np.array([second.inputs[0], first.inputs[1], *second.inputs[2:]], np.int32)
  else:
    graph.tensors[second.inputs[1]].buffer = graph.tensors[first.inputs[1]].buffer
  return tflite_writer.pack(root)


@pytest.mark.parametrize("how", ["tensor", "buffer"])
def test_a_filter_another_op_reads_is_not_rewritten(how):
  # Rescaling or re-encoding it for one op would change what the other computes.
  tf_keras.utils.set_random_seed(4)
  model = tf_keras.Sequential([tf_keras.Input((10,)), layers.Dense(10, name="a"),
                               layers.Dense(10, name="b")])
  for layer in model.layers:
    kernel = prune.project(layer.kernel.numpy(), 0.2)
    layer.kernel.assign(prune.on_grid(kernel, prune.channel_axes(layer)))
  x = np.random.default_rng(4).normal(size=(64, 10)).astype(np.float32)
  reference = quantize_int8(LoadedModel("keras", Path("two.h5"), keras_model=model), x)
  assert on_grid(reference, prune.INT4_LEVELS)[1:] == (2, 2)
  assert len(sparse_rewrite.sparsify(reference)[1]) == 2
  shared = _share_second_filter(reference, how)
  assert on_grid(shared, prune.INT4_LEVELS) == (shared, 0, 2)
  assert sparse_rewrite.sparsify(shared) == (shared, [])


@pytest.fixture(scope="module")
def compressed_int4(tmp_path_factory) -> Path:
  out = tmp_path_factory.mktemp("sparsecomp_int4")
  result = run_converter("--in", DIGITS_H5, "--data", "digits", "--target-kb", 7,
                         "--weight-bits", 4, "--max-drop", 3, *QUICK, "--out", out)
  assert result.returncode == 0, result.stderr
  (out / "stderr.txt").write_text(result.stderr)
  return out


def test_a_search_with_int4_weights_stores_int4_values(compressed_int4):
  report = json.loads((compressed_int4 / "report.json").read_text())
  model = (compressed_int4 / "model.tflite").read_bytes()
  root, _, constants = _constant_buffers(model)
  stored = sum(len(root.buffers[b].data) for b in constants)
  assert report["model"]["weight_bytes"] == stored <= 7 * 1024
  assert report["sparsecomp"]["rounds"][0]["kind"] == "int4"
  formats = [s["format"] for s in report["storage"]]
  assert all(f.endswith("-int4") for f in formats), formats
  for rows in _filters((compressed_int4 / "reference.tflite").read_bytes()):
    assert np.abs(rows).max() <= 7
  e = report["evaluation"]
  assert e["tflm_identical"] == e["tflm_compared"] == e["samples"]
  header = (compressed_int4 / "model_data.h").read_text()
  assert f"#define FREEML_MODEL_SPARSE_INT4_OPS {len(formats)}u" in header  # int4 loops kept
  assert "filters lie on their int4 grid" in (compressed_int4 / "stderr.txt").read_text()


def test_a_two_bit_search_moves_layers_one_at_a_time(tmp_path):
  # A generous floor keeps every round: after the int4 round each layer,
  # most bytes first, moves to -2..2, and its filters keep 2-bit values.
  result = run_converter("--in", DIGITS_H5, "--data", "digits", "--target-kb", 4.5,
                         "--weight-bits", 2, "--max-drop", 60, *QUICK, "--out", tmp_path)
  assert result.returncode == 0, result.stderr
  report = json.loads((tmp_path / "report.json").read_text())
  rounds = report["sparsecomp"]["rounds"]
  assert rounds[0]["kind"] == "int4"
  two_bit = [r for r in rounds if r["kind"] == "int2"]
  assert two_bit and all(r["kept"] for r in two_bit)
  assert two_bit[0]["bytes_after"] < two_bit[0]["bytes_before"]
  reference = _filters((tmp_path / "reference.tflite").read_bytes())
  assert sum(np.abs(rows).max() <= 2 for rows in reference) >= len(two_bit)
  formats = [s["format"] for s in report["storage"]]
  assert "bitmask-int2" in formats, formats
  e = report["evaluation"]
  assert e["tflm_identical"] == e["tflm_compared"] == e["samples"]
  header = (tmp_path / "model_data.h").read_text()
  assert f"#define FREEML_MODEL_SPARSE_INT2_OPS {formats.count('bitmask-int2')}u" in header
