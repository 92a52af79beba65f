"""Baseline: what TFLM + tfmot achieve with TFLM's own LUT compression.

For a float Keras model and a dataset, at 2 and 4 bits (and dense int8, bits
8, for comparison): weight clustering with tensorflow-model-optimization
(2^bits clusters per Conv2D and Dense kernel; per output channel for Conv2D
where tfmot offers it, per kernel for Dense), a short fine-tuning on the train
split, strip_clustering, full-int8 conversion (converter.quantize), then
`tflite_micro.compression` LUT on every weight tensor it makes smaller, and
the compressed model run on the TFLM interpreter (its DECODE ops expand the
weights into the arena). Measured: file bytes, constant-buffer bytes, TFLM
test accuracy, TFLM arena bytes. See ../shared/notes/baselines-tflm-tfmot.md.

Choices this makes, and why:
- LUT mode follows each tensor's int8 quantization (a mismatch decodes
  garbage): one table per channel along the quantized dimension where the
  tensor has per-channel scales, else one table. With TensorFlow 2.21 the
  Dense (FULLY_CONNECTED) weights are per-channel too (axis 0), so every
  weight tensor gets per-channel tables; per-tensor clusters stay at most
  2^bits distinct int8 values per channel after per-channel scaling, so
  per-tensor clustering of Dense is still exact.
- tfmot does not cluster DepthwiseConv2D kernels (its registry lists none),
  so they are k-means clustered per channel here (2^bits values) and frozen
  during fine-tuning.
- A tensor whose indices, value tables and DECODE op would not be smaller
  than its int8 bytes is left dense (small depthwise kernels: 9 weights per
  channel with a table per channel; small first and shortcut convolutions),
  as a careful user would.
- Op codes kept only in deprecated_builtin_code are copied into
  builtin_code before compressing (the compressor otherwise rewrites every op
  of an older file into SOFTMAX).
- The pinned compressor leaves the original quantization parameters on each
  encoded (uint8) tensor, a dead copy of 768 B per 64-channel tensor; they
  are removed (TFLM's outputs unchanged), so the baseline is not handicapped
  by a library bug. The compressor's own size is printed on stderr too.
- The dense control (bits 8) gets the same fine-tuning, so that clustering
  is compared against fine-tuning alone.

  .venv/bin/python bench/tflm_lut.py --model ../shared/models/ic_resnet8.h5 --data cifar10 \\
      [--bits 8,4,2] [--finetune-steps 1000] [--max-eval 2000]

Example (from the main benchmark):
  result = lut_baseline(model, data, bits=4, finetune_steps=1000, seed=0, max_eval=2000)
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

from absl import app, flags

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from bench.cifar_s_net import accuracy  # noqa: E402
from bench.common import REPO, SHARED, print_table  # noqa: E402
from converter import datasets, ops, tflite_graph, tflm_oracle  # noqa: E402
from converter.atomic_io import write_atomic  # noqa: E402
from converter.augment import augments, training_batches  # noqa: E402
from converter.errors import ConverterError  # noqa: E402
from converter.evaluate import quantize_input  # noqa: E402
from converter.model_loading import LoadedModel, load_model, save_h5  # noqa: E402
from converter.quantize import quantize_int8  # noqa: E402
from converter.sparsecomp import prune  # noqa: E402

FLAGS = flags.FLAGS
DENSE_BITS = 8
WEIGHT_OPS = frozenset({"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"})
CALIBRATION_SAMPLES = 500
DECODE_OP = "TFLM_DECODE"
_DCM_BYTES = 16  # DECODE's common metadata ahead of the value tables
# What one DECODE adds to the file besides indices and tables: the op, two
# tensors with their names, a buffer, alignment (230-350 B measured on the
# shared KWS model).
_DECODE_OVERHEAD_BYTES = 300
_KMEANS_ITERATIONS = 30


@dataclasses.dataclass(frozen=True)
class LutResult:
  """bits: LUT index width, or 8 for the dense int8 control.
  file_bytes: the .tflite file. weight_bytes: its constant buffers (LUT
  indices and value tables included). test_accuracy: 0..1 on TFLM.
  arena_bytes: TFLM's arena, DECODE outputs included."""
  bits: int
  file_bytes: int
  weight_bytes: int
  test_accuracy: float
  arena_bytes: int


def _check_bits(bits: int) -> None:
  if bits != DENSE_BITS and not 1 <= bits <= 7:
    raise ValueError(f"bits must be 1-7 (LUT index width) or 8 (dense int8), got {bits}")


