"""The simulation's report.md and its PNG plots (matplotlib, no display)."""

from __future__ import annotations

import io
import math
from typing import Dict, List, Sequence

from converter.simulate.cosim import Simulation
from converter.simulate.policies import Summary


def _pyplot():
  """pyplot on the Agg backend: files only, no display needed."""
  import matplotlib
  matplotlib.use("Agg")
  from matplotlib import pyplot
  return pyplot


def _png(figure) -> bytes:
  """The figure as PNG bytes; the figure is closed."""
  buffer = io.BytesIO()
  figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
  _pyplot().close(figure)
  return buffer.getvalue()


def voltage_plot(sim: Simulation, name: str, v_on: float, v_off: float,
                 exits: int) -> bytes:
  """Capacitor voltage over time, with power failures and answers (by exit)
  marked."""
  figure, axes = _pyplot().subplots(figsize=(10, 3.6))
  t, v = zip(*sim.voltage, strict=True)
  axes.plot(t, v, lw=0.7, color="tab:blue", label="capacitor")
  axes.axhline(v_on, color="grey", ls="--", lw=0.6)
  axes.axhline(v_off, color="grey", ls=":", lw=0.6)
  if sim.failures_s:
    axes.plot(sim.failures_s, [v_off] * len(sim.failures_s), "x", color="tab:red", ms=4,
              label="power failure")
  colors = _pyplot().get_cmap("viridis")
  for k in range(exits + 1):
    at = [r.arrived_s + r.latency_s for r in sim.inferences if r.exit == k]
    if at:
      axes.plot(at, [v_on] * len(at), "o", ms=4, color=colors(k / max(exits, 1)),
                label="answer, network" if k == exits else f"answer, exit {k}")
  axes.set_xlabel("time (s)")
  axes.set_ylabel("V")
  axes.set_title(f"{name}: capacitor voltage, failures and answers")
  axes.legend(loc="upper right", fontsize=7, ncol=3)
  return _png(figure)


def exit_accuracy_plot(accuracy: Sequence[float]) -> bytes:
  figure, axes = _pyplot().subplots(figsize=(5, 3))
  labels = [f"exit {k}" for k in range(len(accuracy) - 1)] + ["network"]
  axes.bar(labels, [0 if math.isnan(a) else 100 * a for a in accuracy], color="tab:green")
  axes.set_ylabel("accuracy of its answers (%)")
  axes.set_ylim(0, 100)
  return _png(figure)


def policies_plot(summaries: Sequence[Summary]) -> bytes:
  figure, (left, right) = _pyplot().subplots(1, 2, figsize=(9, 3))
  names = [s.policy for s in summaries]
  left.bar(names, [0 if math.isnan(s.accuracy) else 100 * s.accuracy for s in summaries])
  left.set_ylabel("accuracy of answers (%)")
  left.set_ylim(0, 100)
  right.bar(names, [s.correct_per_minute for s in summaries], color="tab:orange")
  right.set_ylabel("correct answers per minute")
  for axes in (left, right):
    axes.tick_params(axis="x", labelrotation=30)
  return _png(figure)


def _number(value: float, digits: int = 2) -> str:
  return "-" if isinstance(value, float) and math.isnan(value) else f"{value:,.{digits}f}"


def markdown(setup: Dict[str, str], summaries: Sequence[Summary], accuracy: List[float],
             plots: Sequence[str]) -> str:
  lines = ["# Energy-harvesting simulation", ""]
  lines += [f"- {key}: {value}" for key, value in setup.items()]
  lines += ["", "| policy | answers | accuracy | correct/min | mean latency (s) | "
            "mJ/inference | wasted mJ | failures | deadline misses | answers per exit |",
            "|---|---|---|---|---|---|---|---|---|---|"]
  for s in summaries:
    lines.append(
        f"| {s.policy} | {s.answers} | {_number(100 * s.accuracy, 1)}% | "
        f"{_number(s.correct_per_minute)} | {_number(s.mean_latency_s, 3)} | "
        f"{_number(s.energy_per_inference_mj, 3)} | {_number(s.wasted_mj, 3)} | {s.failures} | "
        f"{s.deadline_misses} | {', '.join(map(str, s.answers_per_exit))} |")
  stalled = [s for s in summaries if s.stalled]
  if stalled:
    lines += [""] + [f"- {s.policy} stopped early: {s.stalled}" for s in stalled]
  checked = [s for s in summaries if s.changed_by_failures >= 0]
  if checked:
    changed = sum(s.changed_by_failures for s in checked)
    lines += ["", f"Answers unlike an uninterrupted run's at the same exit: {changed} of "
              f"{sum(s.answers for s in checked)} (power failures change no answer)."
              if changed == 0 else f"Answers unlike an uninterrupted run's at the same exit: "
              f"{changed} of {sum(s.answers for s in checked)}: power failures changed answers."]
  lines += ["", "Accuracy of the answers each exit gave (all policies): " +
            ", ".join(f"{'network' if k == len(accuracy) - 1 else f'exit {k}'} "
                      f"{_number(100 * a, 1)}%" for k, a in enumerate(accuracy)), ""]
  lines += [f"![{name}]({name})" for name in plots]
  return "\n".join(lines) + "\n"
