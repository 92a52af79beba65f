"""python -m converter --exits: the gNet head is trained, stored in
model.tflite as documented (exit ops, head subgraph, metadata), equals TFLM
exit by exit, and its thresholds hold on the test split."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from converter import datasets, tflite_graph, tflm_oracle
from converter.errors import ConverterError
from converter.evaluate import model_inputs
from converter.gnet import exits, graph, head, thresholds
from converter.model_loading import load_model
from converter.ops import EXIT_ACCUMULATE
from tests.converter.helpers import DIGITS_H5, assert_refused, run_converter
from tflm_freeml.runtime import Runtime


@pytest.fixture(params=["one layer", "rank 4"])
def gnet_out(request, digits_gnet_out, digits_gnet_rank_out) -> Path:
  """The default model with gNet exits: a one-layer head on 1x1 avg+max
  features, and a two-layer head (2x2, rank 4, int4 first layer)."""
  return digits_gnet_out if request.param == "one layer" else digits_gnet_rank_out


def test_report_and_files(gnet_out):
  report = json.loads((gnet_out / "report.json").read_text())
  g = report["gnet"]
  assert [e["layer"] for e in g["exits"]] == ["residual", "maxpool", "avgpool"]
  assert g["tflm_compared"] == g["tflm_identical"] == report["evaluation"]["samples"]
  assert (gnet_out / "exit_head.tflite").exists()
  assert (gnet_out / "reference.tflite").exists()
  assert "## gNet exits" in (gnet_out / "report.md").read_text()
  # The head's bytes are those of its layers' weight and bias buffers in the
  # model; the accumulators hold one int32 per class, or per hidden unit.
  model = (gnet_out / "model.tflite").read_bytes()
  root = tflite_graph.parse(model)
  head_ops = root.subgraphs[1].operators
  assert len(head_ops) == (2 if g["rank"] else 1)
  assert g["head_bytes"] == sum(
      len(root.buffers[root.subgraphs[1].tensors[int(k)].buffer].data)
      for op in head_ops for k in op.inputs[1:3] if k >= 0)
  units = g["rank"] or 10
  assert g["accumulator_bytes"] == 4 * units * 3


def test_progress_on_the_console(digits_gnet_out):
  stderr = (digits_gnet_out / "stderr.txt").read_text()
  assert "gNet: calibrating exit thresholds" in stderr


def test_two_layer_plan(digits_gnet_rank_out):
  """A rank-4 head accumulates 4 int32 per exit; the plan names the hidden
  units' quantization and the output layer's constant tensors. The first
  layer's weights are int4, one scale, two per byte."""
  model = (digits_gnet_rank_out / "model.tflite").read_bytes()
  root = tflite_graph.parse(model)
  plan = graph.read_plan(model)
  assert plan.rank == 4 and plan.hidden_scale > 0 and plan.classes == 10
  tensors = root.subgraphs[0].tensors
  from tensorflow.lite.python import schema_py_generated as schema
  weights = {int(op.inputs[1]) for op in root.subgraphs[0].operators
             if int(op.outputs[0]) in plan.accumulators}
  assert len(weights) == 1
  w = tensors[weights.pop()]
  exits = json.loads((digits_gnet_rank_out / "report.json").read_text())["gnet"]["exits"]
  assert exits[0]["features"] == 2 * 2 * 2 * 16  # 2x2 cells, avg and max, 16 channels
  features = sum(e["features"] for e in exits)
  assert list(w.shape) == [4, features] and w.type == schema.TensorType.INT4
  assert len(w.quantization.scale) == 1
  assert len(root.buffers[w.buffer].data) == 4 * features // 2
  assert [list(tensors[t].shape) for t in plan.accumulators] == [[1, 4]] * 3
  assert list(tensors[plan.output_weights].shape) == [10, 4]
  assert plan.output_bias < 0 or list(tensors[plan.output_bias].shape) == [10]
  assert graph.decode_plan(graph.encode_plan(plan)) == plan


