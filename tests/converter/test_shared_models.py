"""The converter's own int8 output for the shared MLPerf Tiny Keras models:
the runtime equals TFLM on every tensor, and accuracy holds."""

from __future__ import annotations

import numpy as np
import pytest

from converter.__main__ import convert
from tests.runtime.test_shared_models import assert_all_tensors_equal


@pytest.mark.parametrize("h5,data,min_accuracy", [("kws_dscnn.h5", "speech_commands", 0.85),
                                                  ("ic_resnet8.h5", "cifar10", 0.65)])
def test_converted_shared_model(shared_dir, tmp_path, monkeypatch, h5, data, min_accuracy):
  monkeypatch.setenv("FREEML_DATA_DIR", str(shared_dir / "datasets"))
  report = convert(shared_dir / "models" / h5, tmp_path, data, calibration_samples=200,
                   max_eval=200, tflm_samples=50)
  evaluation = report["evaluation"]
  assert evaluation["int8_accuracy"] >= min_accuracy
  assert evaluation["int8_accuracy"] >= evaluation["float_accuracy"] - 0.03
  assert evaluation["tflm_identical"] == evaluation["tflm_compared"] == 50
  model = (tmp_path / "model.tflite").read_bytes()
  assert report["runtime_ram"]["total_bytes"] <= report["tflm_arena_bytes"]
  rng = np.random.default_rng(5)
  from tflm_freeml.runtime import Runtime
  shape = Runtime(model).inputs[0].shape
  x = rng.integers(-128, 128, size=shape, dtype=np.int8)
  assert_all_tensors_equal(model, [x], f"{h5} converted")
