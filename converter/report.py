"""report.json and report.md: what the converter produced, counted from the
emitted bytes."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Dict, Optional

from converter.evaluate import Evaluation
from converter.tflite_graph import GraphInfo
from tflm_freeml.runtime import RamUsage


def build(source: str, graph: GraphInfo, ram: RamUsage, tflm_arena: int,
          evaluation: Optional[Evaluation], data: Optional[str]) -> Dict[str, Any]:
  return {
      "source": source,
      "data": data,
      "model": {
          "file_bytes": graph.file_bytes,
          "weight_bytes": graph.weight_bytes,
          "parameters": graph.parameters,
          "macs": graph.macs,
          "input_dtype": graph.input_dtype,
          "output_dtype": graph.output_dtype,
      },
      "runtime_ram": dataclasses.asdict(ram),
      "tflm_arena_bytes": tflm_arena,
      "evaluation": dataclasses.asdict(evaluation) if evaluation else None,
      "layers": [dataclasses.asdict(layer) for layer in graph.layers],
  }


def _pct(value: Optional[float]) -> str:
  return "-" if value is None else f"{100 * value:.2f}%"


def to_markdown(report: Dict[str, Any]) -> str:
  m, ram = report["model"], report["runtime_ram"]
  lines = [
      f"# FreeML conversion report: {report['source']}", "",
      "| | |", "|---|---|",
      f"| model file | {m['file_bytes']:,} B |",
      f"| weights (constant buffers) | {m['weight_bytes']:,} B, {m['parameters']:,} parameters |",
      f"| MACs per inference | {m['macs']:,} |",
      f"| input / output | {m['input_dtype']} / {m['output_dtype']} |",
      f"| FreeML runtime arena | {ram['total_bytes']:,} B (activations {ram['activation_bytes']:,}"
      f" B, op data {ram['persistent_bytes']:,} B) |",
      f"| TFLM arena, same model | {report['tflm_arena_bytes']:,} B |",
  ]
  e = report["evaluation"]
  if e:
    lines += [
        f"| accuracy on {e['samples']} test samples of {report['data']} | float "
        f"{_pct(e['float_accuracy'])}, int8 {_pct(e['int8_accuracy'])} |",
        f"| outputs identical to TFLM | {e['tflm_identical']}/{e['tflm_compared']} |",
    ]
  lines += ["", "## Layers", "",
            "| # | op | layer | input shapes | output shape | params | MACs | weight B |",
            "|---|---|---|---|---|---|---|---|"]
  for layer in report["layers"]:
    ins = ", ".join("x".join(map(str, s)) for s in layer["input_shapes"])
    outs = ", ".join("x".join(map(str, s)) for s in layer["output_shapes"])
    lines.append(f"| {layer['index']} | {layer['op']} | {layer['layer']} | {ins} | {outs} | "
                 f"{layer['parameters']:,} | {layer['macs']:,} | {layer['weight_bytes']:,} |")
  return "\n".join(lines) + "\n"


def to_json(report: Dict[str, Any]) -> str:
  return json.dumps(report, indent=2) + "\n"
