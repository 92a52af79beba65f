"""Puts a quantized gNet into model.tflite (layout in docs/gnet.md).

Input: the int8 conversion of head.gnet_model, which stock TFLM runs (it is
written as reference.tflite): outputs [the network's output, the pooled
exit features concatenated, the head's logits with every exit reached].

Output for the FreeML runtime:
  subgraph 0  the network, with each exit's pooling ops moved right after
              the op that completes the exit layer, each followed by a
              FREEML_EXIT_ACCUMULATE op: acc_k = acc_(k-1) + W_k (x_k - z),
              int32 [1, classes], acc_(-1) being the head's bias. The
              concatenation and the head op are gone; the only output is
              the network's.
  subgraph 1  the head alone, FULLY_CONNECTED on the concatenated features
              (the same weight and bias buffers): what an exit computes.
  metadata    FREEML_GNET: the exits (accumulator tensors, confidence
              thresholds) and the logits' quantization.

Because TFLM's FULLY_CONNECTED adds W (x + input_offset) over the features
and the features of an exit not reached are the zero point, exit k's int8
logits (the accumulator requantized as the head op does) equal TFLM running
the head (exit_head.tflite) on the features with the later exits at the
zero point.

Example:
  reference = order_reference(quantized)          # reference.tflite
  model = rewrite(reference, thresholds=None)     # then sparsify(model)
  head = head_reference(reference)                # exit_head.tflite
"""

from __future__ import annotations

import dataclasses
import struct
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from converter import ops, tflite_graph, tflite_writer
from converter.errors import ConverterError

CUSTOM_OP = ops.EXIT_ACCUMULATE
METADATA_NAME = "FREEML_GNET"
METADATA_MAGIC = 0x4E474D46  # "FMGN" in little-endian bytes
METADATA_VERSION = 1
MAX_EXITS = 16  # the runtime's FREEML_MAX_EXITS
# An int8 logit margin never reaches this: the exit is never taken for
# confidence alone (energy may still take it).
NEVER = 256
_OPTIONS = struct.Struct("<4i")  # feature offset, features, exit index, reserved


@dataclasses.dataclass(frozen=True)
class ExitPlan:
  """What model.tflite says about its exits (the FREEML_GNET metadata)."""
  classes: int
  logits_scale: float
  logits_zero_point: int
  accumulators: Tuple[int, ...]  # subgraph-0 tensor of each exit's accumulator
  thresholds: Tuple[int, ...]  # int8 logit margin (top1 - top2) to answer early


def encode_plan(plan: ExitPlan) -> bytes:
  """FREEML_GNET bytes: magic, version, exits, classes, logits zero point,
  logits scale (float32), then per exit its accumulator tensor and threshold;
  little-endian 32-bit words."""
  words = struct.pack("<5if", METADATA_MAGIC, METADATA_VERSION, len(plan.accumulators),
                      plan.classes, plan.logits_zero_point, plan.logits_scale)
  for tensor, threshold in zip(plan.accumulators, plan.thresholds, strict=True):
    words += struct.pack("<2i", tensor, threshold)
  return words


def decode_plan(data: bytes) -> ExitPlan:
  if len(data) < 24:
    raise ConverterError(f"{METADATA_NAME} metadata has {len(data)} bytes, fewer than its header")
  magic, version, exits, classes, zero_point, scale = struct.unpack_from("<5if", data)
  if magic != METADATA_MAGIC or version != METADATA_VERSION or len(data) != 24 + 8 * exits:
    raise ConverterError(f"{METADATA_NAME} metadata is not version {METADATA_VERSION} of this "
                         "layout")
  pairs = [struct.unpack_from("<2i", data, 24 + 8 * k) for k in range(exits)]
  return ExitPlan(classes, scale, zero_point, tuple(p[0] for p in pairs),
                  tuple(p[1] for p in pairs))


def _schema():
  from tensorflow.lite.python import schema_py_generated as schema
  return schema


def _op_name(root, op) -> str:
  opcode = root.operatorCodes[op.opcodeIndex]
  return ops.op_name(ops.builtin_code(opcode), opcode.customCode)


