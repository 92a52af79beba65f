"""The golden test plan: a deterministic list of small int8 graphs that
covers every op and parameter the runtime supports.

Each case is built from a seeded generator, so the same names always give
the same bytes. Scales follow what TFLite's quantizer produces (bias scale =
input scale x filter scale; pooling and concatenation keep their input's
quantization, as TFLM requires).
"""

from __future__ import annotations

import dataclasses
import itertools
import zlib
from typing import Callable, Dict, List, Sequence

import numpy as np
from tensorflow.lite.python import schema_py_generated as schema

from tests.graphgen.builder import Graph, Op, Tensor, build

OPS = schema.BuiltinOperator
OPTS = schema.BuiltinOptions
ACTIVATIONS = {"none": 0, "relu": 1, "relu_n1_to_1": 2, "relu6": 3}
SAME, VALID = 0, 1


@dataclasses.dataclass(frozen=True)
class Case:
  name: str
  make: Callable[[np.random.Generator], Graph]

  def model(self) -> bytes:
    return build(self.make(self._rng()))

  def inputs(self, model_graph: Graph | None = None) -> List[np.ndarray]:
    graph = model_graph or self.make(self._rng())
    rng = np.random.default_rng(zlib.crc32(self.name.encode()) + 1)
    values = []
    for index in graph.inputs:
      t = graph.tensors[index]
      if t.dtype == "float32":
        values.append((rng.standard_normal(t.shape) * 2).astype(np.float32))
      else:
        values.append(rng.integers(-128, 128, size=t.shape, dtype=np.int8))
    return values

  def _rng(self) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(self.name.encode()))


def _act_tensor(shape, scale, zp, name="") -> Tensor:
  return Tensor(list(shape), "int8", float(scale), int(zp), name=name)


def _out_size(padding, size, k, stride, dilation=1):
  effective = (k - 1) * dilation + 1
  return (size + stride - 1) // stride if padding == SAME else (size + stride - effective) // stride


