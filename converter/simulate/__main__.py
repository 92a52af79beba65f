"""python -m converter.simulate: a converted model on a batteryless device,
powered by a harvesting trace, under several exit policies.

  python -m converter.simulate --model out/digits --trace examples/traces/rf-cart-60s.trace
  python -m converter.simulate --model out/kws --trace powercast-mobile \\
      --traces-dir ../shared/traces --capacitor-uf 1000

Writes into --out (default MODEL/simulation): report.md and report.json (per
policy: answers, accuracy, correct answers per minute, latency, energy per
inference, wasted energy, failures, deadline misses, answers per exit) and
voltage.png, exits.png, policies.png. Bad input is one line on stderr and
exit status 2.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import List

from absl import app, flags

from converter import cli
from converter.errors import ConverterError

REPO = Path(__file__).resolve().parents[2]

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "Converter output folder (required): model.tflite and "
                    "report.json (its dataset, and the QEMU profile when `make profile` ran).")
flags.DEFINE_string("trace", str(REPO / "examples" / "traces" / "rf-cart-60s.trace"),
                    "A trace file, a shared recording's name (see --traces-dir), or "
                    "constant:W, square:HIGH:LOW:PERIOD[:DUTY], random:MEAN:STEP (W, s).")
flags.DEFINE_string("traces-dir", str(REPO.parent / "shared" / "traces"),
                    "Folder of the shared recordings (powercast-cart, pv-jogging, ...).")
flags.DEFINE_float("duration", 60.0, "Length of a synthetic trace (s); recordings repeat.")
flags.DEFINE_integer("samples", 20, "Test inputs run one after another, drawn with --seed.")
flags.DEFINE_float("capacitor-uf", 100.0, "Storage capacitor (uF).")
flags.DEFINE_float("v-on", 2.8, "The device turns on at this voltage.")
flags.DEFINE_float("v-off", 2.34, "The device browns out at this voltage.")
flags.DEFINE_float("v-max", 3.6, "The charger stops here.")
flags.DEFINE_float("leakage-ua", 0.0, "Capacitor leakage current (uA).")
flags.DEFINE_string("mcu", "msp430fr5994-8mhz", "MCU preset (msp430fr5994-8mhz, "
                    "msp430fr5994-16mhz, stm32l4-80mhz) or custom:UA_PER_MHZ:MHZ[:V[:CPI]].")
flags.DEFINE_float("efficiency", 0.8, "Converter (charger) efficiency.")
flags.DEFINE_float("period", 1.0, "An input arrives every this many seconds (0: all at once, "
                   "run back to back).")
flags.DEFINE_float("deadline", 2.0, "An answer later than this many seconds after its input "
                   "arrived is a miss.")
flags.DEFINE_list("policies", [], "Policies (default: full, freeml, confidence, exit-0; a "
                  "model without exits: full).")
flags.DEFINE_integer("seed", 0, "Seed of the input draw and of random traces.")
flags.DEFINE_string("out", None, "Output folder (default: MODEL/simulation).")


def run() -> Path:
  from converter.atomic_io import write_all
  from converter.gnet import graph
  from converter.simulate import energy, policies, report, traces

  model_dir = Path(FLAGS.model)
  if not (model_dir / "model.tflite").exists():
    raise ConverterError(f"--model {model_dir}: no model.tflite (a converter output folder)")
  model = (model_dir / "model.tflite").read_bytes()
  result = json.loads((model_dir / "report.json").read_text())
  if not result.get("data"):
    raise ConverterError(f"--model {model_dir}: converted without --data; the simulation "
                         "needs the dataset's test inputs")
  if FLAGS.samples < 1:
    raise ConverterError(f"--samples must be >= 1, got {FLAGS.samples}")
  trace = traces.load(FLAGS.trace, Path(FLAGS["traces-dir"].value), FLAGS.duration, FLAGS.seed)
  capacitor = energy.Capacitor(FLAGS["capacitor-uf"].value * 1e-6, FLAGS["v-on"].value,
                               FLAGS["v-off"].value, FLAGS["v-max"].value,
                               FLAGS["leakage-ua"].value * 1e-6)
  mcu = energy.mcu(FLAGS.mcu)
  plan = graph.read_plan(model)
  exits = 0 if plan is None else len(plan.thresholds)
  names = FLAGS.policies or (["full", "freeml", "confidence", "exit-0"] if exits else ["full"])
  for name in names:  # refuse a bad name before the first long run
    policies.policy(name, [0] * exits)
  x, y, _ = policies.draw_inputs(model, result["data"], FLAGS.samples, FLAGS.seed)
  setting = policies.Setting(trace, capacitor, mcu, FLAGS.efficiency, FLAGS.period,
                             FLAGS.deadline)
  sims, summaries, notes = policies.compare(
      model, result, names, x, y, setting,
      progress=lambda line: print(f"[simulate] {line}", flush=True))
  setup = {
      "model": str(model_dir / "model.tflite"), "trace": f"{trace.name}, "
      f"{trace.duration_s:.1f} s, mean {1e3 * trace.mean_power_w():.3f} mW",
      "capacitor": f"{FLAGS['capacitor-uf'].value:g} uF, on {capacitor.v_on} V, off "
      f"{capacitor.v_off} V, max {capacitor.v_max} V, leakage {FLAGS['leakage-ua'].value:g} uA",
      "MCU": f"{mcu.name}: {1e3 * mcu.power_w:.2f} mW active", "converter efficiency":
      f"{FLAGS.efficiency:g}", **notes,
      "inputs": f"{FLAGS.samples} from {result['data']}'s test split (seed {FLAGS.seed}), "
      f"one every {FLAGS.period:g} s",
      "deadline": f"{FLAGS.deadline:g} s"}
  accuracy = policies.exit_accuracy(sims, exits)
  shown = "freeml" if "freeml" in sims else names[0]
  plots = {"voltage.png": report.voltage_plot(sims[shown], shown, capacitor.v_on,
                                              capacitor.v_off, exits),
           "exits.png": report.exit_accuracy_plot(accuracy),
           "policies.png": report.policies_plot(summaries)}
  out = Path(FLAGS.out) if FLAGS.out else model_dir / "simulation"
  write_all(out, {
      "report.md": report.markdown(setup, summaries, accuracy, list(plots)),
      "report.json": json.dumps({"setup": setup, "policies": [dataclasses.asdict(s)
                                                            for s in summaries],
                                 "exit_accuracy": accuracy}, indent=1),
      **plots})
  return out


def main(argv: List[str]) -> int:
  if len(argv) > 1:
    cli.fail("simulate", f"unexpected arguments: {' '.join(argv[1:])}")
  if not FLAGS.model:
    cli.fail("simulate", "--model DIR required: python -m converter.simulate --model DIR "
             "[--trace NAME|PATH] (see --help)")
  try:
    out = run()
  except ConverterError as e:
    cli.fail("simulate", " ".join(str(e).split()))
  print(f"wrote {out}/: report.md, report.json, voltage.png, exits.png, policies.png")
  return 0


if __name__ == "__main__":
  app.run(main, flags_parser=cli.flags_parser("simulate"))
