"""The shared MLPerf Tiny Keras models through `python -m converter`, with
small sample counts: accuracy close to the shipped int8 models, outputs
identical to TFLM, and every tensor of the converted graph equal to TFLM's.

Full runs, for the record (2 cores): kws_dscnn.h5 on all 300 test clips
takes about 12 s (int8 90.0%, float 89.7%); ic_resnet8.h5 on all 10,000
test images about 4.7 min, most of it running each image on both the FreeML
runtime and TFLM (int8 75.4%, float 75.2%; shipped int8 75.56%).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.converter.helpers import run_converter
from tests.runtime.test_shared_models import assert_all_tensors_equal

pytestmark = pytest.mark.shared_data


@pytest.mark.parametrize("h5,data,args,min_accuracy", [
    ("kws_dscnn.h5", "speech_commands", ["--calibration-samples", "200"], 0.87),  # all 300 clips
    ("ic_resnet8.h5", "cifar10", ["--max-eval", "300", "--calibration-samples", "200"], 0.68),
])
def test_converted_shared_model(shared_dir, data_dir, tmp_path, h5, data, args, min_accuracy):
  result = run_converter("--in", shared_dir / "models" / h5, "--data", data, "--out", tmp_path,
                         *args, env={"FREEML_DATA_DIR": str(data_dir)})
  assert result.returncode == 0, result.stderr
  report = json.loads((tmp_path / "report.json").read_text())
  evaluation = report["evaluation"]
  assert evaluation["int8_accuracy"] >= min_accuracy
  assert abs(evaluation["int8_accuracy"] - evaluation["float_accuracy"]) <= 0.03
  assert evaluation["tflm_identical"] == evaluation["tflm_compared"] == evaluation["samples"]
  assert report["model"]["input_dtype"] == report["model"]["output_dtype"] == "int8"
  assert report["runtime_ram"]["total_bytes"] <= report["tflm_arena_bytes"]
  model = (tmp_path / "model.tflite").read_bytes()
  from tflm_freeml.runtime import Runtime
  shape = Runtime(model).inputs[0].shape
  x = np.random.default_rng(5).integers(-128, 128, size=shape, dtype=np.int8)
  assert_all_tensors_equal(model, [x], f"{h5} converted")


def test_shipped_int8_model_passes_through_with_accuracy(shared_dir, data_dir, tmp_path):
  source = shared_dir / "models" / "kws_dscnn_int8.tflite"
  result = run_converter("--in", source, "--data", "speech_commands", "--out", tmp_path,
                         env={"FREEML_DATA_DIR": str(data_dir)})
  assert result.returncode == 0, result.stderr
  evaluation = json.loads((tmp_path / "report.json").read_text())["evaluation"]
  assert evaluation["float_accuracy"] is None
  assert evaluation["int8_accuracy"] >= 0.87  # 90.1% on all 1,000 clips
  assert evaluation["tflm_identical"] == evaluation["tflm_compared"] == 300