@dataclasses.dataclass(frozen=True)
class _Roles:
  final: int  # tensor of the network's output
  features: int  # tensor of the concatenated exit features
  logits: int  # tensor of the head's logits
  head_op: int
  concat_op: Optional[int]  # None with a single exit
  pooled: Tuple[int, ...]  # each exit's pooled feature tensor, in exit order


def _roles(root) -> _Roles:
  """Finds the head in a converted gnet_model: the FULLY_CONNECTED output
  whose input is another graph output."""
  graph = root.subgraphs[0]
  outputs = [int(t) for t in graph.outputs]
  producer = {int(t): i for i, op in enumerate(graph.operators) for t in op.outputs}
  if len(outputs) != 3:
    raise ConverterError(f"a gNet conversion has 3 outputs, this one {len(outputs)}")
  for logits in outputs:
    op_index = producer.get(logits)
    op = graph.operators[op_index] if op_index is not None else None
    if op is None or _op_name(root, op) != "FULLY_CONNECTED" or int(op.inputs[0]) not in outputs:
      continue
    features = int(op.inputs[0])
    final = next(t for t in outputs if t not in (logits, features))
    concat_op = producer.get(features)
    if concat_op is not None and \
        _op_name(root, graph.operators[concat_op]) == "CONCATENATION":
      pooled = tuple(int(t) for t in graph.operators[concat_op].inputs)
    else:
      concat_op, pooled = None, (features,)
    return _Roles(final, features, logits, op_index, concat_op, pooled)
  raise ConverterError("no gNet head (FULLY_CONNECTED on an output) in the converted model")


def _chain(graph, producer: Dict[int, int], tensor: int, stop: set) -> List[int]:
  """The ops that compute `tensor` and serve nothing else (an exit's pooling),
  in graph order; the exit layer's op, whose output others read, stays
  where it is."""
  readers: Dict[int, set] = {}
  for i, op in enumerate(graph.operators):
    for t in op.inputs:
      readers.setdefault(int(t), set()).add(i)
  chain: set = set()
  pending = [tensor]
  while pending:
    t = pending.pop()
    op_index = producer.get(t)
    if op_index is None or op_index in stop or op_index in chain:
      continue
    if t != tensor and not readers.get(t, set()) <= chain:
      continue  # read outside the chain: the exit layer itself
    chain.add(op_index)
    pending += [int(i) for i in graph.operators[op_index].inputs if i >= 0]
  # An op whose output something outside reads is not the chain's alone.
  for op_index in sorted(chain, reverse=True):
    outs = [int(t) for t in graph.operators[op_index].outputs]
    if any(t != tensor and not readers.get(t, set()) <= chain for t in outs):
      chain.discard(op_index)
  return sorted(chain)


def _schedule(graph, early: List[List[int]]) -> List[int]:
  """An op order in which each chain of `early` runs as soon as its inputs
  exist, the other ops keeping their order."""
  producer = {int(t): i for i, op in enumerate(graph.operators) for t in op.outputs}
  in_chain = {op for chain in early for op in chain}
  done: set = set()
  order: List[int] = []

  def ready(i: int) -> bool:
    return all(producer.get(int(t)) in done or int(t) not in producer
               for t in graph.operators[i].inputs if t >= 0)

  rest = [i for i in range(len(graph.operators)) if i not in in_chain]
  pending = [list(chain) for chain in early]
  while len(order) < len(graph.operators):
    progressed = True
    while progressed:
      progressed = False
      for chain in pending:
        while chain and ready(chain[0]):
          done.add(chain[0])
          order.append(chain.pop(0))
          progressed = True
    if rest:
      nxt = rest.pop(0)
      done.add(nxt)
      order.append(nxt)
    elif any(pending):
      raise ConverterError("the exit features depend on ops that never run")
  return order


def order_reference(quantized: bytes) -> bytes:
  """The converted gNet with its outputs in the order [network, features,
  logits] and each exit's pooling ops right after the exit layer; the same
  arithmetic, so TFLM's answers do not change."""
  root = tflite_graph.parse(quantized)
  graph = root.subgraphs[0]
  roles = _roles(root)
  graph.outputs = np.array([roles.final, roles.features, roles.logits], np.int32)
  producer = {int(t): i for i, op in enumerate(graph.operators) for t in op.outputs}
  head = {roles.head_op} | ({roles.concat_op} if roles.concat_op is not None else set())
  chains = [_chain(graph, producer, t, head) for t in roles.pooled]
  order = _schedule(graph, chains)
  graph.operators = [graph.operators[i] for i in order]
  return tflite_writer.pack(root)