def _copy(keras_model):
  """An independent copy (clone, weights copied): the caller's model is never
  trained."""
  import tf_keras
  copy = tf_keras.models.clone_model(keras_model)
  copy.set_weights(keras_model.get_weights())
  return copy


def kmeans_1d(values: np.ndarray, k: int) -> np.ndarray:
  """`values` snapped to at most `k` centroids (Lloyd's algorithm started
  from evenly spaced quantiles; deterministic)."""
  if len(np.unique(values)) <= k:
    return values.copy()
  centroids = np.quantile(values, (np.arange(k) + 0.5) / k)
  for _ in range(_KMEANS_ITERATIONS):
    assign = np.argmin(np.abs(values[:, None] - centroids[None, :]), axis=1)
    for j in range(k):
      members = values[assign == j]
      if len(members):
        centroids[j] = members.mean()
  assign = np.argmin(np.abs(values[:, None] - centroids[None, :]), axis=1)
  return centroids[assign].astype(values.dtype)


def _cluster_depthwise(layer, clusters: int) -> None:
  """Clusters each output channel of a DepthwiseConv2D kernel in place and
  freezes the layer (tfmot cannot cluster it); nothing to do when a channel
  has no more weights than clusters."""
  kernel, *rest = layer.get_weights()
  if kernel.shape[0] * kernel.shape[1] <= clusters:
    return
  columns = kernel.reshape(-1, kernel.shape[2] * kernel.shape[3])  # (kh*kw, channels)
  clustered = np.stack([kmeans_1d(c, clusters) for c in columns.T], axis=1)
  layer.set_weights([clustered.reshape(kernel.shape), *rest])
  layer.trainable = False


def clustered_model(keras_model, bits: int, per_channel: bool = True):
  """A copy of `keras_model` with 2^bits clusters per Conv2D and Dense kernel
  (tfmot wrappers; Conv2D per output channel when `per_channel`) and
  depthwise kernels clustered per channel and frozen."""
  import tensorflow_model_optimization as tfmot
  import tf_keras
  clustering = tfmot.clustering.keras
  clusters = 2 ** bits
  copy = _copy(keras_model)

  def wrap(layer):
    kind = type(layer).__name__
    if kind == "DepthwiseConv2D":
      _cluster_depthwise(layer, clusters)
    elif kind in ("Conv2D", "Dense"):
      return clustering.cluster_weights(
          layer, number_of_clusters=clusters,
          cluster_centroids_init=clustering.CentroidInitialization.KMEANS_PLUS_PLUS,
          cluster_per_channel=per_channel and kind == "Conv2D")
    return layer

  return tf_keras.models.clone_model(copy, clone_function=wrap)


def _softmax_output(model, x: np.ndarray) -> bool:
  probe = np.asarray(model(x[:8], training=False))
  return bool(np.all(probe >= 0) and np.allclose(probe.sum(axis=-1), 1.0, atol=1e-3))


def _distilled_loss(classes: int, probabilities: bool, weight: float):
  """SparseComp's retraining loss with distillation (prune.py) for Keras'
  fit: the target holds the one-hot label, then the teacher's logits."""
  import tensorflow as tf

  def loss(target, outputs):
    logits = prune.as_logits(outputs, probabilities)
    hard = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(target[:, :classes], logits))
    return (1 - weight) * hard + weight * prune.distillation_loss(logits, target[:, classes:])
  return loss


