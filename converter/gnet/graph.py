"""Puts a quantized gNet into model.tflite (layout in docs/gnet.md).

Input: the int8 conversion of head.gnet_model, which stock TFLM runs (it is
written as reference.tflite): outputs [the network's output, the pooled
exit features concatenated, the head's logits with every exit reached].

Output for the FreeML runtime:
  subgraph 0  the network, with each exit's pooling ops moved right after
              the op that completes the exit layer, each followed by a
              FREEML_EXIT_ACCUMULATE op: acc_k = acc_(k-1) + W_k (x_k - z),
              int32 [1, units], acc_(-1) being the bias of the head's first
              layer (units: the classes, or the rank of a two-layer head).
              The concatenation and the head ops are gone; the only output
              is the network's. A two-layer head's output weights and bias
              stay as constant tensors.
  subgraph 1  the head alone, FULLY_CONNECTED on the concatenated features
              (then on the hidden units, for two layers; the same weight
              and bias buffers): what an exit computes.
  metadata    FREEML_GNET: the exits (accumulator tensors, confidence
              thresholds), the logits' and hidden units' quantization and
              the output layer's tensors.

Because TFLM's FULLY_CONNECTED adds W (x + input_offset) over the features
and the features of an exit not reached are the zero point, exit k's int8
logits (the accumulator requantized as the head op does, then the output
layer) equal TFLM running the head (exit_head.tflite) on the features with
the later exits at the zero point.

With int4 head weights (HeadConfig.weight_bits 4), with_int4_weights
stores the first layer's weights as TFLite INT4 (two per byte, one scale)
in reference.tflite before the rewrite; TFLM and the runtime read the same
buffer.

Example:
  reference = order_reference(quantized)          # reference.tflite
  reference = with_int4_weights(reference, head)  # with int4 head weights
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
from converter.sparse_format import pack_int4

CUSTOM_OP = ops.EXIT_ACCUMULATE
METADATA_NAME = "FREEML_GNET"
METADATA_MAGIC = 0x4E474D46  # "FMGN" in little-endian bytes
METADATA_VERSION = 2
MAX_RANK = 64  # the runtime's FREEML_MAX_EXIT_RANK
MAX_EXITS = 16  # the runtime's FREEML_MAX_EXITS
# An int8 logit margin never reaches this: the exit is never taken for
# confidence alone (energy may still take it).
NEVER = 256
_OPTIONS = struct.Struct("<4i")  # feature offset, features, exit index, reserved
_HEADER = struct.Struct("<5if2if2i")


@dataclasses.dataclass(frozen=True)
class ExitPlan:
  """What model.tflite says about its exits (the FREEML_GNET metadata)."""
  classes: int
  logits_scale: float
  logits_zero_point: int
  accumulators: Tuple[int, ...]  # subgraph-0 tensor of each exit's accumulator
  thresholds: Tuple[int, ...]  # int8 logit margin (top1 - top2) to answer early
  rank: int = 0  # hidden units of a two-layer head; 0: one layer
  hidden_zero_point: int = 0
  hidden_scale: float = 0.0
  output_weights: int = -1  # subgraph-0 tensors of a two-layer head's output layer
  output_bias: int = -1  # -1: no bias


def encode_plan(plan: ExitPlan) -> bytes:
  """FREEML_GNET bytes: magic, version, exits, classes, logits zero point,
  logits scale (float32), rank, hidden zero point, hidden scale (float32),
  output weights tensor, output bias tensor, then per exit its accumulator
  tensor and threshold; little-endian 32-bit words."""
  words = _HEADER.pack(METADATA_MAGIC, METADATA_VERSION, len(plan.accumulators), plan.classes,
                       plan.logits_zero_point, plan.logits_scale, plan.rank,
                       plan.hidden_zero_point, plan.hidden_scale, plan.output_weights,
                       plan.output_bias)
  for tensor, threshold in zip(plan.accumulators, plan.thresholds, strict=True):
    words += struct.pack("<2i", tensor, threshold)
  return words


def decode_plan(data: bytes) -> ExitPlan:
  if len(data) < _HEADER.size:
    raise ConverterError(f"{METADATA_NAME} metadata has {len(data)} bytes, fewer than its header")
  (magic, version, exits, classes, zero_point, scale, rank, hidden_zero_point, hidden_scale,
   output_weights, output_bias) = _HEADER.unpack_from(data)
  if magic != METADATA_MAGIC or version != METADATA_VERSION or \
      len(data) != _HEADER.size + 8 * exits:
    raise ConverterError(f"{METADATA_NAME} metadata is not version {METADATA_VERSION} of this "
                         "layout")
  pairs = [struct.unpack_from("<2i", data, _HEADER.size + 8 * k) for k in range(exits)]
  return ExitPlan(classes, scale, zero_point, tuple(p[0] for p in pairs),
                  tuple(p[1] for p in pairs), rank, hidden_zero_point, hidden_scale,
                  output_weights, output_bias)


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
  head_op: int  # the FULLY_CONNECTED on the features, whose sum the exits split
  output_op: Optional[int]  # a two-layer head's second FULLY_CONNECTED, else None
  concat_op: Optional[int]  # None with a single exit
  pooled: Tuple[int, ...]  # each exit's pooled feature tensor, in exit order

  @property
  def head_ops(self) -> List[int]:
    return [self.head_op] + ([self.output_op] if self.output_op is not None else [])


def _roles(root) -> _Roles:
  """Finds the head in a converted gnet_model: the FULLY_CONNECTED output
  whose input is another graph output, or is a FULLY_CONNECTED on one."""
  graph = root.subgraphs[0]
  outputs = [int(t) for t in graph.outputs]
  producer = {int(t): i for i, op in enumerate(graph.operators) for t in op.outputs}
  if len(outputs) != 3:
    raise ConverterError(f"a gNet conversion has 3 outputs, this one {len(outputs)}")

  def fully_connected(tensor: int) -> Optional[int]:
    op_index = producer.get(tensor)
    if op_index is None or _op_name(root, graph.operators[op_index]) != "FULLY_CONNECTED":
      return None
    return op_index

  for logits in outputs:
    op_index = fully_connected(logits)
    if op_index is None:
      continue
    head_op, output_op = op_index, None
    if int(graph.operators[op_index].inputs[0]) not in outputs:
      first = fully_connected(int(graph.operators[op_index].inputs[0]))
      if first is None or int(graph.operators[first].inputs[0]) not in outputs:
        continue
      head_op, output_op = first, op_index
    features = int(graph.operators[head_op].inputs[0])
    final = next(t for t in outputs if t not in (logits, features))
    concat_op = producer.get(features)
    if concat_op is not None and \
        _op_name(root, graph.operators[concat_op]) == "CONCATENATION":
      pooled = tuple(int(t) for t in graph.operators[concat_op].inputs)
    else:
      concat_op, pooled = None, (features,)
    return _Roles(final, features, logits, head_op, output_op, concat_op, pooled)
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
  head = set(roles.head_ops) | ({roles.concat_op} if roles.concat_op is not None else set())
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


def _zero_bias(root, units: int, x_in: int, w_in: int) -> int:
  """A constant int32 zero bias tensor of subgraph 0 for a FULLY_CONNECTED
  on tensors x_in and w_in; its index. Its scales are the input's times the
  weights', which TFLM checks for per-tensor weights."""
  schema = _schema()
  buffer = schema.BufferT()
  buffer.data = np.zeros(4 * units, np.uint8)
  root.buffers.append(buffer)
  graph = root.subgraphs[0]
  weights = graph.tensors[w_in].quantization
  quantization = schema.QuantizationParametersT()
  quantization.scale = [float(graph.tensors[x_in].quantization.scale[0]) * float(s)
                        for s in weights.scale]
  quantization.zeroPoint = [0] * len(quantization.scale)
  graph.tensors.append(_tensor(schema, "gnet_head_bias", [units], schema.TensorType.INT32,
                               len(root.buffers) - 1, quantization))
  return len(graph.tensors) - 1


