"""Reads a .tflite file into per-op facts for the report, and checks that it
is a full-int8 graph the FreeML runtime can run.

Every byte count here is read from the flatbuffer itself (buffer lengths),
never estimated. The file is read with TensorFlow's generated schema module
(object API), so no private layout knowledge is needed.

Example:
  graph = check_int8(open("model.tflite", "rb").read())
  print(graph.weight_bytes, [layer.op for layer in graph.layers])
"""

from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from converter import ops, sparse_format
from converter.errors import ConverterError

_FLOAT_TYPES = frozenset({"float32", "float16", "float64", "bfloat16"})


@dataclasses.dataclass(frozen=True)
class KerasLayers:
  """What the Keras model says about its layers, to name the op's source.

  names: every layer name, nested models flattened, in model order.
  types: layer name -> class name (e.g. 'LSTM').
  outputs: the names of the layers that produce the model outputs.
  """
  names: Tuple[str, ...]
  types: Dict[str, str]
  outputs: Tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class TensorInfo:
  index: int
  name: str
  shape: Tuple[int, ...]
  dtype: str
  scale: Optional[float]
  zero_point: Optional[int]


@dataclasses.dataclass(frozen=True)
class LayerInfo:
  """One op of subgraph 0.

  layer: the Keras layer(s) the op came from, recovered from tensor names
    ('conv2d+batch_normalization+activation' when the converter fused them),
    '-' when the names say nothing.
  parameters: elements of the op's constant learned inputs (weights, biases).
  weight_bytes: exact bytes of the constant buffers the op reads.
  """
  index: int
  op: str
  layer: str
  input_shapes: List[Tuple[int, ...]]
  output_shapes: List[Tuple[int, ...]]
  parameters: int
  macs: int
  weight_bytes: int


@dataclasses.dataclass(frozen=True)
class GraphInfo:
  """Subgraph 0 of a model, as the report shows it.

  weight_bytes counts each constant buffer of subgraph 0 once, even when
  several ops read it.
  """
  file_bytes: int
  weight_bytes: int
  layers: List[LayerInfo]
  inputs: List[TensorInfo]
  outputs: List[TensorInfo]
  subgraphs: int

  @property
  def macs(self) -> int:
    return sum(layer.macs for layer in self.layers)

  @property
  def parameters(self) -> int:
    return sum(layer.parameters for layer in self.layers)

  @property
  def input_dtype(self) -> str:
    return self.inputs[0].dtype if self.inputs else "-"

  @property
  def output_dtype(self) -> str:
    return self.outputs[0].dtype if self.outputs else "-"


def _schema():
  from tensorflow.lite.python import schema_py_generated as schema
  return schema


def _dtype_names() -> Dict[int, str]:
  return {value: name.lower() for name, value in vars(_schema().TensorType).items()
          if not name.startswith("_")}


def parse(model: bytes):
  """The ModelT (schema object API) of `model`, or a ConverterError saying
  why it is unreadable."""
  if len(model) < 8 or model[4:8] != b"TFL3":
    raise ConverterError("not a .tflite model (no TFL3 file identifier at byte 4)")
  try:
    root = _schema().ModelT.InitFromPackedBuf(bytes(model), 0)
  except Exception as e:  # the flatbuffers reader raises assorted errors on bad offsets
    raise ConverterError(f"truncated or corrupt .tflite model: its tables point outside its "
                         f"{len(model):,} bytes ({type(e).__module__}.{type(e).__name__})") from e
  if not root.subgraphs:
    raise ConverterError("corrupt .tflite model: it has no subgraph")
  return root


def _buffer_bytes(buffer, file_bytes: int) -> int:
  """Bytes of constant data a buffer holds: inline data, or an (offset,
  size) range after the flatbuffer in files larger than 2 GB."""
  if buffer is None:
    return 0
  if buffer.data is not None:
    return len(buffer.data)
  if buffer.offset > 1:
    if buffer.offset + buffer.size > file_bytes:
      raise ConverterError(f"truncated .tflite model: a buffer ends at byte "
                           f"{buffer.offset + buffer.size:,}, the file has {file_bytes:,}")
    return int(buffer.size)
  return 0


def tensor_name(tensor) -> str:
  """A schema TensorT's name as text."""
  return tensor.name.decode("utf-8", "replace") if tensor.name else ""