def test_model_layout(digits_gnet_out):
  """One EXIT_ACCUMULATE op right after each exit's pooling, chained from the
  bias; the head subgraph; the plan in the metadata (docs/gnet.md)."""
  model = (digits_gnet_out / "model.tflite").read_bytes()
  root = tflite_graph.parse(model)
  plan = graph.read_plan(model)
  assert plan is not None and len(root.subgraphs) == 2
  ops = root.subgraphs[0].operators
  names = [graph._op_name(root, op) for op in ops]  # noqa: SLF001
  positions = [i for i, n in enumerate(names) if n == f"CUSTOM({EXIT_ACCUMULATE})"]
  assert len(positions) == len(plan.accumulators) == 3
  assert [int(ops[i].outputs[0]) for i in positions] == list(plan.accumulators)
  for k, i in enumerate(positions[1:], 1):
    assert int(ops[i].inputs[2]) == plan.accumulators[k - 1]
  # Each exit's pooling (average and maximum, each ending in a requantizing
  # MEAN, side by side) comes right before its accumulation.
  for i in positions:
    assert names[i - 4:i] == ["MEAN", "MAX_POOL_2D", "MEAN", "CONCATENATION"], names
  features = [struct.unpack("<4i", bytes(bytearray(ops[i].customOptions))) for i in positions]
  assert [f[2] for f in features] == [0, 1, 2]  # exit indexes
  assert [f[0] for f in features] == [0, 32, 64] and all(f[1] == 32 for f in features)
  assert list(root.subgraphs[0].outputs) == [int(root.subgraphs[0].outputs[0])]


def test_thresholds_hold_on_the_test_split(digits_gnet_out):
  report = json.loads((digits_gnet_out / "report.json").read_text())
  g = report["gnet"]
  assert g["validation"]["accuracy"] >= g["validation"]["full_accuracy"] - g["max_drop"] / 100
  assert g["test"]["accuracy"] >= g["test"]["full_accuracy"] - g["max_drop"] / 100
  assert sum(g["test"]["exit_rates"][:-1]) > 0  # some answers come early
  assert g["mean_macs_fraction"] < 1


def test_exit_logits_equal_tflm(gnet_out):
  """Exit k's logits from the runtime equal TFLM running the head on TFLM's
  features with the later exits at the zero point."""
  model = (gnet_out / "model.tflite").read_bytes()
  reference = (gnet_out / "reference.tflite").read_bytes()
  head_model = (gnet_out / "exit_head.tflite").read_bytes()
  rt = Runtime(model)
  heads = tflm_oracle.make_interpreter(head_model)
  zero_point = int(heads.get_input_details(0)["quantization_parameters"]["zero_points"][0])
  x = model_inputs(datasets.load("digits").x_test[:20], rt.inputs[0])
  rng = np.random.default_rng(0)
  x = np.concatenate([x, rng.integers(-128, 128, (20,) + x.shape[1:], dtype=np.int8)])
  features = [e["features"] for e in json.loads((gnet_out / "report.json").read_text())[
      "gnet"]["exits"]]
  offsets = np.concatenate([[0], np.cumsum(features)])
  for sample in x:
    outputs, logits = rt.invoke_exits([sample[None]])
    theirs = tflm_oracle.invoke(reference, [sample[None]])
    assert np.array_equal(outputs[0], theirs[0])
    for k in range(3):
      expected = graph.exit_logits_reference(heads, theirs[1], offsets, zero_point, k)
      assert np.array_equal(expected.reshape(-1), logits[k])
    assert np.array_equal(theirs[2].reshape(-1), logits[2])  # every exit reached


def test_cascade():
  # 3 samples, 2 exits, 2 classes; margins: exit 0 9, 1, 3; exit 1 0, 5, 2.
  logits = np.array([[[9, 0], [0, 0]], [[0, 1], [5, 0]], [[3, 0], [0, 2]]], np.int8)
  finals = np.array([0, 0, 1])
  answers, taken = thresholds.cascade(logits, finals, [5, 5])
  assert list(taken) == [0, 1, 2] and list(answers) == [0, 0, 1]
  result = thresholds.measure(logits, finals, np.array([0, 0, 1]), [4, 0])
  assert result.accuracy == result.full_accuracy == 1.0
  assert result.exit_rates == pytest.approx((1 / 3, 2 / 3, 0))