def _head_subgraph(schema, graph, ops: Sequence) -> object:
  """A subgraph "gnet_head" running `ops` (the head's FULLY_CONNECTED ops,
  in order) on copies of their tensor entries; input the first op's input,
  output the last op's output."""
  tensors: List[int] = []

  def local(t: int) -> int:
    if t < 0:
      return -1
    if t not in tensors:
      tensors.append(t)
    return tensors.index(t)

  sub = schema.SubGraphT()
  sub.name = "gnet_head"
  sub.operators = []
  for op in ops:
    fc = schema.OperatorT()
    fc.opcodeIndex, fc.builtinOptionsType, fc.builtinOptions = (
        op.opcodeIndex, op.builtinOptionsType, op.builtinOptions)
    fc.inputs = np.array([local(int(t)) for t in op.inputs], np.int32)
    fc.outputs = np.array([local(int(op.outputs[0]))], np.int32)
    sub.operators.append(fc)
  sub.tensors = [graph.tensors[t] for t in tensors]
  sub.inputs = np.array([sub.operators[0].inputs[0]], np.int32)
  sub.outputs = np.array([sub.operators[-1].outputs[0]], np.int32)
  return sub


def with_int4_weights(reference: bytes, head_weights) -> bytes:
  """reference.tflite with the head's first FULLY_CONNECTED weights stored
  as INT4 with one scale, and its bias requantized to match.

  head_weights: the trained head.Head, whose first-layer kernel already
  lies on the int4 grid (HeadConfig.weight_bits 4), so nothing is lost."""
  from converter.gnet import head as gnet_head
  schema = _schema()
  root = tflite_graph.parse(reference)
  graph = root.subgraphs[0]
  op = graph.operators[_roles(root).head_op]
  x_in, w_in = int(op.inputs[0]), int(op.inputs[1])
  b_in = int(op.inputs[2]) if len(op.inputs) > 2 else -1
  weights = graph.tensors[w_in]
  kernel = np.asarray(head_weights.kernel, np.float64).T  # TFLite: [units, features]
  if tuple(int(d) for d in weights.shape) != kernel.shape:
    raise ConverterError(f"the gNet head's weights are {list(weights.shape)}, the trained "
                         f"head's {list(kernel.shape)}")
  q, scale = gnet_head.int4_grid(kernel)
  root.buffers[weights.buffer].data = pack_int4(q)
  weights.type = schema.TensorType.INT4
  weights.quantization.scale = [scale]
  weights.quantization.zeroPoint = [0]
  weights.quantization.quantizedDimension = 0
  if b_in >= 0:
    bias = graph.tensors[b_in]
    bias_scale = float(graph.tensors[x_in].quantization.scale[0]) * scale
    values = np.round(np.asarray(head_weights.bias, np.float64) / bias_scale)
    root.buffers[bias.buffer].data = np.frombuffer(
        np.clip(values, -2**31, 2**31 - 1).astype("<i4").tobytes(), np.uint8)
    bias.quantization.scale = [bias_scale]
    bias.quantization.zeroPoint = [0]
    bias.quantization.quantizedDimension = 0
  return tflite_writer.pack(root)


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
  weights = graph.tensors[w_in]
  units, features = (int(d) for d in weights.shape)
  if b_in < 0:  # the converter may leave out the bias; the accumulators start from one
    b_in = _zero_bias(root, units, x_in, w_in)
    head.inputs = np.array([x_in, w_in, b_in], np.int32)
  if graph.tensors[b_in].type != schema.TensorType.INT32:
    raise ConverterError("the gNet head's bias is not int32; it cannot start the accumulators")
  if any(graph.operators[i].builtinOptions.fusedActivationFunction != 0
         for i in roles.head_ops):
    raise ConverterError("the gNet head must be linear (no fused activation)")
  output = graph.operators[roles.output_op] if roles.output_op is not None else None
  if output is not None and not 0 < units <= MAX_RANK:
    raise ConverterError(f"the gNet head's rank is {units}; the runtime takes 1 to {MAX_RANK}")

  opcode = tflite_writer.custom_opcode(root, CUSTOM_OP)
  accumulators, new_ops = [], {}
  previous, offset = b_in, 0
  for k, pooled in enumerate(roles.pooled):
    size = int(np.prod(graph.tensors[pooled].shape))
    acc = _tensor(schema, f"gnet_exit{k}_accumulator", [1, units], schema.TensorType.INT32,
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

  removed = set(roles.head_ops) | ({roles.concat_op} if roles.concat_op is not None else set())
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
  root.subgraphs.append(_head_subgraph(schema, graph, [head] + ([output] if output else [])))

  q = graph.tensors[roles.logits].quantization
  plan = ExitPlan(classes=int(graph.tensors[roles.logits].shape[-1]),
                  logits_scale=float(q.scale[0]), logits_zero_point=int(q.zeroPoint[0]),
                  accumulators=tuple(accumulators),
                  thresholds=tuple(thresholds) if thresholds is not None
                  else (NEVER,) * len(accumulators))
  if output is not None:
    hidden = graph.tensors[int(head.outputs[0])].quantization
    plan = dataclasses.replace(
        plan, rank=units, hidden_zero_point=int(hidden.zeroPoint[0]),
        hidden_scale=float(hidden.scale[0]), output_weights=int(output.inputs[1]),
        output_bias=int(output.inputs[2]) if len(output.inputs) > 2 else -1)
  _metadata(root, METADATA_NAME, encode_plan(plan))
  return tflite_writer.pack(root)


def read_plan(model: bytes) -> Optional[ExitPlan]:
  """The exit plan of a model, None when it has no gNet."""
  root = tflite_graph.parse(model)
  for entry in root.metadata or []:
    if entry.name in (METADATA_NAME, METADATA_NAME.encode()):
      return decode_plan(bytes(bytearray(root.buffers[entry.buffer].data)))
  return None


def output_layer_bytes(model: bytes) -> int:
  """Bytes of a two-layer head's output weight and bias buffers (0 for one
  layer): the head's bytes beyond the accumulate ops' weights."""
  plan = read_plan(model)
  if plan is None or plan.rank == 0:
    return 0
  root = tflite_graph.parse(model)
  tensors = root.subgraphs[0].tensors
  return sum(len(root.buffers[tensors[t].buffer].data)
             for t in (plan.output_weights, plan.output_bias) if t >= 0)


def with_plan(model: bytes, **changes) -> bytes:
  """The same gNet model with ExitPlan fields changed in its metadata."""
  plan = read_plan(model)
  if plan is None:
    raise ConverterError("not a gNet model: no FREEML_GNET metadata")
  root = tflite_graph.parse(model)
  _metadata(root, METADATA_NAME, encode_plan(dataclasses.replace(plan, **changes)))
  return tflite_writer.pack(root)


def set_thresholds(model: bytes, thresholds: Sequence[int]) -> bytes:
  """The same model with new exit thresholds."""
  plan = read_plan(model)
  if plan is None or len(thresholds) != len(plan.accumulators):
    raise ConverterError("set_thresholds needs a gNet model and one threshold per exit")
  return with_plan(model, thresholds=tuple(int(t) for t in thresholds))


def head_reference(reference: bytes) -> bytes:
  """exit_head.tflite: the head alone, features in, logits out (stock TFLM
  runs it)."""
  root = tflite_graph.parse(reference)
  graph = root.subgraphs[0]
  sub = _head_subgraph(_schema(), graph, [graph.operators[i] for i in _roles(root).head_ops])
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
