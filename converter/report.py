"""report.json and report.md: what the converter produced, every size
counted from the emitted bytes.

The report takes its numbers as arguments (the graph facts, the runtime's
RAM, TFLM's arena, the evaluation): it does not run anything itself, so it
can be built and tested without the C runtime.

Example:
  report = build(source="digits_cnn.h5", source_kind="keras", data="digits",
                 calibration_samples=500, graph=graph,
                 ram=RuntimeRam(2304, 2244, 4560), tflm_arena_bytes=6176,
                 intermittent=plan, evaluation=None)
  write(to_json(report)); write(to_markdown(report))
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Dict, List, Optional, Sequence, Tuple

from converter.evaluate import Evaluation
from converter.tflite_graph import GraphInfo, TensorInfo, input_output_summary


@dataclasses.dataclass(frozen=True)
class RuntimeRam:
  """The FreeML runtime's arena for the model, as its C code counts it.

  activation_bytes: the planned activation area.
  persistent_bytes: op table, op parameters (multipliers) and tensor plans.
  total_bytes: the arena to give freeml_runtime_init (persistent, aligned,
    plus activations).
  """
  activation_bytes: int
  persistent_bytes: int
  total_bytes: int


@dataclasses.dataclass(frozen=True)
class IntermittentPlan:
  """The runtime's intermittent mode (freeml_run --nvm) for the model.

  sram_bytes: the arena: op data plus one tile's scratch (scratch_bytes).
  nvm_bytes: the NVM: control block, snapshot of the prepared tables,
    activations and their checksums.
  max_tile_macs, max_tile_bytes: the budgets the tiles were cut to.
  tile_units, tiles: per op, units per tile and number of tiles.
  snapshot_crc: CRC-32 of the prepared tables' snapshot, which firmware
    boots restore instead of preparing the model again.
  """
  sram_bytes: int
  scratch_bytes: int
  nvm_bytes: int
  max_tile_macs: int
  max_tile_bytes: int
  tile_units: Tuple[int, ...]
  tiles: Tuple[int, ...]
  snapshot_crc: int = 0


def build(*, source: str, source_kind: str, data: Optional[str],
          calibration_samples: Optional[int], graph: GraphInfo, ram: RuntimeRam,
          tflm_arena_bytes: int, intermittent: IntermittentPlan,
          evaluation: Optional[Evaluation], storage: Sequence[Any] = (),
          sparsecomp: Optional[Dict[str, Any]] = None,
          gnet: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
  """The report as a JSON-ready dict.

  Args:
    source: the input model's file name.
    source_kind: 'keras', 'saved_model' or 'tflite' (passed through).
    data: the --data value, or None.
    calibration_samples: samples used to quantize (None: passed through).
    graph: facts of the emitted model.tflite.
    ram: the FreeML runtime's arena for it.
    tflm_arena_bytes: TFLM's arena for the same file.
    intermittent: the runtime's memory and tiles in intermittent mode.
    evaluation: accuracy and TFLM agreement, or None without data.
    storage: how each filter is stored (sparse_rewrite.FilterStorage).
    sparsecomp: sparsecomp_section() when the search ran.
    gnet: the exits (converter.gnet.attach.measure_exits) with --exits.
  """
  return {
      "generated_by": "python -m converter",
      "source": source,
      "source_kind": source_kind,
      "data": data,
      "calibration_samples": calibration_samples,
      "model": {
          "file_bytes": graph.file_bytes,
          "weight_bytes": graph.weight_bytes,
          "parameters": graph.parameters,
          "macs": graph.macs,
          "ops": len(graph.layers),
          "input_dtype": graph.input_dtype,
          "output_dtype": graph.output_dtype,
          "inputs": [dataclasses.asdict(t) for t in graph.inputs],
          "outputs": [dataclasses.asdict(t) for t in graph.outputs],
      },
      "runtime_ram": dataclasses.asdict(ram),
      "tflm_arena_bytes": tflm_arena_bytes,
      "intermittent": dataclasses.asdict(intermittent),
      "evaluation": dataclasses.asdict(evaluation) if evaluation else None,
      "layers": [dataclasses.asdict(layer) for layer in graph.layers],
      "storage": [dataclasses.asdict(s) for s in storage],
      "sparsecomp": sparsecomp,
      "gnet": gnet,
  }


def sparsecomp_section(result: Any, source_model: Any,
                       source_test_accuracy: Optional[float]) -> Dict[str, Any]:
  """The search's settings and results for the report: the settings so that a
  result can be searched again.

  Args:
    result: converter.sparsecomp.search.SearchResult.
    source_model: the Keras model before SparseComp (its float32 size).
    source_test_accuracy: its accuracy on the evaluated test samples.
  """
  float32_bytes = 4 * int(source_model.count_params())
  final, initial = result.measurement, result.initial
  return {
      "source_float32_bytes": float32_bytes,
      "source_test_accuracy": source_test_accuracy,
      "validation_accuracy_before": result.baseline_accuracy,
      "validation_accuracy_after": result.accuracy,
      "dense_int8": dataclasses.asdict(initial),
      "compressed": dataclasses.asdict(final),
      "x_float32": float32_bytes / final.weight_bytes,
      "x_float32_file": float32_bytes / final.file_bytes,
      "x_dense_int8": initial.weight_bytes / final.weight_bytes,
      "densities": result.densities,
      "fragile": result.fragile,
      "folded_batchnorm": result.folded,
      "separated": result.separated,
      "rounds": [dataclasses.asdict(r) for r in result.history],
      "checkpoints": [dataclasses.asdict(c) for c in result.checkpoints],
      "settings": dataclasses.asdict(result.settings),
  }


def _pct(value: Optional[float]) -> str:
  return "-" if value is None else f"{100 * value:.2f}%"


def _shapes(shapes) -> str:
  return ", ".join("x".join(map(str, s)) for s in shapes)


def to_markdown(report: Dict[str, Any]) -> str:
  """The report for people: a summary table, then one row per op."""
  m, ram, plan = report["model"], report["runtime_ram"], report["intermittent"]
  sparse = any(s["format"] != "dense" for s in report.get("storage") or [])
  if report["source_kind"] == "tflite":
    origin = ("already int8; sparse filters re-encoded (reference.tflite: as given)" if sparse
              else "passed through unchanged (already int8)")
  else:
    origin = (f"quantized to int8 with {report['calibration_samples']:,} calibration samples "
              f"of {report['data']}")
    if report.get("sparsecomp"):
      origin = "compressed by SparseComp, then " + origin
  lines = [
      f"# FreeML conversion report: {report['source']}", "",
      "Generated by python -m converter. Every size is counted from the emitted model.tflite.",
      "",
      "| | |", "|---|---|",
      f"| model | {origin} |",
      f"| model file | {m['file_bytes']:,} B |",
      f"| weights (constant buffers) | {m['weight_bytes']:,} B, {m['parameters']:,} parameters |",
      f"| MACs per inference | {m['macs']:,} |",
      f"| input | {_io(m['inputs'])} |",
      f"| output | {_io(m['outputs'])} |",
      f"| FreeML runtime arena | {ram['total_bytes']:,} B (activations "
      f"{ram['activation_bytes']:,} B, op data {ram['persistent_bytes']:,} B) |",
      f"| TFLM arena, same model | {report['tflm_arena_bytes']:,} B |",
      f"| intermittent mode (`freeml_run --nvm`) | SRAM {plan['sram_bytes']:,} B (tile scratch "
      f"{plan['scratch_bytes']:,} B), NVM {plan['nvm_bytes']:,} B; {sum(plan['tiles']):,} tiles "
      f"of at most {plan['max_tile_macs']:,} MACs and {plan['max_tile_bytes']:,} output bytes |",
  ]
  e = report["evaluation"]
  if e:
    lines += [
        f"| accuracy on {e['samples']:,} of {e['test_split']:,} test samples of {report['data']} "
        f"| float {_pct(e['float_accuracy'])}, int8 {_pct(e['int8_accuracy'])} "
        "(int8 run by the FreeML runtime) |",
        f"| outputs byte-identical to TFLM | {e['tflm_identical']:,}/{e['tflm_compared']:,} |"
        if e["tflm_compared"] else "| outputs byte-identical to TFLM | not checked |",
    ]
  lines += [
      "", "## Ops", "",
      "| # | op | Keras layer | input shapes | output shape | params | MACs | weight B | tiles |",
      "|---|---|---|---|---|---|---|---|---|",
  ]
  for layer in report["layers"]:
    i = layer["index"]
    lines.append(f"| {i} | {layer['op']} | {layer['layer']} | "
                 f"{_shapes(layer['input_shapes'])} | {_shapes(layer['output_shapes'])} | "
                 f"{layer['parameters']:,} | {layer['macs']:,} | {layer['weight_bytes']:,} | "
                 f"{plan['tiles'][i]:,} x {plan['tile_units'][i]:,} |")
  lines += [
      "",
      "Weight B: bytes of the constant buffers the op reads (shapes and axes included); the "
      "total counts a buffer read by several ops once. Params: elements of weights and biases. "
      "MACs: multiply-accumulates of CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED; other ops "
      "count 0. Keras layer: recovered from tensor names; '+' joins layers TFLite fused into "
      "one op. Tiles: tiles x work units per tile in intermittent mode (units: output "
      "elements, or rows for SOFTMAX).",
  ]
  if report.get("storage"):
    lines += _storage_markdown(report["storage"])
  if report.get("sparsecomp"):
    lines += _sparsecomp_markdown(report["sparsecomp"])
  if report.get("gnet"):
    lines += _gnet_markdown(report["gnet"])
  if report.get("device"):
    lines += _device_markdown(report["device"], report["layers"])
  return "\n".join(lines) + "\n"


def _storage_markdown(storage: List[Dict[str, Any]]) -> List[str]:
  lines = [
      "", "## Weight storage", "",
      "Each filter in the smallest of dense int8, CSR, delta-index and bitmask "
      "(docs/sparse.md); stored B is the size of the buffer in model.tflite.", "",
      "| op # | op | filter | F x K | non-zeros | density | format | dense B | stored B |",
      "|---|---|---|---|---|---|---|---|---|",
  ]
  for s in storage:
    density = s["nonzeros"] / max(1, s["dense_bytes"])
    lines.append(f"| {s['op_index']} | {s['op']} | {s['tensor']} | {s['filters']} x "
                 f"{s['filter_size']} | {s['nonzeros']:,} | {100 * density:.1f}% | "
                 f"{s['format']} | {s['dense_bytes']:,} | {s['stored_bytes']:,} |")
  return lines


def _search_settings(s: Dict[str, Any]) -> str:
  """One line of the settings a search ran with (search.SearchOptions)."""
  ram = f", RAM {s['ram_bytes']:,} B" if s["ram_bytes"] is not None else ""
  return (f"Settings: target {s['target_bytes']:,} B{ram}, max drop {s['max_drop']:g} points, "
          f"rounds of {s['round_steps']:,} steps (final {s['final_steps']:,}), batch "
          f"{s['batch_size']}, learning rate {s['learning_rate']:g}, density step "
          f"{s['density_step']:g}, separation energy {s['separation_energy']:g}, weight bits "
          f"{s['weight_bits']}, distillation {s['distillation']:g}, "
          f"{'augmented' if s['augment'] else 'no augmentation'}, seed {s['seed']}.")


def _sparsecomp_markdown(c: Dict[str, Any]) -> List[str]:
  dense, final = c["dense_int8"], c["compressed"]
  source = (f", test accuracy {_pct(c['source_test_accuracy'])}"
            if c["source_test_accuracy"] is not None else "")
  lines = [
      "", "## SparseComp", "",
      "| | weights B | file B | validation accuracy |", "|---|---|---|---|",
      f"| source model, float32 | {c['source_float32_bytes']:,} | - | -{source} |",
      f"| dense int8 (BatchNorm folded) | {dense['weight_bytes']:,} | {dense['file_bytes']:,} | "
      f"{_pct(c['validation_accuracy_before'])} (float) |",
      f"| compressed int8 | {final['weight_bytes']:,} | {final['file_bytes']:,} | "
      f"{_pct(c['validation_accuracy_after'])} (float) |",
      "",
      f"{c['x_float32']:.1f}x smaller than float32 ({c['x_float32_file']:.1f}x counting the whole "
      f"file), {c['x_dense_int8']:.1f}x smaller than dense int8. Runtime RAM "
      f"{final['ram_bytes']:,} B. Fragile layers: {', '.join(c['fragile']) or 'none'}. "
      f"BatchNorm folded into: {', '.join(c['folded_batchnorm']) or 'none'}. Separated: "
      f"{', '.join(c['separated']) or 'none'}.", "", _search_settings(c["settings"]), "",
      "| round | step | layer | what | weights B before | after | val acc | kept | s |",
      "|---|---|---|---|---|---|---|---|---|",
  ]
  for r in c["rounds"]:
    lines.append(f"| {r['index']} | {r['kind']} | {r['layer']} | {r['detail']} | "
                 f"{r['bytes_before']:,} | {r['bytes_after']:,} | {_pct(r['accuracy'])} | "
                 f"{'yes' if r['kept'] else 'no'} | {r['seconds']:.0f} |")
  if c["checkpoints"]:
    lines += ["", "Checkpoints (`--checkpoint-kb`, saved in checkpoints/ before the final "
              "retraining):", "", "| KB | after round | weights B | file B | val acc |",
              "|---|---|---|---|---|"]
    for k in c["checkpoints"]:
      m = k["measurement"]
      lines.append(f"| {k['target_bytes'] / 1024:g} | {k['after_round']} | "
                   f"{m['weight_bytes']:,} | {m['file_bytes']:,} | {_pct(k['accuracy'])} |")
  return lines


def _gnet_markdown(g: Dict[str, Any]) -> List[str]:
  t, v = g["test"], g["validation"]
  lines = [
      "", "## gNet exits", "",
      f"One head shared by {len(g['exits'])} exits, features pooled ({g['pooling']}) to "
      f"{g['grid']}x{g['grid']}"
      f"{', through ' + str(g['rank']) + ' hidden units' if g.get('rank') else ''}: "
      f"{g['head_bytes']:,} B of head weights (first layer int{g['weight_bits']}) and bias, "
      f"{g['accumulator_bytes']:,} B of int32 accumulators. Thresholds calibrated for "
      f"--exit-max-drop {g['max_drop']:g} (docs/gnet.md): validation {_pct(v['accuracy'])} vs "
      f"{_pct(v['full_accuracy'])} for the network; on {g['test_samples']} test samples "
      f"{_pct(t['accuracy'])} vs {_pct(t['full_accuracy'])}, with "
      f"{g['mean_macs_fraction']:.0%} of the MACs on average. TFLM on reference.tflite and "
      f"exit_head.tflite: {g['tflm_identical']}/{g['tflm_compared']} samples with every exit "
      "identical.", "",
      "| exit | layer | op | features | MACs to reach | float val acc | int8 test acc | "
      "threshold | answered here |",
      "|---|---|---|---|---|---|---|---|---|",
  ]
  for k, e in enumerate(g["exits"]):
    lines.append(f"| {k} | {e['layer']} | {e['op']} | {e['features']} | "
                 f"{e['macs_fraction']:.0%} | {_pct(e['float_validation_accuracy'])} | "
                 f"{_pct(e['int8_test_accuracy'])} | {e['threshold']} | "
                 f"{t['exit_rates'][k]:.0%} |")
  lines.append(f"| {len(g['exits'])} | the network | - | - | 100% | - | "
               f"{_pct(t['full_accuracy'])} | - | {t['exit_rates'][-1]:.0%} |")
  return lines


def _per_mac(instructions: int, macs: int) -> str:
  return f"{instructions / macs:.2f}" if macs else "-"


def _device_markdown(device: Dict[str, Any], layers) -> list:
  """The section python -m converter.device_profile adds."""
  lines = [
      "", f"## On the Cortex-M4: {device['board']}", "",
      f"Counted by the firmware `{device['elf']}` ({device['kernels']} kernels, "
      f"{device['mode']} mode) on one uninterrupted inference, from SysTick under QEMU "
      "`-icount shift=0` (one instruction per ns; resolution about 6 instructions).", "",
      "| | |", "|---|---|",
      f"| flash | {device['flash_bytes']:,} B (model {device['model_bytes']:,} B) |",
      f"| SRAM | {device['sram_static_bytes']:,} B linked (runtime arena "
      f"{device['arena_bytes']:,} B, stack {device['stack_reserved_bytes']:,} B reserved, "
      f"{device['stack_used_bytes']:,} B used) |",
      f"| NVM | {device['nvm_bytes']:,} B |",
      f"| boot (op preparation, NVM recovery) | {device['boot_instructions']:,} "
      "instructions |",
      *([f"| boot after a power failure (tables from their NVM snapshot) | "
         f"{device['resume_boot_instructions']:,} instructions |"]
        if "resume_boot_instructions" in device else []),
      f"| model image check (once per run) | "
      f"{device.get('model_check_instructions', 0):,} instructions |",
      f"| inference | {device['run_instructions']:,} instructions, {device['macs']:,} MACs, "
      f"{_per_mac(device['run_instructions'], device['macs'])} instructions/MAC |",
  ]
  if device.get("power_failures"):
    pf = device["power_failures"]
    lines.append(f"| through {pf['failures']} power failures | same output; {pf['boots']} "
                 f"boots, {pf['total_instructions']:,} instructions in all (failure intervals "
                 f"up to {pf['max_interval_instructions']:,} instructions) |")
  lines += [
      "", "| # | op | instructions | MACs | instructions/MAC | tiles |",
      "|---|---|---|---|---|---|",
  ]
  for op in device["ops"]:
    name = layers[op["index"]]["op"] if op["index"] < len(layers) else "?"
    lines.append(f"| {op['index']} | {name} | {op['instructions']:,} | {op['macs']:,} | "
                 f"{_per_mac(op['instructions'], op['macs'])} | {op['tiles']:,} |")
  lines += [
      "", "An op's instructions include its tiles' NVM writes and commits; instructions per "
      "MAC are given for the ops that count MACs (see above).",
  ]
  return lines


def _io(tensors) -> str:
  return input_output_summary([TensorInfo(**{**t, "shape": tuple(t["shape"])}) for t in tensors])


def to_json(report: Dict[str, Any]) -> str:
  return json.dumps(report, indent=2) + "\n"