def finetune(model, data: datasets.Dataset, steps: int, seed: int, batch_size: int = 128,
             learning_rate: float = 3e-4, teacher=None, distillation: float = 0.0) -> None:
  """`steps` Adam steps (cosine decay) on data.training(), in place; images
  (N, H, W, 3) are flipped and cropped as for the S network. With
  `distillation` > 0 the loss mixes in `teacher`'s softened outputs as
  SparseComp's --distillation does, so both are compared on equal terms."""
  import tf_keras
  if steps <= 0:
    return
  x, y = data.training()
  probabilities = _softmax_output(model, x)
  batches = training_batches(x, y, min(batch_size, len(x)), seed, augments(x))
  if distillation > 0:
    classes = int(model.output_shape[-1])

    def with_teacher(stream):
      for xb, yb in stream:
        t = np.asarray(prune.as_logits(teacher(xb, training=False), probabilities))
        yield xb, np.concatenate([np.eye(classes, dtype=np.float32)[yb], t], axis=1)
    batches = with_teacher(batches)
    loss = _distilled_loss(classes, probabilities, distillation)
  else:
    loss = tf_keras.losses.SparseCategoricalCrossentropy(from_logits=not probabilities)
  model.compile(
      tf_keras.optimizers.Adam(tf_keras.optimizers.schedules.CosineDecay(learning_rate, steps)),
      loss)
  every = max(1, steps // 5)

  class Progress(tf_keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
      if (batch + 1) % every == 0 or batch + 1 == steps:
        print(f"  step {batch + 1}/{steps}: loss {logs['loss']:.4f}", file=sys.stderr,
              flush=True)

  model.fit(batches, steps_per_epoch=steps, epochs=1, verbose=0, callbacks=[Progress()])


def with_builtin_codes(model: bytes) -> bytes:
  """`model` with every op code in builtin_code too (older converters fill
  only deprecated_builtin_code; the compressor reads builtin_code)."""
  root = tflite_graph.parse(model)
  if all(int(c.builtinCode) == ops.builtin_code(c) for c in root.operatorCodes):
    return model
  from converter.tflite_writer import pack
  for code in root.operatorCodes:
    code.builtinCode = ops.builtin_code(code)
    code.deprecatedBuiltinCode = min(code.builtinCode, 127)
  return pack(root)


def _lut_bytes(tables: List[np.ndarray], size: int, bits: int) -> int:
  """Bytes LUT stores for a tensor: packed indices, DCM, padded value tables."""
  return math.ceil(size * bits / 8) + _DCM_BYTES + len(tables) * max(len(t) for t in tables)


def lut_specs(model: bytes, bits: int) -> List[object]:
  """The compression spec: every int8 weight tensor (filter of CONV_2D,
  DEPTHWISE_CONV_2D, FULLY_CONNECTED) that LUT makes smaller, in the mode of
  its quantization (per channel along its quantized dimension, or per tensor).

  Raises:
    ValueError: a weight tensor has more distinct values per table than
      2^bits (not clustered).
  """
  from tflite_micro import compression
  from tflite_micro.tensorflow.lite.micro.compression import spec
  root = tflite_graph.parse(model)
  graph = root.subgraphs[0]
  builder = compression.SpecBuilder()
  chosen = set()
  for op in graph.operators:
    if ops.op_name(ops.builtin_code(root.operatorCodes[op.opcodeIndex])) not in WEIGHT_OPS:
      continue
    index = int(op.inputs[1])
    tensor = graph.tensors[index]
    data = root.buffers[tensor.buffer].data
    if index in chosen or data is None or len(data) == 0:
      continue
    values = np.frombuffer(bytes(data), np.int8).reshape(tuple(tensor.shape))
    quant = tensor.quantization
    per_channel = quant is not None and quant.scale is not None and len(quant.scale) > 1
    axis = int(quant.quantizedDimension) if per_channel else None
    tables = ([np.unique(s) for s in np.moveaxis(values, axis, 0)] if per_channel
              else [np.unique(values)])
    widest = max(len(t) for t in tables)
    if widest > 2 ** bits:
      raise ValueError(f"weight tensor {index} ({tflite_graph.tensor_name(tensor)}) has "
                       f"{widest} distinct values in one table, more than 2^{bits}: cluster it")
    if _lut_bytes(tables, values.size, bits) + _DECODE_OVERHEAD_BYTES >= values.size:
      continue  # LUT would grow the file
    chosen.add(index)
    mode = spec.PerChannel(axis=axis) if per_channel else spec.PerTensor()
    builder.add_tensor(subgraph=0, tensor=index).with_lut(index_bitwidth=bits, mode=mode)
  return builder.build()


def without_encoded_quantization(model: bytes) -> bytes:
  """`model` with the quantization of DECODE's encoded inputs removed.

  The pinned compressor means to drop it (the tensor becomes uint8 indices)
  but its writer keeps the original parameters, so each compressed
  per-channel tensor carries a dead copy of its scales and zero points
  (768 B for 64 channels). Removing it leaves what TFLM computes unchanged.
  """
  from converter.tflite_writer import pack
  root = tflite_graph.parse(model)
  graph = root.subgraphs[0]
  for op in graph.operators:
    code = root.operatorCodes[op.opcodeIndex]
    if ops.op_name(ops.builtin_code(code), code.customCode) == f"CUSTOM({DECODE_OP})":
      graph.tensors[int(op.inputs[0])].quantization = None
  return pack(root)


def lut_compress(model: bytes, bits: int) -> bytes:
  """The int8 `model` with its weight tensors LUT-compressed (see lut_specs)."""
  from tflite_micro import compression
  model = with_builtin_codes(model)
  specs = lut_specs(model, bits)
  if not specs:
    return model
  compressed = bytes(compression.compress(model, specs))
  fixed = without_encoded_quantization(compressed)
  print(f"  LUT on {len(specs)} weight tensors: {len(compressed):,} B from the compressor, "
        f"{len(fixed):,} B without its dead quantization copies", file=sys.stderr, flush=True)
  return fixed


def tflm_accuracy(model: bytes, x: np.ndarray, y: np.ndarray) -> float:
  """Top-1 accuracy (0..1) of `model` (int8 input) run by the TFLM interpreter."""
  interpreter = tflm_oracle.make_interpreter(model)
  quant = interpreter.get_input_details(0)["quantization_parameters"]
  x_in = quantize_input(x, float(quant["scales"][0]), int(quant["zero_points"][0]))
  correct = 0
  every = max(100, -(-len(x) // 5))
  for i in range(len(x)):
    (out,) = tflm_oracle.invoke_on(interpreter, [x_in[i:i + 1]], 1)
    correct += int(np.argmax(out) == y[i])
    if (i + 1) % every == 0 or i + 1 == len(x):
      print(f"  TFLM {i + 1}/{len(x)}", file=sys.stderr, flush=True)
  return correct / max(len(x), 1)


def finetuned_model(keras_model, dataset: datasets.Dataset, bits: int, finetune_steps: int,
                    seed: int, batch_size: int = 128, learning_rate: float = 3e-4,
                    distillation: float = 0.0):
  """The float model a TFLM + tfmot user quantizes at `bits`: clustered
  (bits < 8) or dense, fine-tuned (learning from `keras_model` with
  `distillation` > 0), stripped of its clustering wrappers."""
  import tensorflow_model_optimization as tfmot
  import tf_keras
  _check_bits(bits)
  tf_keras.utils.set_random_seed(seed)
  dense = bits == DENSE_BITS
  model = _copy(keras_model) if dense else clustered_model(keras_model, bits)
  finetune(model, dataset, finetune_steps, seed, batch_size, learning_rate, keras_model,
           distillation)
  if not dense:
    model = tfmot.clustering.keras.strip_clustering(model)
  print(f"  float val acc {100 * accuracy(model, dataset.x_validation, dataset.y_validation):.2f}%",
        file=sys.stderr, flush=True)
  return model


def deployed_model(model, dataset: datasets.Dataset, bits: int,
                   calibration_samples: int = CALIBRATION_SAMPLES) -> bytes:
  """The .tflite of a finetuned_model(): int8, LUT-compressed below 8 bits."""
  loaded = LoadedModel("keras", Path(f"{model.name}.h5"), keras_model=model)
  int8 = quantize_int8(loaded, dataset.x_calibration[:calibration_samples])
  return int8 if bits == DENSE_BITS else lut_compress(int8, bits)


def measure(model: bytes, dataset: datasets.Dataset, bits: int, max_eval: int) -> LutResult:
  """Bytes, TFLM arena and TFLM accuracy on the first `max_eval` test samples
  (-1: all)."""
  n = len(dataset.x_test) if max_eval < 0 else min(max_eval, len(dataset.x_test))
  return LutResult(
      bits=bits, file_bytes=len(model), weight_bytes=tflite_graph.read_graph(model).weight_bytes,
      test_accuracy=tflm_accuracy(model, dataset.x_test[:n], dataset.y_test[:n]),
      arena_bytes=tflm_oracle.arena_bytes(model))


def lut_baseline(keras_model, dataset: datasets.Dataset, bits: int, finetune_steps: int,
                 seed: int, max_eval: int, distillation: float = 0.0) -> LutResult:
  """What TFLM + tfmot achieve on `keras_model` at `bits` (2^bits clusters and
  LUT; 8: dense int8, fine-tuned alike). `keras_model` is left unchanged.

  Args:
    keras_model: a float tf_keras model.
    dataset: converter.datasets.Dataset; trains on dataset.training() (load
      it with training=True for CIFAR-10's train split, else calibration is
      all there is), calibrates on x_calibration, measures on the first
      `max_eval` of x_test (-1: all).
    bits: 1-7 for LUT, 8 for the dense control.
    finetune_steps: steps of fine-tuning after clustering (0: none).
    distillation: weight of keras_model's softened outputs in that loss.

  Raises:
    ValueError: bits out of range.
  """
  model = finetuned_model(keras_model, dataset, bits, finetune_steps, seed,
                          distillation=distillation)
  return measure(deployed_model(model, dataset, bits), dataset, bits, max_eval)


def _row(result: LutResult, float_bytes: int, samples: int, seconds: float) -> Dict[str, object]:
  return {
      "bits": "int8 dense" if result.bits == DENSE_BITS else f"LUT {result.bits}",
      "file B": f"{result.file_bytes:,}",
      "x f32": f"{float_bytes / result.file_bytes:.2f}",
      "constant B": f"{result.weight_bytes:,}",
      "TFLM acc": f"{100 * result.test_accuracy:.2f}% ({samples})",
      "TFLM arena B": f"{result.arena_bytes:,}",
      "s": f"{seconds:.0f}",
  }


def _define_flags() -> None:
  """The command's flags, defined only when it runs: bench/sparsecomp.py
  imports this module and defines flags of the same names."""
  flags.DEFINE_string("model", str(SHARED / "models" / "ic_resnet8.h5"), "Float Keras model (.h5).")
  flags.DEFINE_string("data", "cifar10", "Dataset name (converter.datasets) or .npz.")
  flags.DEFINE_list("bits", ["8", "4", "2"], "LUT index widths (1-7); 8 is dense int8, no LUT.")
  flags.DEFINE_integer("finetune-steps", 1000, "Fine-tuning steps (Adam, cosine) per model.")
  flags.DEFINE_integer("batch-size", 128, "Fine-tuning batch size.")
  flags.DEFINE_float("learning-rate", 3e-4, "Fine-tuning initial learning rate.")
  flags.DEFINE_float("distillation", 0.0,
                     "Weight of the model's own softened outputs in the fine-tuning loss, as "
                     "python -m converter --distillation (0: labels only).")
  flags.DEFINE_integer("seed", 0, "Seed of cluster initialization, batch order and augmentation.")
  flags.DEFINE_integer("max-eval", -1, "Test samples run on TFLM (-1: the whole test split).")
  flags.DEFINE_string("out-dir", str(REPO / "out" / "bench" / "lut"),
                      "Folder for the .tflite files measured (<model>_<bits>bit.tflite) and, "
                      "with bits 8, the fine-tuned float model (<model>_finetuned.h5).")


def main(argv: List[str]) -> None:
  del argv
  try:
    bits_list = [int(b) for b in FLAGS.bits]
    for bits in bits_list:
      _check_bits(bits)
  except ValueError as e:
    raise app.UsageError(f"--bits: {e}") from e
  os.environ.setdefault(datasets.DATA_DIR_VARIABLE, str(SHARED / "datasets"))
  try:
    loaded = load_model(Path(FLAGS.model))
  except ConverterError as e:
    raise app.UsageError(str(e)) from e
  if loaded.keras_model is None:
    raise app.UsageError(f"--model {FLAGS.model}: a float Keras model is needed")
  keras_model = loaded.keras_model
  data = datasets.load(FLAGS.data, training=FLAGS["finetune-steps"].value > 0)
  print(data.describe(), file=sys.stderr)
  float_bytes = 4 * keras_model.count_params()
  steps, max_eval = FLAGS["finetune-steps"].value, FLAGS["max-eval"].value
  samples = len(data.x_test) if max_eval < 0 else min(max_eval, len(data.x_test))
  out_dir: Optional[Path] = Path(FLAGS["out-dir"].value) if FLAGS["out-dir"].value else None
  name = Path(FLAGS.model).stem
  rows = []
  for bits in bits_list:
    print(f"{name}, bits {bits}: {steps} fine-tuning steps", file=sys.stderr, flush=True)
    start = time.perf_counter()
    float_model = finetuned_model(keras_model, data, bits, steps, FLAGS.seed,
                                  FLAGS["batch-size"].value, FLAGS["learning-rate"].value,
                                  FLAGS.distillation)
    model = deployed_model(float_model, data, bits)
    if out_dir is not None:
      out_dir.mkdir(parents=True, exist_ok=True)
      write_atomic(out_dir / f"{name}_{bits}bit.tflite", model)
      if bits == DENSE_BITS:  # the adapted start a pruning search can be compared from
        save_h5(float_model, out_dir / f"{name}_finetuned.h5")
    result = measure(model, data, bits, max_eval)
    rows.append(_row(result, float_bytes, samples, time.perf_counter() - start))
  print(f"\n{name} on {FLAGS.data}: {keras_model.count_params():,} parameters, "
        f"{float_bytes:,} float32 bytes; {steps} fine-tuning steps, seed {FLAGS.seed}\n")
  print_table(rows)


if __name__ == "__main__":
  _define_flags()
  app.run(main)
