"""The report from given numbers, without the runtime: JSON and markdown."""

from __future__ import annotations

import json

from converter import report
from converter.evaluate import Evaluation
from converter.tflite_graph import GraphInfo, LayerInfo, TensorInfo


def _graph() -> GraphInfo:
  layers = [LayerInfo(0, "CONV_2D", "conv", [(1, 4, 4, 1), (2, 3, 3, 1), (2,)], [(1, 4, 4, 2)],
                      20, 288, 26),
            LayerInfo(1, "SOFTMAX", "conv", [(1, 32)], [(1, 32)], 0, 0, 0)]
  io = TensorInfo(0, "x", (1, 4, 4, 1), "int8", 0.5, -3)
  return GraphInfo(file_bytes=1000, weight_bytes=26, layers=layers, inputs=[io], outputs=[io],
                   subgraphs=1)


PLAN = report.IntermittentPlan(sram_bytes=96, scratch_bytes=32, nvm_bytes=244,
                               max_tile_macs=8192, max_tile_bytes=1024, tile_units=(32, 1),
                               tiles=(1, 1))


def test_report_carries_the_given_numbers():
  evaluation = Evaluation(samples=10, test_split=20, float_accuracy=0.9, int8_accuracy=0.8,
                          tflm_compared=10, tflm_identical=10)
  built = report.build(source="m.h5", source_kind="keras", data="digits",
                       calibration_samples=50, graph=_graph(),
                       ram=report.RuntimeRam(100, 60, 176), tflm_arena_bytes=300,
                       intermittent=PLAN, evaluation=evaluation)
  parsed = json.loads(report.to_json(built))
  assert parsed["model"]["file_bytes"] == 1000 and parsed["model"]["macs"] == 288
  assert parsed["runtime_ram"] == {"activation_bytes": 100, "persistent_bytes": 60,
                                   "total_bytes": 176}
  assert parsed["evaluation"]["int8_accuracy"] == 0.8
  text = report.to_markdown(built)
  assert "| FreeML runtime arena | 176 B (activations 100 B, op data 60 B) |" in text
  assert "| TFLM arena, same model | 300 B |" in text
  assert "| accuracy on 10 of 20 test samples of digits | float 90.00%, int8 80.00%" in text
  assert "| 0 | CONV_2D | conv | 1x4x4x1, 2x3x3x1, 2 | 1x4x4x2 | 20 | 288 | 26 | 1 x 32 |" in text
  assert ("| intermittent mode (`freeml_run --nvm`) | SRAM 96 B (tile scratch 32 B), NVM 244 B; "
          "2 tiles of at most 8,192 MACs and 1,024 output bytes |") in text
  assert parsed["intermittent"]["tiles"] == [1, 1]
  assert "int8 [1, 4, 4, 1] (scale 0.5, zero point -3)" in text


def test_passthrough_report_without_data():
  built = report.build(source="m.tflite", source_kind="tflite", data=None,
                       calibration_samples=None, graph=_graph(),
                       ram=report.RuntimeRam(1, 2, 3), tflm_arena_bytes=4, intermittent=PLAN,
                       evaluation=None)
  assert built["evaluation"] is None
  assert "passed through unchanged" in report.to_markdown(built)