def test_stop_accuracy():
  """Same samples, thresholds 5 and 5: sample 0 is confident at exit 0, so
  row 0 holds samples 1 and 2; sample 1 is confident at exit 1, so row 1
  holds sample 2 alone."""
  logits = np.array([[[9, 0], [0, 0]], [[0, 1], [5, 0]], [[3, 0], [0, 2]]], np.int8)
  finals, y = np.array([0, 0, 1]), np.array([0, 0, 1])
  table = thresholds.stop_accuracy(logits, finals, y, [5, 5])
  # Row 0: at exit 0 sample 1 answers 1 (wrong), sample 2 answers 0 (wrong);
  # to exit 1: sample 1 answers there (0, right), sample 2 is forced there (1,
  # right); to the end: sample 1 still answers at its confident exit 1.
  assert table[0] == [0.0, 1.0, 1.0]
  assert table[1] == [1.0, 1.0]
  assert thresholds.stop_accuracy(logits, finals, y, [0, 0]) == [[None, None, None],
                                                                 [None, None]]


def test_loss_bound():
  assert thresholds.loss_bound(0, 1000) < 0.003
  assert 0.01 < thresholds.loss_bound(10, 1000) < 0.018
  assert thresholds.loss_bound(1, 100) > thresholds.loss_bound(10, 1000) > 0.01
  assert thresholds.loss_bound(0, 3) > 0.3  # three samples prove little


def test_calibration():
  """Exit 0 answers right exactly when its margin is at least 10; the network
  is always right. A 1-point budget admits no loss at 1,000 samples: the
  threshold is 10. Exit 1 is always right: threshold 0."""
  n = 1000
  margins = np.arange(n) % 20
  y = np.zeros(n, np.int64)
  logits = np.zeros((n, 2, 2), np.int8)
  logits[:, 0, 0] = np.where(margins >= 10, margins, 0)
  logits[:, 0, 1] = np.where(margins >= 10, 0, margins)
  logits[:, 1, 0] = 5
  assert thresholds.calibrate(logits, y.copy(), y, 1.0) == [10, 0]
  # 3 points admit about 2% of losses (bound 3%), 7 points the 5% at margin 9.
  assert thresholds.calibrate(logits, y.copy(), y, 3.0)[0] == 10
  assert thresholds.calibrate(logits, y.copy(), y, 7.0)[0] == 9


def test_unknown_exit_layer_is_a_clear_error(tmp_path):
  out = tmp_path / "out"
  result = run_converter("--in", DIGITS_H5, "--data", "digits", "--exits", "maxpool,nosuch",
                         "--out", out)
  assert_refused(result, out, "--exits", "no layer 'nosuch'", "maxpool (MaxPooling2D)")


def test_bad_exit_requests(tmp_path):
  out = tmp_path / "out"
  assert_refused(run_converter("--in", DIGITS_H5, "--data", "digits", "--exits", "classifier",
                               "--out", out), out, "'classifier' is the model's output")
  assert_refused(run_converter("--in", DIGITS_H5, "--exits", "auto", "--out", out), out,
                 "needs --data")
  assert_refused(run_converter("--in", DIGITS_H5, "--data", "digits", "--exits", "auto",
                               "--exit-grid", "0", "--out", out), out, "--exit-grid")
  assert_refused(run_converter("--in", DIGITS_H5, "--data", "digits", "--exits", "auto",
                               "--exit-rank", "65", "--out", out), out, "--exit-rank")
  for flag, value in (("--exit-pool", "avg,median"), ("--exit-pool", "avg,avg"),
                      ("--exit-distillation", "2"), ("--exit-weight-bits", "2")):
    assert_refused(run_converter("--in", DIGITS_H5, "--data", "digits", "--exits", "auto",
                                 flag, value, "--out", out), out, flag)


