"""Per-exit confidence thresholds for a user's accuracy target.

Confidence is the margin between the two largest int8 logits of an exit:
integer, as the device computes it, and free of the softmax. An exit whose
margin reaches its threshold answers at once ("cascade"); otherwise the
inference goes on, to the network's own output at the end.

Calibration (validation split): exits are taken in order, and each gets the
lowest threshold at which the whole cascade still loses at most `max_drop`
points, a loss being a sample the network gets right and the cascade
wrong. The loss rate counted is not the one seen on validation but its 95%
upper confidence bound (Wilson score): thresholds chosen on a few hundred
samples would otherwise fit their luck and lose more on new data. Samples
the cascade gets right and the network wrong are not credited, for the
same reason. Early exits are the cheap ones, so they are served first. The
result is checked on the test split by the caller and reported, never
tuned on it.

Example:
  thresholds = calibrate(exit_logits, final_predictions, y_val, max_drop=1.0)
  predictions, taken = cascade(exit_logits, final_predictions, thresholds)
"""

from __future__ import annotations

import dataclasses
from typing import List, Optional, Sequence, Tuple

import numpy as np

NEVER = 256  # no int8 margin reaches it
_Z95 = 1.6449  # one-sided 95% normal quantile


def loss_bound(losses: int, samples: int) -> float:
  """95% upper confidence bound of a rate seen as losses / samples (Wilson
  score interval)."""
  if samples == 0:
    return 1.0
  p, z2 = losses / samples, _Z95 * _Z95
  centre = p + z2 / (2 * samples)
  spread = _Z95 * np.sqrt(p * (1 - p) / samples + z2 / (4 * samples * samples))
  return float((centre + spread) / (1 + z2 / samples))


def margins(exit_logits: np.ndarray) -> np.ndarray:
  """(N, exits) top-1 minus top-2 int8 logit of every exit."""
  top = np.sort(exit_logits.astype(np.int32), axis=-1)
  return top[..., -1] - top[..., -2] if exit_logits.shape[-1] > 1 else \
      np.full(exit_logits.shape[:-1], 255)


def cascade(exit_logits: np.ndarray, final_predictions: np.ndarray,
            thresholds: Sequence[int]) -> Tuple[np.ndarray, np.ndarray]:
  """The cascade's answers and the exit each sample took (exits = the network's
  own output).

  Args:
    exit_logits: (N, exits, classes) int8 logits of every exit.
    final_predictions: (N,) the network's own answers.
    thresholds: one margin per exit.
  """
  n, exits = exit_logits.shape[:2]
  confident = margins(exit_logits) >= np.asarray(thresholds)[None, :]
  taken = np.where(confident.any(1), np.argmax(confident, 1), exits)
  exit_answers = np.argmax(exit_logits, -1)
  answers = np.where(taken < exits, exit_answers[np.arange(n), np.minimum(taken, exits - 1)],
                     final_predictions)
  return answers, taken


def stop_accuracy(exit_logits: np.ndarray, final_predictions: np.ndarray, y: np.ndarray,
                  thresholds: Sequence[int]) -> List[List[Optional[float]]]:
  """What answering later is worth, for an energy-aware exit policy: row k
  holds, for the samples that reach exit k without a confident answer at
  exits 0..k, the accuracy of answering at exit j = k, k+1, .. (the last:
  the network's end), confident exits between k and j still answering.
  None where no sample reaches exit k unconfident."""
  exits = exit_logits.shape[1]
  confident = margins(exit_logits) >= np.asarray(thresholds)[None, :]
  table: List[List[Optional[float]]] = []
  for k in range(exits):
    reach = ~confident[:, :k + 1].any(1)
    row: List[Optional[float]] = []
    for j in range(k, exits + 1):
      if not reach.any():
        row.append(None)
        continue
      forced = [NEVER] * exits
      forced[k + 1:j] = thresholds[k + 1:j]
      if j < exits:
        forced[j] = 0
      answers, _ = cascade(exit_logits[reach], final_predictions[reach], forced)
      row.append(float(np.mean(answers == y[reach])))
    table.append(row)
  return table


@dataclasses.dataclass(frozen=True)
class CascadeResult:
  """How a cascade did on one split: accuracy, the network's own accuracy,
  the fraction of samples answered by each exit (the last: the network),
  and stop_accuracy's table."""
  accuracy: float
  full_accuracy: float
  exit_rates: Tuple[float, ...]
  stop_accuracy: Tuple[Tuple[Optional[float], ...], ...] = ()


def measure(exit_logits: np.ndarray, final_predictions: np.ndarray, y: np.ndarray,
            thresholds: Sequence[int]) -> CascadeResult:
  answers, taken = cascade(exit_logits, final_predictions, thresholds)
  exits = exit_logits.shape[1]
  rates = np.bincount(taken, minlength=exits + 1) / max(len(y), 1)
  return CascadeResult(accuracy=float(np.mean(answers == y)),
                       full_accuracy=float(np.mean(final_predictions == y)),
                       exit_rates=tuple(float(r) for r in rates),
                       stop_accuracy=tuple(map(tuple, stop_accuracy(
                           exit_logits, final_predictions, y, thresholds))))


def calibrate(exit_logits: np.ndarray, final_predictions: np.ndarray, y: np.ndarray,
              max_drop: float) -> List[int]:
  """The lowest thresholds, exit by exit, at which the cascade loses at most
  `max_drop` accuracy points against the network's own answers on
  (exit_logits, y), counted as loss_bound. Exits that never qualify get
  NEVER."""
  exits = exit_logits.shape[1]
  network_right = final_predictions == y
  thresholds = [NEVER] * exits
  for k in range(exits):
    for candidate in range(0, NEVER):
      trial = thresholds[:k] + [candidate] + thresholds[k + 1:]
      answers, _ = cascade(exit_logits, final_predictions, trial)
      losses = int(np.sum(network_right & (answers != y)))
      if loss_bound(losses, len(y)) <= max_drop / 100.0:
        thresholds[k] = candidate
        break
  return thresholds
