"""FreeML's custom ops inside the real TFLM interpreter (the tflite-micro
wheel) through the adapter (tflm_freeml/tflm/): a converted model with sparse
layers and gNet exits gives the FreeML runtime's bytes, an exit taken inside
TFLM answers what the runtime answers for the same decision, and a model
other than the adapter's is refused when TFLM prepares it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import List

import numpy as np
import pytest

from converter import datasets
from converter.evaluate import model_inputs
from converter.gnet import graph
from converter.sparsecomp import prune
from tests.conftest import DIGITS_H5, run_converter
from tests.runtime.test_intermittent_cli import run, write_input
from tflm_freeml.runtime import FreemlError, Runtime
from tflm_freeml.tflm_adapter import ABORTED, REGISTERER, TflmWithFreeml

# Short SparseComp rounds: the search is tested elsewhere (test_sparsecomp.py).
QUICK_SPARSECOMP = ("--round-steps", "60", "--final-steps", "120", "--max-eval", "60")


def _custom_ops(model: bytes) -> List[bytes]:
  return sorted(set(re.findall(rb"FREEML_[A-Z0-9_]+", model)))


@pytest.fixture(scope="module")
def digits_model(tmp_path_factory) -> bytes:
  """The default model after SparseComp (some layers sparse) with exits."""
  out = tmp_path_factory.mktemp("digits_sparse_gnet")
  result = run_converter("--in", DIGITS_H5, "--data", "digits", "--target-kb", "8",
                         *QUICK_SPARSECOMP, "--exits", "auto", "--exit-steps", "200", "--out", out)
  assert result.returncode == 0, result.stderr
  model = (out / "model.tflite").read_bytes()
  assert b"FREEML_SPARSE_" in model and b"FREEML_EXIT_ACCUMULATE" in model, _custom_ops(model)
  return model


def _inputs(model: bytes, images: np.ndarray, random: int) -> List[np.ndarray]:
  detail = Runtime(model).inputs[0]
  rng = np.random.default_rng(7)
  drawn = [rng.integers(-128, 128, size=detail.shape, dtype=np.int8) for _ in range(random)]
  return list(model_inputs(images, detail)[:, None]) + drawn


def assert_same_as_runtime(model: bytes, inputs: List[np.ndarray]) -> None:
  """Run to the end (a policy that never answers): every output byte equal;
  forced to answer at exit k: Invoke returns kTfLiteAbort, output 0 holds
  exactly the runtime's logits of exit k."""
  rt = Runtime(model)
  tflm = TflmWithFreeml(model)
  assert tflm.num_exits == len(rt.exits) > 0
  for i, x in enumerate(inputs):
    outputs, logits = rt.invoke_exits([x])
    tflm.set_exit_policy(lambda exit, margin, threshold: False)
    full = tflm.invoke([x])
    assert full.status == 0 and full.exit == tflm.num_exits, f"input {i}"
    for ours, theirs in zip(outputs, full.outputs, strict=True):
      assert ours.tobytes() == theirs.tobytes(), f"input {i}: outputs differ"
    for k in range(tflm.num_exits):
      tflm.set_exit_policy(lambda exit, margin, threshold, k=k: exit == k)
      early = tflm.invoke([x])
      assert early.status == ABORTED and early.exit == k, f"input {i}, exit {k}"
      assert early.outputs[0].tobytes() == logits[k].tobytes(), f"input {i}, exit {k}"


def test_digits_sparse_and_exits_bit_exact(digits_model):
  images = datasets.load("digits").x_test[:12]
  assert_same_as_runtime(digits_model, _inputs(digits_model, images, random=8))


def test_int4_head_is_refused(digits_gnet_rank_out):
  """TFLM crashes allocating a model whose head subgraph has int4 weights;
  the adapter refuses the model before TFLM sees it."""
  model = (digits_gnet_rank_out / "model.tflite").read_bytes()
  with pytest.raises(FreemlError, match="--exit-weight-bits 8"):
    TflmWithFreeml(model)


def test_confidence_exits_match_freeml_run(digits_model, freeml_run, tmp_path):
  """Default policy (margin >= threshold) inside TFLM against freeml_run's
  confidence exits, with thresholds that spread the answers over the exits."""
  model = graph.set_thresholds(digits_model, [60, 40, 20])
  path = tmp_path / "model.tflite"
  path.write_bytes(model)
  tflm = TflmWithFreeml(model)
  exits = []
  for i, x in enumerate(_inputs(model, datasets.load("digits").x_test[:30], random=4)):
    result = run(freeml_run, path, "--input", write_input(tmp_path, x), "--output",
                 tmp_path / "out.bin")
    assert result.returncode == 0, result.stderr
    expected = int(re.findall(r"^exit=(\d+)$", result.stdout, re.M)[0])
    ours = tflm.invoke([x])
    assert ours.exit == expected, f"input {i}"
    assert ours.status == (ABORTED if expected < tflm.num_exits else 0)
    assert ours.outputs[0].tobytes() == (tmp_path / "out.bin").read_bytes(), f"input {i}"
    exits.append(expected)
  assert len(set(exits)) >= 2, f"thresholds did not spread the exits: {exits}"


def test_other_model_is_refused(digits_model, digits_gnet_out):
  """The adapter set up for one model, TFLM preparing another: refused."""
  from tflite_micro.python.tflite_micro import runtime

  TflmWithFreeml(digits_model)  # its adapter is now the current one
  other = (digits_gnet_out / "model.tflite").read_bytes()
  with pytest.raises(RuntimeError):
    runtime.Interpreter.from_bytes(other, custom_op_registerers=[REGISTERER])


def _pruned_copy(source: Path, out: Path) -> Path:
  """The Keras model with its inner prunable layers projected to densities
  0.5, 0.7, 0.9 in turn, as SparseComp projects them, without its minutes of
  retraining: the adapter needs sparse layers here, not accuracy. The first
  and last layers stay dense (the first with 3 channels loses most)."""
  import tf_keras  # converter/__init__.py chose the legacy Keras

  model = tf_keras.models.load_model(source, compile=False)
  for i, name in enumerate(prune.prunable_layers(model)[1:-1]):
    kernel = prune.kernel_of(model.get_layer(name))
    kernel.assign(prune.project(kernel.numpy(), (0.5, 0.7, 0.9)[i % 3]))
  model.save(out)
  return out


SPARSE_CONV, SPARSE_DEPTHWISE = b"FREEML_SPARSE_CONV_2D", b"FREEML_SPARSE_DEPTHWISE_CONV_2D"


@pytest.mark.parametrize("name, data, sparse_ops", [
    ("kws_dscnn", "speech_commands", {SPARSE_CONV, SPARSE_DEPTHWISE}),
    ("ic_resnet8", "cifar10", {SPARSE_CONV}),
])
def test_shared_models_bit_exact(shared_dir, tmp_path, name, data, sparse_ops, monkeypatch):
  monkeypatch.setenv("FREEML_DATA_DIR", str(shared_dir / "datasets"))
  pruned = _pruned_copy(shared_dir / "models" / f"{name}.h5", tmp_path / f"{name}.h5")
  result = run_converter("--in", pruned, "--data", data, "--exits", "auto", "--exit-steps",
                         "200", "--calibration-samples", "200", "--max-eval", "60", "--out",
                         tmp_path / "out")
  assert result.returncode == 0, result.stderr
  model = (tmp_path / "out" / "model.tflite").read_bytes()
  assert sparse_ops <= set(_custom_ops(model)), _custom_ops(model)
  images = datasets.load(data).x_test[:6]
  assert_same_as_runtime(model, _inputs(model, images, random=4))