def test_an_int8_tflite_gets_no_exits(tmp_path, digits_out):
  out = tmp_path / "out"
  assert_refused(run_converter("--in", digits_out / "model.tflite", "--data", "digits",
                               "--exits", "auto", "--out", out), out,
                 "--exits trains on the float model")


def test_auto_exits_of_a_plain_stack():
  """A stack of Conv2D blocks with no pooling (a DS-CNN) exits after each
  block's activation, except the last before the classifier."""
  import tf_keras
  x = tf_keras.Input((8, 8, 1))
  y = x
  for i in range(3):
    y = tf_keras.layers.Conv2D(4, 3, padding="same", name=f"conv{i}")(y)
    y = tf_keras.layers.BatchNormalization(name=f"bn{i}")(y)
    y = tf_keras.layers.ReLU(name=f"relu{i}")(y)
  y = tf_keras.layers.GlobalAveragePooling2D()(y)
  model = tf_keras.Model(x, tf_keras.layers.Dense(3)(y))
  assert exits.exit_points(model, "auto") == ["relu0", "relu1"]
  # A named layer's exit comes after its BatchNorm and activation.
  assert exits.exit_points(model, "relu1, conv0") == ["relu0", "relu1"]
  with pytest.raises(ConverterError, match="end the same block"):
    exits.exit_points(model, "conv0,bn0")


def test_pooling_to_a_grid():
  model = load_model(Path(DIGITS_H5)).keras_model
  extractor = head.exit_features(model, ["residual", "maxpool"], 2, "avg+max,avg")
  _, features = head.compute_features(extractor, datasets.load("digits").x_test[:4])
  assert [f.shape for f in features] == [(4, 2 * 2 * 16 * 2), (4, 2 * 2 * 16)]
  assert head.per_exit_poolings("max", 2) == ["max", "max"]
  with pytest.raises(ValueError, match="one per exit"):
    head.per_exit_poolings("avg,max", 3)


def test_int4_weights():
  """int4_grid keeps -7..7 with one scale; pack_int4 puts the first value
  of each pair in the low nibble (TFLite's order, which TFLM unpacks)."""
  kernel = np.array([[0.7, -0.36], [0.1, 0.0], [-0.7, 0.04]])
  q, scale = head.int4_grid(kernel)
  assert scale == pytest.approx(0.1) and q.tolist() == [[7, -4], [1, 0], [-7, 0]]
  assert graph.pack_int4(np.array([1, -2, 7])).tolist() == [0xE1, 0x07]


def test_training_keeps_the_best_validation_loss():
  import tensorflow as tf
  variable = tf.Variable([1.0, 2.0])
  best = head.KeepBest([variable])
  for value, loss in (([3.0, 3.0], 0.9), ([4.0, 4.0], 0.5), ([5.0, 5.0], 0.7)):
    variable.assign(value)
    best.check(loss)
  best.restore()
  assert variable.numpy().tolist() == [4.0, 4.0]
  checks = [i for i in range(1000) if head.is_check_step(i, 1000)]
  assert len(checks) == head.CHECKS and checks[-1] == 999


@pytest.mark.parametrize("spec,expected", [("uniform", [1 / 3] * 3),
                                           ("falling", [6 / 11, 3 / 11, 2 / 11]),
                                           ("1,0,1", [0.5, 0, 0.5])])
def test_exit_draw_weights(spec, expected):
  assert np.allclose(head.exit_draw_weights(spec, 3), expected)


@pytest.mark.parametrize("exits,target_kb,training", [(None, None, False), ("auto", None, True),
                                                      (None, 8.0, True)])
def test_heads_train_on_the_train_split(monkeypatch, tmp_path, exits, target_kb, training):
  """The gNet head (like SparseComp) asks for the train split, which CIFAR-10
  and MNIST load only on request."""
  from converter import pipeline
  asked = []
  monkeypatch.setattr(datasets, "load",
                      lambda spec, training=False: asked.append(training) or datasets.load_digits())
  pipeline._load_data(pipeline.Options(tmp_path / "m.h5", tmp_path, data="cifar10",  # noqa: SLF001
                                       exits=exits, target_kb=target_kb))
  assert asked == [training]