def _tensor(schema, name: str, shape: Sequence[int], dtype: int, buffer: int,
            quantization=None):
  t = schema.TensorT()
  t.name, t.shape, t.type, t.buffer = name, np.array(shape, np.int32), dtype, buffer
  t.quantization = quantization
  return t


def _empty_buffer(root) -> int:
  buffer = _schema().BufferT()
  root.buffers.append(buffer)
  return len(root.buffers) - 1


def _zero_bias(root, classes: int) -> int:
  """A constant int32 zero bias tensor of subgraph 0; its index."""
  schema = _schema()
  buffer = schema.BufferT()
  buffer.data = np.zeros(4 * classes, np.uint8)
  root.buffers.append(buffer)
  graph = root.subgraphs[0]
  graph.tensors.append(_tensor(schema, "gnet_head_bias", [classes], schema.TensorType.INT32,
                               len(root.buffers) - 1))
  return len(graph.tensors) - 1


def _metadata(root, name: str, data: bytes) -> None:
  schema = _schema()
  root.metadata = [m for m in (root.metadata or [])
                   if m.name not in (name, name.encode())]
  buffer = schema.BufferT()
  buffer.data = np.frombuffer(data, np.uint8)
  root.buffers.append(buffer)
  entry = schema.MetadataT()
  entry.name, entry.buffer = name, len(root.buffers) - 1
  root.metadata.append(entry)


def rewrite(reference: bytes, thresholds: Optional[Sequence[int]] = None) -> bytes:
  """model.tflite's graph from reference.tflite (see the module docstring).

  thresholds: per exit, the int8 logit margin at which to answer early;
    None: NEVER for every exit (set them later with set_thresholds).
  """
  schema = _schema()
  root = tflite_graph.parse(reference)
  graph = root.subgraphs[0]
  roles = _roles(root)
  head = graph.operators[roles.head_op]
  x_in, w_in, b_in = (int(t) for t in head.inputs[:3])
  weights, logits = graph.tensors[w_in], graph.tensors[roles.logits]
  classes, features = (int(d) for d in weights.shape)
  if b_in < 0:  # the converter drops an all-zero bias; the accumulators start from one
    b_in = _zero_bias(root, classes)
    head.inputs = np.array([x_in, w_in, b_in], np.int32)
  if graph.tensors[b_in].type != schema.TensorType.INT32:
    raise ConverterError("the gNet head's bias is not int32; it cannot start the accumulators")
  bias = graph.tensors[b_in]
  if head.builtinOptions.fusedActivationFunction != 0:
    raise ConverterError("the gNet head must be linear (no fused activation)")

  opcode = tflite_writer.custom_opcode(root, CUSTOM_OP)
  accumulators, new_ops = [], {}
  previous, offset = b_in, 0
  for k, pooled in enumerate(roles.pooled):
    size = int(np.prod(graph.tensors[pooled].shape))
    acc = _tensor(schema, f"gnet_exit{k}_accumulator", [1, classes], schema.TensorType.INT32,
                  _empty_buffer(root))
    graph.tensors.append(acc)
    acc_index = len(graph.tensors) - 1
    op = schema.OperatorT()
    op.opcodeIndex = opcode
    op.inputs = np.array([pooled, w_in, previous], np.int32)
    op.outputs = np.array([acc_index], np.int32)
    op.customOptions = np.frombuffer(_OPTIONS.pack(offset, size, k, 0), np.uint8)
    op.customOptionsFormat = 0
    new_ops[pooled] = op
    accumulators.append(acc_index)
    previous, offset = acc_index, offset + size
  if offset != features:
    raise ConverterError(f"the exits' features add up to {offset}, the head reads {features}")

  removed = {roles.head_op} | ({roles.concat_op} if roles.concat_op is not None else set())
  kept: List = []
  for i, op in enumerate(graph.operators):
    if i in removed:
      continue
    kept.append(op)
    for t in op.outputs:
      if int(t) in new_ops:
        kept.append(new_ops.pop(int(t)))
  if new_ops:
    raise ConverterError("an exit's features are produced by no op")
  graph.operators = kept
  graph.outputs = np.array([roles.final], np.int32)

  # Subgraph 1: the head as TFLM runs it (exit_head.tflite is this alone).
  sub = schema.SubGraphT()
  sub.name = "gnet_head"
  sub.tensors = [graph.tensors[x_in], weights, bias, logits]
  fc = schema.OperatorT()
  fc.opcodeIndex, fc.builtinOptionsType, fc.builtinOptions = (
      head.opcodeIndex, head.builtinOptionsType, head.builtinOptions)
  fc.inputs, fc.outputs = np.array([0, 1, 2], np.int32), np.array([3], np.int32)
  sub.operators, sub.inputs, sub.outputs = [fc], np.array([0], np.int32), np.array([3], np.int32)
  root.subgraphs.append(sub)

  q = logits.quantization
  plan = ExitPlan(classes=classes, logits_scale=float(q.scale[0]),
                  logits_zero_point=int(q.zeroPoint[0]), accumulators=tuple(accumulators),
                  thresholds=tuple(thresholds) if thresholds is not None
                  else (NEVER,) * len(accumulators))
  _metadata(root, METADATA_NAME, encode_plan(plan))
  return tflite_writer.pack(root)