def _candidate_layers(tensor_name: str, keras: Optional[KerasLayers]) -> List[str]:
  """Layer names a tensor name mentions. The converter joins the names of
  the TF ops it fused with ';', each 'model/layer/op'; the fused chain lists
  its last op first."""
  found: List[str] = []
  for part in tensor_name.split(";"):
    components = part.split("/")
    if keras is not None:
      matches = [c for c in components[1:] if c in keras.types]
      name = matches[0] if matches else None
    else:
      name = components[1] if len(components) >= 3 else None
    if name and name not in found:
      found.append(name)
  if keras is not None:
    found.sort(key=keras.names.index)
  else:
    found = found[:1]  # without the Keras model, trust only the tensor's own op
  return found


def _layer_of(root, op, keras: Optional[KerasLayers]) -> str:
  graph = root.subgraphs[0]
  outputs = [int(k) for k in op.outputs]
  names = _candidate_layers(tensor_name(graph.tensors[outputs[0]]), keras) if outputs else []
  if not names and keras is not None and outputs:
    graph_outputs = [int(k) for k in graph.outputs]
    if outputs[0] in graph_outputs:
      position = graph_outputs.index(outputs[0])
      if position < len(keras.outputs):
        names = [keras.outputs[position]]
  if not names:  # e.g. a graph output named 'Identity': its op acts on its input's layer
    for k in (int(k) for k in op.inputs):
      if k >= 0:
        names = _candidate_layers(tensor_name(graph.tensors[k]), keras)
        if names:
          break
  return "+".join(names) if names else "-"


def _tensor_info(tensor, index: int, dtypes: Dict[int, str]) -> TensorInfo:
  q = tensor.quantization
  scale = float(q.scale[0]) if q is not None and q.scale is not None and len(q.scale) else None
  zero_point = (int(q.zeroPoint[0]) if q is not None and q.zeroPoint is not None
                and len(q.zeroPoint) else None)
  shape = tuple(int(d) for d in tensor.shape) if tensor.shape is not None else ()
  return TensorInfo(index, tensor_name(tensor), shape, dtypes.get(tensor.type, str(tensor.type)),
                    scale, zero_point)


def read_graph(model: bytes, keras: Optional[KerasLayers] = None) -> GraphInfo:
  """Parses subgraph 0 of `model` into per-op facts.

  Args:
    model: the .tflite bytes.
    keras: the source Keras model's layers, to name each op's layer exactly;
      without it the name is guessed from the op's output tensor name.

  Raises:
    ConverterError: the bytes are not a readable .tflite file.
  """
  return _read(parse(model), model, keras)


def _read(root, model: bytes, keras: Optional[KerasLayers]) -> GraphInfo:
  try:
    return _read_unchecked(root, model, keras)
  except ConverterError:
    raise
  except Exception as e:  # out-of-range indexes in a hostile or damaged file
    raise ConverterError(f"corrupt .tflite model ({type(e).__name__}: {e})") from e