def conv(rng, n=1, h=7, w=6, cin=3, cout=4, k=(3, 3), stride=(1, 1), dilation=(1, 1),
         padding=SAME, act="none", per_channel=True, bias=True, groups=1, in_zp=None,
         depthwise=False, multiplier=1) -> Graph:
  g = Graph([], [], [], [])
  in_scale = float(rng.uniform(0.01, 0.1))
  in_zp = int(rng.integers(-128, 128)) if in_zp is None else in_zp
  x = g.add(_act_tensor((n, h, w, cin), in_scale, in_zp, "input"))
  if depthwise:
    cout = cin * multiplier
    f_shape, f_qdim, taps = (1, k[0], k[1], cout), 3, k[0] * k[1]
  else:
    f_shape, f_qdim, taps = (cout, k[0], k[1], cin // groups), 0, k[0] * k[1] * cin // groups
  f_scale = rng.uniform(0.002, 0.02, size=cout if per_channel else 1).astype(np.float32)
  f = g.add(Tensor(f_shape, "int8", f_scale.tolist(), [0] * len(f_scale), f_qdim,
                   rng.integers(-127, 128, size=f_shape, dtype=np.int8), "filter"))
  inputs = [x, f]
  if bias:
    b_scale = (in_scale * np.broadcast_to(f_scale, (cout,))).astype(np.float32)
    inputs.append(g.add(Tensor((cout,), "int32", b_scale.tolist(), [0] * cout, 0,
                               rng.integers(-3000, 3000, size=cout, dtype=np.int32), "bias")))
  oh = _out_size(padding, h, k[0], stride[0], dilation[0])
  ow = _out_size(padding, w, k[1], stride[1], dilation[1])
  out_scale = in_scale * float(f_scale.mean()) * 64 * np.sqrt(taps) * rng.uniform(0.5, 2)
  y = g.add(_act_tensor((n, oh, ow, cout), out_scale, int(rng.integers(-20, 20)), "output"))
  if depthwise:
    options = schema.DepthwiseConv2DOptionsT()
    options.depthMultiplier = multiplier
    code, options_type = OPS.DEPTHWISE_CONV_2D, OPTS.DepthwiseConv2DOptions
  else:
    options = schema.Conv2DOptionsT()
    code, options_type = OPS.CONV_2D, OPTS.Conv2DOptions
  options.padding = padding
  options.strideH, options.strideW = stride
  options.dilationHFactor, options.dilationWFactor = dilation
  options.fusedActivationFunction = ACTIVATIONS[act]
  g.ops.append(Op(code, inputs, [y], options_type, options))
  g.inputs, g.outputs = [x], [y]
  return g


def fully_connected(rng, batches=1, depth=20, units=7, per_channel=False, filter_zp=0,
                    bias=True, act="none", input_4d=False) -> Graph:
  g = Graph([], [], [], [])
  in_scale = float(rng.uniform(0.01, 0.1))
  shape = (batches, 1, 2, depth // 2) if input_4d else (batches, depth)
  x = g.add(_act_tensor(shape, in_scale, int(rng.integers(-128, 128)), "input"))
  f_scale = rng.uniform(0.002, 0.02, size=units if per_channel else 1).astype(np.float32)
  f = g.add(Tensor((units, depth), "int8", f_scale.tolist(),
                   [0] * units if per_channel else filter_zp, 0,
                   rng.integers(-127, 128, size=(units, depth), dtype=np.int8), "filter"))
  inputs = [x, f]
  if bias:
    b_scale = (in_scale * np.broadcast_to(f_scale, (units,))).astype(np.float32)
    inputs.append(g.add(Tensor((units,), "int32", b_scale.tolist() if per_channel
                               else float(b_scale[0]), 0, 0,
                               rng.integers(-3000, 3000, size=units, dtype=np.int32), "bias")))
  else:
    inputs.append(-1)
  out_scale = in_scale * float(f_scale.mean()) * 64 * np.sqrt(depth)
  y = g.add(_act_tensor((batches, units), out_scale, int(rng.integers(-20, 20)), "output"))
  options = schema.FullyConnectedOptionsT()
  options.fusedActivationFunction = ACTIVATIONS[act]
  g.ops.append(Op(OPS.FULLY_CONNECTED, inputs, [y], OPTS.FullyConnectedOptions, options))
  g.inputs, g.outputs = [x], [y]
  return g


def pool(rng, kind="avg", h=7, w=9, c=3, k=(2, 2), stride=(2, 2), padding=VALID,
         act="none", n=1) -> Graph:
  g = Graph([], [], [], [])
  scale, zp = float(rng.uniform(0.01, 0.1)), int(rng.integers(-30, 30))
  x = g.add(_act_tensor((n, h, w, c), scale, zp, "input"))
  oh = _out_size(padding, h, k[0], stride[0])
  ow = _out_size(padding, w, k[1], stride[1])
  y = g.add(_act_tensor((n, oh, ow, c), scale, zp, "output"))
  options = schema.Pool2DOptionsT()
  options.padding = padding
  options.strideH, options.strideW = stride
  options.filterHeight, options.filterWidth = k
  options.fusedActivationFunction = ACTIVATIONS[act]
  code = OPS.AVERAGE_POOL_2D if kind == "avg" else OPS.MAX_POOL_2D
  g.ops.append(Op(code, [x], [y], OPTS.Pool2DOptions, options))
  g.inputs, g.outputs = [x], [y]
  return g


def add(rng, shape1=(1, 4, 5, 3), shape2=(1, 4, 5, 3), act="none") -> Graph:
  g = Graph([], [], [], [])
  s1, s2 = float(rng.uniform(0.01, 0.1)), float(rng.uniform(0.01, 0.1))
  a = g.add(_act_tensor(shape1, s1, int(rng.integers(-128, 128)), "a"))
  b = g.add(_act_tensor(shape2, s2, int(rng.integers(-128, 128)), "b"))
  out_shape = tuple(max(p, q) for p, q in zip(shape1, shape2, strict=True))
  y = g.add(_act_tensor(out_shape, (s1 + s2) * rng.uniform(0.8, 1.5), int(rng.integers(-20, 20))))
  options = schema.AddOptionsT()
  options.fusedActivationFunction = ACTIVATIONS[act]
  g.ops.append(Op(OPS.ADD, [a, b], [y], OPTS.AddOptions, options))
  g.inputs, g.outputs = [a, b], [y]
  return g


def mean(rng, n=1, h=5, w=7, c=4, keep_dims=True, axes=(1, 2)) -> Graph:
  g = Graph([], [], [], [])
  x = g.add(_act_tensor((n, h, w, c), rng.uniform(0.01, 0.1), int(rng.integers(-128, 128))))
  ax = g.add(Tensor((len(axes),), "int32", data=np.array(axes, np.int32), name="axes"))
  y = g.add(_act_tensor((n, 1, 1, c) if keep_dims else (n, c), rng.uniform(0.005, 0.1),
                        int(rng.integers(-30, 30))))
  options = schema.ReducerOptionsT()
  options.keepDims = keep_dims
  g.ops.append(Op(OPS.MEAN, [x, ax], [y], OPTS.ReducerOptions, options))
  g.inputs, g.outputs = [x], [y]
  return g


def softmax(rng, rows=1, depth=10, beta=1.0) -> Graph:
  g = Graph([], [], [], [])
  x = g.add(_act_tensor((rows, depth), rng.uniform(0.02, 0.3), int(rng.integers(-128, 128))))
  y = g.add(_act_tensor((rows, depth), 1.0 / 256, -128))
  options = schema.SoftmaxOptionsT()
  options.beta = beta
  g.ops.append(Op(OPS.SOFTMAX, [x], [y], OPTS.SoftmaxOptions, options))
  g.inputs, g.outputs = [x], [y]
  return g


def pad(rng, shape=(1, 3, 4, 2), paddings=((0, 0), (1, 2), (0, 1), (0, 0)), v2=False) -> Graph:
  g = Graph([], [], [], [])
  scale, zp = float(rng.uniform(0.01, 0.1)), int(rng.integers(-50, 50))
  x = g.add(_act_tensor(shape, scale, zp))
  p = g.add(Tensor((len(shape), 2), "int32", data=np.array(paddings, np.int32), name="paddings"))
  out = tuple(s + lo + hi for s, (lo, hi) in zip(shape, paddings, strict=True))
  y = g.add(_act_tensor(out, scale, zp))
  inputs = [x, p]
  if v2:
    inputs.append(g.add(Tensor((1,), "int8", scale, zp,
                               data=np.array([rng.integers(-128, 128)], np.int8))))
    options_type, options, code = OPTS.PadV2Options, schema.PadV2OptionsT(), OPS.PADV2
  else:
    options_type, options, code = OPTS.PadOptions, schema.PadOptionsT(), OPS.PAD
  g.ops.append(Op(code, inputs, [y], options_type, options))
  g.inputs, g.outputs = [x], [y]
  return g


def concat(rng, shapes=((1, 2, 3, 4), (1, 2, 3, 5)), axis=3) -> Graph:
  g = Graph([], [], [], [])
  scale, zp = float(rng.uniform(0.01, 0.1)), int(rng.integers(-50, 50))
  xs = [g.add(_act_tensor(s, scale, zp)) for s in shapes]
  rank = len(shapes[0])
  ax = axis % rank
  out = list(shapes[0])
  out[ax] = sum(s[ax] for s in shapes)
  y = g.add(_act_tensor(out, scale, zp))
  options = schema.ConcatenationOptionsT()
  options.axis = axis
  g.ops.append(Op(OPS.CONCATENATION, xs, [y], OPTS.ConcatenationOptions, options))
  g.inputs, g.outputs = xs, [y]
  return g


def reshape(rng, shape=(1, 2, 3, 4), new_shape=(1, 24)) -> Graph:
  g = Graph([], [], [], [])
  scale, zp = float(rng.uniform(0.01, 0.1)), int(rng.integers(-50, 50))
  x = g.add(_act_tensor(shape, scale, zp))
  s = g.add(Tensor((len(new_shape),), "int32", data=np.array(new_shape, np.int32)))
  y = g.add(_act_tensor(new_shape, scale, zp))
  options = schema.ReshapeOptionsT()
  options.newShape = list(new_shape)
  g.ops.append(Op(OPS.RESHAPE, [x, s], [y], OPTS.ReshapeOptions, options))
  g.inputs, g.outputs = [x], [y]
  return g


def quantize(rng, shape=(1, 5, 6), from_float=True) -> Graph:
  g = Graph([], [], [], [])
  if from_float:
    x = g.add(Tensor(shape, "float32"))
  else:
    x = g.add(_act_tensor(shape, rng.uniform(0.01, 0.1), int(rng.integers(-128, 128))))
  y = g.add(_act_tensor(shape, rng.uniform(0.01, 0.1), int(rng.integers(-128, 128))))
  g.ops.append(Op(OPS.QUANTIZE, [x], [y]))
  g.inputs, g.outputs = [x], [y]
  return g


def dequantize(rng, shape=(2, 7)) -> Graph:
  g = Graph([], [], [], [])
  x = g.add(_act_tensor(shape, rng.uniform(0.01, 0.1), int(rng.integers(-128, 128))))
  y = g.add(Tensor(shape, "float32"))
  g.ops.append(Op(OPS.DEQUANTIZE, [x], [y]))
  g.inputs, g.outputs = [x], [y]
  return g


def chain(rng, steps: Sequence[Callable[[np.random.Generator, Graph, int], int]],
          input_shape=(1, 9, 9, 3)) -> Graph:
  """A multi-op graph: float input, QUANTIZE, the given int8 steps, and a
  DEQUANTIZE at the end."""
  g = Graph([], [], [], [])
  x = g.add(Tensor(input_shape, "float32", name="input"))
  q = g.add(_act_tensor(input_shape, 0.03, 5, "quantized"))
  g.ops.append(Op(OPS.QUANTIZE, [x], [q]))
  current = q
  for step in steps:
    current = step(rng, g, current)
  y = g.add(Tensor(g.tensors[current].shape, "float32", name="output"))
  g.ops.append(Op(OPS.DEQUANTIZE, [current], [y]))
  g.inputs, g.outputs = [x], [y]
  return g


def _graft(sub: Graph, g: Graph, current: int) -> int:
  """Appends a single-input subgraph `sub` to `g`, feeding it `current`
  (its input tensor must match the shape and quantization)."""
  mapping = {sub.inputs[0]: current}
  for i, t in enumerate(sub.tensors):
    if i not in mapping:
      mapping[i] = g.add(t)
  for op in sub.ops:
    g.ops.append(dataclasses.replace(op, inputs=[mapping.get(k, k) if k >= 0 else k
                                                 for k in op.inputs],
                                     outputs=[mapping[k] for k in op.outputs]))
  return mapping[sub.outputs[0]]


def _matching(sub_factory):
  """A chain step: builds an op whose input quantization equals the current
  tensor's, then grafts it."""
  def step(rng, g, current):
    t = g.tensors[current]
    sub = sub_factory(rng, t)
    sub.tensors[sub.inputs[0]] = dataclasses.replace(t)
    return _graft(sub, g, current)
  return step


def _conv_step(**kw):
  return _matching(lambda rng, t: conv(rng, n=t.shape[0], h=t.shape[1], w=t.shape[2],
                                       cin=t.shape[3], in_zp=t.zero_point, **kw))


def _dw_step(**kw):
  return _matching(lambda rng, t: conv(rng, n=t.shape[0], h=t.shape[1], w=t.shape[2],
                                       cin=t.shape[3], in_zp=t.zero_point, depthwise=True, **kw))


def _pool_step(kind, **kw):
  def make(rng, t):
    sub = pool(rng, kind, h=t.shape[1], w=t.shape[2], c=t.shape[3], **kw)
    out = sub.outputs[0]
    sub.tensors[out] = dataclasses.replace(sub.tensors[out], scale=t.scale, zero_point=t.zero_point)
    return sub
  return _matching(make)


def _flatten_step():
  def make(rng, t):
    return reshape(rng, tuple(t.shape), (t.shape[0], int(np.prod(t.shape[1:]))))
  return _matching(lambda rng, t: _same_quant(make(rng, t), t))


def _same_quant(sub: Graph, t: Tensor) -> Graph:
  out = sub.outputs[0]
  sub.tensors[out] = dataclasses.replace(sub.tensors[out], scale=t.scale, zero_point=t.zero_point)
  return sub


def _fc_step(units):
  def make(rng, t):
    sub = fully_connected(rng, batches=t.shape[0], depth=t.shape[1], units=units)
    return sub
  return _matching(make)


def _softmax_step():
  return _matching(lambda rng, t: softmax(rng, rows=t.shape[0], depth=t.shape[1]))


def _mean_step():
  return _matching(lambda rng, t: mean(rng, n=t.shape[0], h=t.shape[1], w=t.shape[2],
                                       c=t.shape[3], keep_dims=False))


def _residual_step():
  """x -> conv(same channels) -> ADD(x, conv(x)): a diamond."""
  def step(rng, g, current):
    t = g.tensors[current]
    branch = _conv_step(cout=t.shape[3], act="relu")(rng, g, current)
    b = g.tensors[branch]
    y = g.add(_act_tensor(t.shape, (t.scale + b.scale) * 1.1, 0))
    g.ops.append(Op(OPS.ADD, [current, branch], [y], OPTS.AddOptions, schema.AddOptionsT()))
    return y
  return step


def _pad_step():
  def make(rng, t):
    return _same_quant(pad(rng, tuple(t.shape), ((0, 0), (1, 1), (1, 1), (0, 0))), t)
  return _matching(make)


def all_cases() -> List[Case]:
  cases: List[Case] = []

  def case(name, make):
    cases.append(Case(name, make))

  # CONV_2D: kernel x stride x padding sweep, then dilation, groups, quant, activations.
  for k, s, p in itertools.product([1, 2, 3, 5], [1, 2, 3], [SAME, VALID]):
    case(f"conv_k{k}_s{s}_{'same' if p == SAME else 'valid'}",
         lambda rng, k=k, s=s, p=p: conv(rng, h=9, w=8, k=(k, k), stride=(s, s), padding=p))
  for d, p in itertools.product([2, 3], [SAME, VALID]):
    case(f"conv_dilation{d}_{p}", lambda rng, d=d, p=p: conv(rng, h=11, w=10, dilation=(d, d),
                                                             padding=p))
  case("conv_k3x1_s2x1", lambda rng: conv(rng, k=(3, 1), stride=(2, 1)))
  case("conv_groups2", lambda rng: conv(rng, cin=4, cout=6, groups=2))
  case("conv_groups3", lambda rng: conv(rng, cin=6, cout=3, groups=3, k=(1, 1)))
  for act in ACTIVATIONS:
    for pc in (True, False):
      case(f"conv_{act}_{'perchannel' if pc else 'pertensor'}",
           lambda rng, act=act, pc=pc: conv(rng, act=act, per_channel=pc))
  for zp in (-128, -1, 0, 77, 127):
    case(f"conv_input_zp{zp}", lambda rng, zp=zp: conv(rng, in_zp=zp))
  case("conv_no_bias", lambda rng: conv(rng, bias=False))
  case("conv_batch3", lambda rng: conv(rng, n=3, h=5, w=5))
  case("conv_wide_16ch", lambda rng: conv(rng, cin=16, cout=24, h=6, w=6))
  # DEPTHWISE_CONV_2D
  for m, k, s, p in itertools.product([1, 2, 3], [3, 5], [1, 2], [SAME, VALID]):
    case(f"dw_m{m}_k{k}_s{s}_{p}", lambda rng, m=m, k=k, s=s, p=p: conv(
        rng, h=9, w=9, cin=3, depthwise=True, multiplier=m, k=(k, k), stride=(s, s), padding=p))
  for d in (2, 3):
    case(f"dw_dilation{d}", lambda rng, d=d: conv(rng, h=11, w=11, depthwise=True,
                                                  dilation=(d, d)))
  for act in ACTIVATIONS:
    case(f"dw_{act}", lambda rng, act=act: conv(rng, depthwise=True, act=act))
  case("dw_pertensor", lambda rng: conv(rng, depthwise=True, per_channel=False))
  case("dw_no_bias_batch2", lambda rng: conv(rng, depthwise=True, bias=False, n=2))
  for zp in (-128, 127):
    case(f"dw_input_zp{zp}", lambda rng, zp=zp: conv(rng, depthwise=True, in_zp=zp))
  # FULLY_CONNECTED
  for b, pc, zp in itertools.product([1, 3], [False, True], [0, 5]):
    if pc and zp:
      continue
    case(f"fc_b{b}_{'perchannel' if pc else 'pertensor'}_fzp{zp}",
         lambda rng, b=b, pc=pc, zp=zp: fully_connected(rng, batches=b, per_channel=pc,
                                                        filter_zp=zp))
  for act in ACTIVATIONS:
    case(f"fc_{act}", lambda rng, act=act: fully_connected(rng, act=act))
  case("fc_input_4d", lambda rng: fully_connected(rng, input_4d=True))
  case("fc_no_bias", lambda rng: fully_connected(rng, bias=False))
  case("fc_deep", lambda rng: fully_connected(rng, depth=300, units=12))
  # Pooling
  for kind, k, s, p in itertools.product(["avg", "max"], [1, 2, 3], [1, 2, 3], [SAME, VALID]):
    case(f"{kind}pool_k{k}_s{s}_{p}", lambda rng, kind=kind, k=k, s=s, p=p: pool(
        rng, kind, k=(k, k), stride=(s, s), padding=p))
  for kind, act in itertools.product(["avg", "max"], ACTIVATIONS):
    case(f"{kind}pool_{act}", lambda rng, kind=kind, act=act: pool(rng, kind, act=act))
  case("avgpool_batch2_k4x2", lambda rng: pool(rng, "avg", n=2, k=(4, 2), stride=(1, 2)))
  case("maxpool_global", lambda rng: pool(rng, "max", k=(7, 9), stride=(1, 1)))
  # ADD
  for shape2 in [(1, 4, 5, 3), (1, 1, 1, 3), (1, 4, 1, 3), (1, 1, 5, 1), (1, 1, 1, 1)]:
    case(f"add_broadcast_{'x'.join(map(str, shape2))}",
         lambda rng, shape2=shape2: add(rng, shape2=shape2))
  case("add_broadcast_first", lambda rng: add(rng, shape1=(1, 1, 5, 3)))
  case("add_both_broadcast", lambda rng: add(rng, shape1=(1, 4, 1, 3), shape2=(1, 1, 5, 3)))
  case("add_batch2", lambda rng: add(rng, shape1=(2, 3, 3, 4), shape2=(2, 3, 3, 4)))
  case("add_2d", lambda rng: add(rng, shape1=(3, 10), shape2=(3, 10)))
  for act in ACTIVATIONS:
    case(f"add_{act}", lambda rng, act=act: add(rng, act=act))
  for i in range(6):
    case(f"add_random_scales_{i}", lambda rng: add(rng))
  # MEAN
  for h, w in [(5, 7), (7, 7), (1, 1), (3, 4), (8, 8), (2, 9)]:
    for keep in (True, False):
      case(f"mean_{h}x{w}_keep{int(keep)}", lambda rng, h=h, w=w, keep=keep: mean(
          rng, h=h, w=w, keep_dims=keep))
  case("mean_axes_reversed_negative", lambda rng: mean(rng, axes=(-2, 1)))
  case("mean_batch2", lambda rng: mean(rng, n=2))
  # SOFTMAX
  for depth in (1, 2, 10, 12, 37, 100):
    for beta in (1.0, 0.7):
      case(f"softmax_d{depth}_beta{beta}", lambda rng, depth=depth, beta=beta: softmax(
          rng, rows=3, depth=depth, beta=beta))
  case("softmax_one_row_2", lambda rng: softmax(rng, rows=1, depth=2))
  # PAD / PADV2
  for paddings in [((0, 0), (1, 2), (0, 1), (0, 0)), ((1, 0), (0, 0), (0, 0), (2, 1)),
                   ((0, 0), (3, 3), (3, 3), (0, 0)), ((0, 0), (0, 0), (0, 0), (0, 0))]:
    flat = "_".join(f"{a}{b}" for a, b in paddings)
    case(f"pad_{flat}", lambda rng, paddings=paddings: pad(rng, paddings=paddings))
    case(f"padv2_{flat}", lambda rng, paddings=paddings: pad(rng, paddings=paddings, v2=True))
  case("pad_2d", lambda rng: pad(rng, shape=(3, 4), paddings=((1, 1), (0, 2))))
  # CONCATENATION
  for axis in (1, 2, 3, -1, -3):
    case(f"concat_axis{axis}", lambda rng, axis=axis: concat(
        rng, ((1, 2, 3, 4), (1, 2, 3, 4)), axis))
  case("concat_3_inputs", lambda rng: concat(rng, ((1, 2, 2, 1), (1, 2, 2, 3), (1, 2, 2, 2)), 3))
  case("concat_4_inputs_axis1", lambda rng: concat(rng, ((1, 1, 3, 2),) * 4, 1))
  case("concat_2d", lambda rng: concat(rng, ((2, 3), (2, 5)), 1))
  # RESHAPE, QUANTIZE, DEQUANTIZE
  case("reshape_flatten", lambda rng: reshape(rng))
  case("reshape_to_4d", lambda rng: reshape(rng, (1, 24), (1, 2, 3, 4)))
  for i, shape in enumerate([(1, 5, 6), (2, 3), (1, 4, 4, 3), (37,)]):
    case(f"quantize_f32_{i}", lambda rng, shape=shape: quantize(rng, shape))
    case(f"requantize_{i}", lambda rng, shape=shape: quantize(rng, shape, from_float=False))
    case(f"dequantize_{i}", lambda rng, shape=shape: dequantize(rng, shape))
  # Multi-op chains.
  chains = {
      "chain_cnn_classifier": [_conv_step(cout=6, act="relu"), _dw_step(act="relu6"),
                               _pool_step("max"), _flatten_step(), _fc_step(10),
                               _softmax_step()],
      "chain_residual": [_conv_step(cout=4, act="relu"), _residual_step(), _residual_step(),
                         _mean_step(), _fc_step(5)],
      "chain_conv_mean_fc": [_conv_step(cout=8, stride=(2, 2)), _mean_step(), _fc_step(3),
                             _softmax_step()],
      "chain_pad_conv_valid": [_pad_step(), _conv_step(cout=5, padding=VALID), _pool_step("avg")],
      "chain_dw_stack": [_dw_step(multiplier=2), _dw_step(), _conv_step(cout=3, k=(1, 1))],
      "chain_dilated": [_conv_step(cout=4, dilation=(2, 2)), _pool_step("max", k=(3, 3),
                                                                         stride=(1, 1))],
  }
  for name, steps in chains.items():
    for seed in range(4):
      case(f"{name}_{seed}", lambda rng, steps=steps: chain(rng, steps))
  return cases


CASES: Dict[str, Case] = {c.name: c for c in all_cases()}
