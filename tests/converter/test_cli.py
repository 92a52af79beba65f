"""python -m converter as a user runs it: outputs, report numbers counted
from the emitted bytes, and one-line errors that leave nothing behind."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from converter import ops, tflm_oracle
from converter.tflite_graph import read_graph

REPO = Path(__file__).resolve().parents[2]
DIGITS_H5 = REPO / "examples" / "digits" / "digits_cnn.h5"
OUTPUTS = ["model.tflite", "model_data.c", "model_data.h", "report.md", "report.json"]


def convert(*args, env=None) -> subprocess.CompletedProcess:
  return subprocess.run([sys.executable, "-m", "converter", *map(str, args)], cwd=REPO,
                        capture_output=True, text=True, timeout=600,
                        env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def digits_out(tmp_path_factory) -> Path:
  out = tmp_path_factory.mktemp("digits")
  result = convert("--in", DIGITS_H5, "--data", "digits", "--out", out)
  assert result.returncode == 0, result.stderr
  return out


def test_help_documents_every_flag():
  result = convert("--help")
  assert result.returncode == 1, result.stderr  # absl exits 1 after printing help
  for flag in ["--in", "--out", "--data", "--calibration-samples", "--max-eval",
               "--tflm-samples"]:
    assert flag in result.stdout


def test_digits_outputs(digits_out):
  for name in OUTPUTS:
    assert (digits_out / name).is_file(), name
  model = (digits_out / "model.tflite").read_bytes()
  graph = read_graph(model)
  assert (graph.input_dtype, graph.output_dtype) == ("int8", "int8")
  c_source = (digits_out / "model_data.c").read_text()
  hex_bytes = re.findall(r"0x([0-9a-f]{2})", c_source.split("{", 1)[1].split("}", 1)[0])
  assert bytes(int(h, 16) for h in hex_bytes) == model
  assert f"freeml_model_data_len = {len(model)}u" in c_source
  assert "aligned(16)" in c_source


def test_digits_report_counts_the_emitted_bytes(digits_out):
  report = json.loads((digits_out / "report.json").read_text())
  model = (digits_out / "model.tflite").read_bytes()
  assert report["model"]["file_bytes"] == len(model)
  from tensorflow.lite.python import schema_py_generated as schema
  root = schema.Model.GetRootAsModel(model, 0)
  graph = root.Subgraphs(0)
  constant_buffers = {graph.Tensors(i).Buffer() for i in range(graph.TensorsLength())
                      if root.Buffers(graph.Tensors(i).Buffer()).DataLength() > 0}
  assert report["model"]["weight_bytes"] == sum(root.Buffers(b).DataLength()
                                                for b in constant_buffers)
  assert report["tflm_arena_bytes"] == tflm_oracle.arena_bytes(model)
  assert 0 < report["runtime_ram"]["total_bytes"] <= report["tflm_arena_bytes"]
  evaluation = report["evaluation"]
  assert evaluation["samples"] == 359
  assert evaluation["int8_accuracy"] >= evaluation["float_accuracy"] - 0.02
  assert evaluation["int8_accuracy"] > 0.9
  assert evaluation["tflm_identical"] == evaluation["tflm_compared"] > 0
  layers = report["layers"]
  assert sum(layer["macs"] for layer in layers) == report["model"]["macs"] > 0
  assert {"CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "MAX_POOL_2D", "AVERAGE_POOL_2D", "MEAN",
          "FULLY_CONNECTED", "SOFTMAX"} <= {layer["op"] for layer in layers}
  assert "| FreeML runtime arena |" in (digits_out / "report.md").read_text()


def test_int8_tflite_passes_through(shared_dir, tmp_path):
  source = shared_dir / "models" / "kws_dscnn_int8.tflite"
  result = convert("--in", source, "--out", tmp_path)
  assert result.returncode == 0, result.stderr
  assert (tmp_path / "model.tflite").read_bytes() == source.read_bytes()
  assert json.loads((tmp_path / "report.json").read_text())["tflm_arena_bytes"] == 24272


def assert_refused(result, out: Path, *fragments):
  assert result.returncode == 2, result.stderr
  lines = [line for line in result.stderr.splitlines() if line.startswith("converter: error:")]
  assert len(lines) == 1, result.stderr
  for fragment in fragments:
    assert fragment in lines[0], lines[0]
  assert not any((out / name).exists() for name in OUTPUTS)


def test_bad_inputs_are_refused(tmp_path):
  out = tmp_path / "out"
  assert_refused(convert("--in", tmp_path / "missing.h5", "--out", out), out, "no such file")
  empty = tmp_path / "empty.h5"
  empty.write_bytes(b"")
  assert_refused(convert("--in", empty, "--out", out), out, "not a Keras HDF5")
  noise = tmp_path / "noise.tflite"
  noise.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
  assert_refused(convert("--in", noise, "--out", out), out, "not a Keras HDF5")
  truncated = tmp_path / "cut.tflite"
  truncated.write_bytes((REPO / "out" / "digits" / "model.tflite").read_bytes()[:3000]
                        if (REPO / "out" / "digits" / "model.tflite").exists()
                        else b"\x18\x00\x00\x00TFL3" + bytes(100))
  result = convert("--in", truncated, "--out", out)
  assert_refused(result, out)
  import h5py
  not_keras = tmp_path / "data.h5"
  with h5py.File(not_keras, "w") as f:
    f["x"] = np.arange(10)
  assert_refused(convert("--in", not_keras, "--out", out), out, "without a Keras model")
  assert_refused(convert("--in", DIGITS_H5, "--out", out), out, "needs --data")
  assert_refused(convert("--in", DIGITS_H5, "--data", "imagenet", "--out", out), out,
                 "--data must be one of")
  assert_refused(convert("--in", DIGITS_H5, "--data", "mnist", "--out", out,
                         env={"FREEML_DATA_DIR": ""}), out, "FREEML_DATA_DIR")


def test_unsupported_layer_is_named(tmp_path):
  import tf_keras as keras
  inputs = keras.Input((8, 8, 1))
  x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
  x = keras.layers.Activation("tanh", name="squash")(x)
  x = keras.layers.Flatten()(x)
  model = keras.Model(inputs, keras.layers.Dense(10, name="head")(x))
  path = tmp_path / "tanh.h5"
  model.save(path, save_format="h5")
  out = tmp_path / "out"
  assert_refused(convert("--in", path, "--data", "digits", "--out", out), out, "TANH",
                 "squash", "not supported")


def test_supported_ops_match_the_runtime_registry():
  registry = (REPO / "tflm_freeml" / "ops" / "registry.c").read_text()
  names = set(re.findall(r"FREEML_BUILTIN_(\w+),", registry))
  assert names == set(ops.SUPPORTED_OPS.values())


def test_digits_all_tensors_match_tflm(digits_out):
  from converter import datasets
  from converter.evaluate import quantize_input
  from tests.runtime.test_shared_models import assert_all_tensors_equal
  from tflm_freeml.runtime import Runtime
  model = (digits_out / "model.tflite").read_bytes()
  details = Runtime(model).inputs[0]
  x_test = datasets.load_digits().x_test
  for i in range(3):
    x = quantize_input(x_test[i:i + 1], details.scale, details.zero_point)
    assert assert_all_tensors_equal(model, [x], f"digit {i}") == 12  # input + 11 op outputs


def test_saved_model_folder(tmp_path):
  import tf_keras as keras
  saved = tmp_path / "saved"
  keras.models.load_model(DIGITS_H5, compile=False).save(saved, save_format="tf")
  out = tmp_path / "out"
  result = convert("--in", saved, "--data", "digits", "--out", out, "--max-eval", "50")
  assert result.returncode == 0, result.stderr
  report = json.loads((out / "report.json").read_text())
  assert report["evaluation"]["int8_accuracy"] > 0.9