def _read_unchecked(root, model: bytes, keras: Optional[KerasLayers]) -> GraphInfo:
  graph = root.subgraphs[0]
  dtypes = _dtype_names()
  buffers = root.buffers or []
  buffer_bytes = [_buffer_bytes(b, len(model)) for b in buffers]
  tensors = graph.tensors or []

  def constant_bytes(k: int) -> int:
    b = tensors[k].buffer
    return buffer_bytes[b] if 0 < b < len(buffer_bytes) else 0

  def shape(k: int) -> Tuple[int, ...]:
    s = tensors[k].shape
    return tuple(int(d) for d in s) if s is not None else ()

  def indexes(values, what: str, optional: bool = False) -> List[int]:
    """Tensor indexes, bounds-checked (Python would wrap negative ones)."""
    found = [int(k) for k in values] if values is not None else []
    for k in found:
      if not (0 <= k < len(tensors) or (optional and k == -1)):
        raise ConverterError(f"corrupt .tflite model: {what} names tensor {k}, the model has "
                             f"{len(tensors)}")
    return found

  indexes(graph.inputs, "the graph input")
  indexes(graph.outputs, "the graph output")
  layers = []
  for i, op in enumerate(graph.operators or []):
    if op.opcodeIndex >= len(root.operatorCodes or []):
      raise ConverterError(f"corrupt .tflite model: op {i} has op code index {op.opcodeIndex}")
    opcode = root.operatorCodes[op.opcodeIndex]
    code = ops.builtin_code(opcode)
    name = ops.op_name(code, opcode.customCode)
    spec = ops.REGISTRY.get(code)
    inputs = indexes(op.inputs, f"op {i}", optional=True)
    outputs = indexes(op.outputs, f"op {i}")
    in_shapes = [shape(k) for k in inputs if k >= 0]
    out_shapes = [shape(k) for k in outputs]
    constants = {k for k in inputs if k >= 0 and constant_bytes(k) > 0}
    learned = {inputs[p] for p in (spec.weight_inputs if spec else ())
               if p < len(inputs) and inputs[p] in constants}
    parameters = sum(int(np.prod(shape(k))) for k in learned)
    macs = spec.macs(in_shapes, out_shapes) if spec and out_shapes else 0
    custom = _custom_name(code, opcode)
    if custom == ops.EXIT_ACCUMULATE:
      name = custom
      parameters, macs = _exit_facts(op, inputs, constants, tensors)
    elif custom is not None:
      name = custom
      parameters, macs = _sparse_facts(custom, op, inputs, out_shapes, root)
    layers.append(LayerInfo(
        index=i, op=name, layer=_layer_of(root, op, keras),
        input_shapes=in_shapes, output_shapes=out_shapes,
        parameters=parameters, macs=int(macs),
        weight_bytes=sum(constant_bytes(k) for k in constants)))
  const_buffers = {t.buffer for t in tensors if 0 < t.buffer < len(buffer_bytes)}
  return GraphInfo(
      file_bytes=len(model),
      weight_bytes=sum(buffer_bytes[b] for b in const_buffers),
      layers=layers,
      inputs=[_tensor_info(tensors[int(k)], int(k), dtypes) for k in graph.inputs],
      outputs=[_tensor_info(tensors[int(k)], int(k), dtypes) for k in graph.outputs],
      subgraphs=len(root.subgraphs))


def _custom_name(code: int, opcode) -> Optional[str]:
  """The name of a FreeML custom op, else None."""
  if code != ops.CUSTOM or not opcode.customCode:
    return None
  name = opcode.customCode.decode("utf-8", "replace")
  return name if name in ops.SUPPORTED_CUSTOM_OPS else None


def _exit_facts(op, inputs: List[int], constants, tensors) -> Tuple[int, int]:
  """(parameters, MACs) of a gNet exit: its share of the head's weights (plus
  the bias, read by the first exit), one MAC each."""
  options = bytes(bytearray(op.customOptions)) if op.customOptions is not None else b""
  features = int(np.frombuffer(options[4:8], "<i4")[0]) if len(options) >= 8 else 0
  weights = tensors[inputs[1]].shape if len(inputs) > 1 and inputs[1] >= 0 else None
  classes = int(weights[0]) if weights is not None and len(weights) == 2 else 0
  bias = classes if len(inputs) > 2 and inputs[2] in constants else 0
  return features * classes + bias, features * classes


def _sparse_facts(custom: str, op, inputs: List[int], out_shapes, root) -> Tuple[int, int]:
  """(parameters, MACs) of a sparse custom op: its stored non-zero weights and
  bias, and the multiplies its kernel does."""
  graph = root.subgraphs[0]

  def data(slot: int) -> bytes:
    k = inputs[slot] if slot < len(inputs) else -1
    b = graph.tensors[k].buffer if k >= 0 else 0
    buffer = root.buffers[b] if 0 < b < len(root.buffers) else None
    return bytes(bytearray(buffer.data)) if buffer is not None and buffer.data is not None else b""

  options = bytes(bytearray(op.customOptions)) if op.customOptions is not None else b""
  nonzeros, macs = sparse_format.sparse_op_facts(custom, options, data(1),
                                                 out_shapes[0] if out_shapes else ())
  bias = len(data(2)) // 4
  return nonzeros + bias, macs


def supported_op_names() -> frozenset:
  """Every op name the runtime runs: the builtin ones and the sparse custom ops."""
  return frozenset(ops.SUPPORTED_OPS.values()) | frozenset(ops.SUPPORTED_CUSTOM_OPS)


def describe_op(layer: LayerInfo, keras: Optional[KerasLayers] = None) -> str:
  """"op 3 SIN (layer 'sine', Lambda)": how every refusal names its op."""
  source = f"layer '{layer.layer}'"
  kinds = [keras.types[n] for n in layer.layer.split("+") if keras and n in keras.types]
  if kinds:
    source += ", " + "+".join(kinds)
  return f"op {layer.index} {layer.op} ({source})"