def read_plan(model: bytes) -> Optional[ExitPlan]:
  """The exit plan of a model, None when it has no gNet."""
  root = tflite_graph.parse(model)
  for entry in root.metadata or []:
    if entry.name in (METADATA_NAME, METADATA_NAME.encode()):
      return decode_plan(bytes(bytearray(root.buffers[entry.buffer].data)))
  return None


def set_thresholds(model: bytes, thresholds: Sequence[int]) -> bytes:
  """The same model with new exit thresholds."""
  plan = read_plan(model)
  if plan is None or len(thresholds) != len(plan.accumulators):
    raise ConverterError("set_thresholds needs a gNet model and one threshold per exit")
  root = tflite_graph.parse(model)
  _metadata(root, METADATA_NAME, encode_plan(dataclasses.replace(
      plan, thresholds=tuple(int(t) for t in thresholds))))
  return tflite_writer.pack(root)


def head_reference(reference: bytes) -> bytes:
  """exit_head.tflite: the head alone, features in, logits out (stock TFLM
  runs it)."""
  schema = _schema()
  root = tflite_graph.parse(reference)
  graph = root.subgraphs[0]
  roles = _roles(root)
  head = graph.operators[roles.head_op]
  used = [int(t) for t in head.inputs] + [roles.logits]
  sub = schema.SubGraphT()
  sub.name = "gnet_head"
  sub.tensors = [graph.tensors[t] for t in used]
  fc = head
  fc.inputs, fc.outputs = np.array([0, 1, 2], np.int32), np.array([3], np.int32)
  sub.operators, sub.inputs, sub.outputs = [fc], np.array([0], np.int32), np.array([3], np.int32)
  root.subgraphs = [sub]
  root.metadata, root.signatureDefs = None, None
  kept = [root.buffers[0]]  # buffer 0 is the empty one by convention
  for tensor in sub.tensors:
    if tensor.buffer > 0:
      kept.append(root.buffers[tensor.buffer])
      tensor.buffer = len(kept) - 1
  root.buffers = kept
  return tflite_writer.pack(root)


def exit_logits_reference(head_interpreter, features: np.ndarray, offsets: Sequence[int],
                          zero_point: int, exit_index: int) -> np.ndarray:
  """TFLM's int8 logits for exit `exit_index` (head_interpreter: TFLM on
  exit_head.tflite): the head on the features with every later exit at the
  zero point, what the runtime must match."""
  from converter import tflm_oracle
  x = np.array(features, np.int8).reshape(1, -1)
  x[:, offsets[exit_index + 1]:] = zero_point
  return tflm_oracle.invoke_on(head_interpreter, [x], 1)[0]