def first_unsupported(graph: GraphInfo) -> Optional[LayerInfo]:
  """The first op the runtime has no kernel for, if any."""
  supported = supported_op_names()
  return next((layer for layer in graph.layers if layer.op not in supported), None)


def check_int8(model: bytes, keras: Optional[KerasLayers] = None) -> GraphInfo:
  """Reads `model` and refuses what the runtime cannot run, naming the op.

  Refused: more than one subgraph; ops outside ops.REGISTRY; ops that compute
  in float (float or hybrid models; QUANTIZE/DEQUANTIZE edges may be float);
  non-int8 activations; CONCATENATION inputs whose scale differs from the
  output's (TFLM does not requantize there).

  Returns:
    The GraphInfo of the accepted model.

  Raises:
    ConverterError: one line naming the op, its index and its Keras layer.
  """
  root = parse(model)
  graph = _read(root, model, keras)
  head_subgraph = any(m.name in (b"FREEML_GNET", "FREEML_GNET") for m in root.metadata or [])
  if graph.subgraphs != 1 + int(head_subgraph):
    raise ConverterError(f"the model has {graph.subgraphs} subgraphs (control flow); the FreeML "
                         "runtime runs single-subgraph models")
  unsupported = first_unsupported(graph)
  if unsupported is not None:
    raise ConverterError(f"{describe_op(unsupported, keras)} is not supported by the FreeML "
                         f"runtime (supported: {ops.supported_names()})")
  subgraph = root.subgraphs[0]
  dtypes = _dtype_names()
  buffers = root.buffers or []
  for layer, op in zip(graph.layers, subgraph.operators or [], strict=True):
    if layer.op in ops.FLOAT_EDGE_OPS:
      continue
    for k in [int(k) for k in op.inputs] + [int(k) for k in op.outputs]:
      if k < 0:
        continue
      tensor = subgraph.tensors[k]
      dtype = dtypes.get(tensor.type, str(tensor.type))
      constant = 0 < tensor.buffer < len(buffers) and _buffer_bytes(buffers[tensor.buffer],
                                                                    len(model)) > 0
      if dtype in _FLOAT_TYPES:
        kind = "hybrid: int8 weights" if _has_int8_constant(op, subgraph, buffers, model) \
            else "float: float weights"
        raise ConverterError(f"{describe_op(layer, keras)} computes in {dtype} ({kind}, {dtype} "
                             "activations); the FreeML runtime runs full-int8 models: convert "
                             "the float model with --data to quantize it fully")
      exit_accumulators = layer.op == ops.EXIT_ACCUMULATE and dtype == "int32" and k in (
          int(op.outputs[0]), int(op.inputs[2]))
      if not constant and dtype != "int8" and not exit_accumulators:
        raise ConverterError(f"{describe_op(layer, keras)} has {dtype} activations; the FreeML "
                             "runtime runs int8 activations only")
    if layer.op == "CONCATENATION":
      _check_concatenation(layer, op, subgraph, keras)
  return graph


def _has_int8_constant(op, subgraph, buffers, model: bytes) -> bool:
  int8 = _schema().TensorType.INT8
  for k in (int(k) for k in op.inputs):
    tensor = subgraph.tensors[k] if k >= 0 else None
    if (tensor is not None and tensor.type == int8 and 0 < tensor.buffer < len(buffers)
        and _buffer_bytes(buffers[tensor.buffer], len(model)) > 0):
      return True
  return False


def _check_concatenation(layer: LayerInfo, op, subgraph, keras: Optional[KerasLayers]) -> None:
  def params(k: int) -> Tuple[Optional[float], Optional[int]]:
    info = _tensor_info(subgraph.tensors[k], k, {})
    return info.scale, info.zero_point

  want = params(int(op.outputs[0]))
  for k in (int(k) for k in op.inputs):
    if params(k) != want:
      raise ConverterError(
          f"{describe_op(layer, keras)}: input scale/zero point {params(k)} differs from the "
          f"output's {want}; TFLM's int8 CONCATENATION does not requantize, so the FreeML "
          "runtime refuses it")


def input_output_summary(tensors: Sequence[TensorInfo]) -> str:
  """'int8 [1, 8, 8, 1] (scale 0.0039, zero point -128)' for messages and reports."""
  parts = []
  for t in tensors:
    quant = (f" (scale {t.scale:.6g}, zero point {t.zero_point})" if t.scale is not None
             else "")
    parts.append(f"{t.dtype} {list(t.shape)}{quant}")
  return ", ".join(parts)
