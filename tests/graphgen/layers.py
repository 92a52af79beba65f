"""Layer helpers that grow a Graph one int8 op at a time.

Each method appends one op with the quantization TFLite's quantizer would
give it, and that TFLM's Prepare accepts, and returns its output tensor
index, so single-op cases and multi-op chains read the same way:

  n = Net(rng)
  x = n.quantize(n.input((1, 9, 9, 3), "float32"))
  x = n.conv(x, 6, act="relu")
  n.dequantize(n.softmax(n.fc(n.flatten(n.max_pool(x, 2, 2)), 10)))

Quantization rules followed (the prepare-time rejections are listed in the
shared notes, tflm-int8-arithmetic.md section 12):
- conv / depthwise / FC: bias is int32 with scale = input scale x filter
  scale (per channel when the filter is), zero point 0; filter zero points
  are 0 except on per-tensor FC filters when asked.
- pooling, pad, reshape and concatenation keep their input's (scale, zero
  point); concatenation inputs must already share one.
- softmax outputs (1/256, -128).
- ADD output scale is near the sum of its input scales, so its output
  multiplier stays below 1.
Unless given, scales and zero points are drawn from the Net's generator.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple, Union

import numpy as np
from tensorflow.lite.python import schema_py_generated as schema

from tests.graphgen.builder import Graph, Op, Tensor

OPS = schema.BuiltinOperator
OPTIONS = schema.BuiltinOptions
ACTIVATIONS = {"none": schema.ActivationFunctionType.NONE,
               "relu": schema.ActivationFunctionType.RELU,
               "relu_n1_to_1": schema.ActivationFunctionType.RELU_N1_TO_1,
               "relu6": schema.ActivationFunctionType.RELU6}
PADDINGS = {"same": schema.Padding.SAME, "valid": schema.Padding.VALID}
_OP_NAMES = {code: name for name, code in vars(OPS).items() if not name.startswith("_")}

Pair = Union[int, Tuple[int, int]]
Quant = Tuple[float, int]


def _pair(value: Pair) -> Tuple[int, int]:
  return (value, value) if isinstance(value, int) else tuple(value)


def out_size(padding: str, size: int, k: int, stride: int, dilation: int = 1) -> int:
  """TFLite's output size (ComputeOutSize)."""
  effective = (k - 1) * dilation + 1
  if padding == "same":
    return (size + stride - 1) // stride
  return (size + stride - effective) // stride


class Net:
  """A Graph under construction plus the generator its random choices use."""

  def __init__(self, rng: np.random.Generator):
    self.rng = rng
    self.graph = Graph()

  # -- tensors -------------------------------------------------------------

  def shape(self, x: int) -> Tuple[int, ...]:
    return tuple(self.graph.tensors[x].shape)

  def quant(self, x: int) -> Quant:
    t = self.graph.tensors[x]
    return float(t.scale), int(t.zero_point)

  def _name(self, role: str) -> str:
    """`op3/filter`: the op about to be appended, and the tensor's role."""
    return f"op{len(self.graph.ops)}/{role}"

  def _scale(self, low: float = 0.01, high: float = 0.1) -> float:
    return float(np.float32(self.rng.uniform(low, high)))

  def _zp(self, low: int = -128, high: int = 127) -> int:
    return int(self.rng.integers(low, high + 1))

  def activation(self, shape: Sequence[int], quant: Optional[Quant], name: str,
                 dtype: str = "int8") -> int:
    if dtype == "float32":
      return self.graph.add(Tensor(tuple(shape), "float32", name=name))
    scale, zp = quant
    return self.graph.add(Tensor(tuple(shape), dtype, float(scale), int(zp), name=name))

  def constant(self, data: np.ndarray, dtype: str, name: str, scale=None, zero_point=0,
               quantized_dimension: int = 0) -> int:
    data = np.asarray(data)
    return self.graph.add(Tensor(data.shape, dtype, scale, zero_point, quantized_dimension,
                                 data, name))

  def input(self, shape: Sequence[int], dtype: str = "int8", scale: Optional[float] = None,
            zp: Optional[int] = None) -> int:
    """A graph input; int8 ones get a random (scale, zero point) unless given."""
    quant = None
    if dtype != "float32":
      quant = (self._scale() if scale is None else scale, self._zp() if zp is None else zp)
    x = self.activation(shape, quant, f"input{len(self.graph.inputs)}", dtype)
    self.graph.inputs.append(x)
    return x

  def output(self, *xs: int) -> None:
    self.graph.outputs.extend(xs)

  def _append(self, code: int, inputs, outputs, options_type=0, options=None) -> None:
    self.graph.ops.append(Op(code, list(inputs), list(outputs), options_type, options))

  # -- conv family ---------------------------------------------------------

  def _filter_and_bias(self, x: int, filter_shape, quantized_dimension: int, cout: int,
                       per_channel: bool, bias: bool, filter_max: int,
                       filter_zp: int = 0):
    in_scale, _ = self.quant(x)
    f_scale = self.rng.uniform(0.002, 0.02, size=cout if per_channel else 1).astype(np.float32)
    weights = self.rng.integers(-filter_max, filter_max + 1, size=filter_shape, dtype=np.int8)
    f = self.constant(weights, "int8", self._name("filter"), f_scale.tolist(),
                      [0] * cout if per_channel else filter_zp, quantized_dimension)
    if not bias:
      return f, -1, f_scale
    b_scale = (np.float32(in_scale) * f_scale).astype(np.float32)
    b = self.constant(self.rng.integers(-3000, 3001, size=cout, dtype=np.int32), "int32",
                      self._name("bias"), b_scale.tolist(), [0] * len(b_scale))
    return f, b, f_scale

  def _out_quant(self, x: int, f_scale: np.ndarray, taps: int, filter_max: int,
                 out: Optional[Quant]) -> Quant:
    """An output scale that keeps most accumulators in range, as a
    calibrated quantizer would (some still saturate)."""
    if out is not None:
      return out
    in_scale, _ = self.quant(x)
    spread = float(f_scale.mean()) * filter_max / 2 * math.sqrt(taps)
    return float(np.float32(in_scale * spread * self.rng.uniform(0.5, 2.0))), self._zp(-40, 40)

  def conv(self, x: int, cout: int, k: Pair = 3, stride: Pair = 1, dilation: Pair = 1,
           padding: str = "same", act: str = "none", per_channel: bool = True,
           bias: bool = True, groups: int = 1, out: Optional[Quant] = None,
           filter_max: int = 127) -> int:
    """CONV_2D; groups > 1 gives a filter with in_c / groups input channels."""
    n, h, w, cin = self.shape(x)
    (kh, kw), (sh, sw), (dh, dw) = _pair(k), _pair(stride), _pair(dilation)
    assert cin % groups == 0 and cout % groups == 0
    f, b, f_scale = self._filter_and_bias(x, (cout, kh, kw, cin // groups), 0, cout,
                                          per_channel, bias, filter_max)
    oh, ow = out_size(padding, h, kh, sh, dh), out_size(padding, w, kw, sw, dw)
    quant = self._out_quant(x, f_scale, kh * kw * cin // groups, filter_max, out)
    y = self.activation((n, oh, ow, cout), quant, self._name("conv_2d"))
    options = schema.Conv2DOptionsT()
    options.padding = PADDINGS[padding]
    options.strideH, options.strideW = sh, sw
    options.dilationHFactor, options.dilationWFactor = dh, dw
    options.fusedActivationFunction = ACTIVATIONS[act]
    self._append(OPS.CONV_2D, [x, f, b] if bias else [x, f], [y],
                 OPTIONS.Conv2DOptions, options)
    return y

  def depthwise(self, x: int, multiplier: int = 1, k: Pair = 3, stride: Pair = 1,
                dilation: Pair = 1, padding: str = "same", act: str = "none",
                per_channel: bool = True, bias: bool = True, out: Optional[Quant] = None,
                filter_max: int = 127) -> int:
    n, h, w, cin = self.shape(x)
    (kh, kw), (sh, sw), (dh, dw) = _pair(k), _pair(stride), _pair(dilation)
    cout = cin * multiplier
    f, b, f_scale = self._filter_and_bias(x, (1, kh, kw, cout), 3, cout, per_channel, bias,
                                          filter_max)
    oh, ow = out_size(padding, h, kh, sh, dh), out_size(padding, w, kw, sw, dw)
    quant = self._out_quant(x, f_scale, kh * kw, filter_max, out)
    y = self.activation((n, oh, ow, cout), quant, self._name("depthwise_conv_2d"))
    options = schema.DepthwiseConv2DOptionsT()
    options.padding = PADDINGS[padding]
    options.strideH, options.strideW = sh, sw
    options.dilationHFactor, options.dilationWFactor = dh, dw
    options.depthMultiplier = multiplier
    options.fusedActivationFunction = ACTIVATIONS[act]
    self._append(OPS.DEPTHWISE_CONV_2D, [x, f, b] if bias else [x, f], [y],
                 OPTIONS.DepthwiseConv2DOptions, options)
    return y

  def fc(self, x: int, units: int, per_channel: bool = False, filter_zp: int = 0,
         bias: bool = True, act: str = "none", out: Optional[Quant] = None,
         filter_max: int = 127) -> int:
    """FULLY_CONNECTED; inputs of any rank are read as [dim 0, the rest]."""
    shape = self.shape(x)
    batches, depth = shape[0], int(np.prod(shape[1:]))
    f, b, f_scale = self._filter_and_bias(x, (units, depth), 0, units, per_channel, bias,
                                          filter_max, filter_zp)
    quant = self._out_quant(x, f_scale, depth, filter_max, out)
    y = self.activation((batches, units), quant, self._name("fully_connected"))
    options = schema.FullyConnectedOptionsT()
    options.fusedActivationFunction = ACTIVATIONS[act]
    self._append(OPS.FULLY_CONNECTED, [x, f, b], [y], OPTIONS.FullyConnectedOptions, options)
    return y

  # -- elementwise and pooling ---------------------------------------------

  def add(self, a: int, b: int, act: str = "none", out: Optional[Quant] = None) -> int:
    """ADD with 4D (or equal-rank) broadcasting of either input."""
    shape = tuple(max(p, q) for p, q in zip(self.shape(a), self.shape(b), strict=True))
    if out is None:
      s1, s2 = self.quant(a)[0], self.quant(b)[0]
      out = (float(np.float32((s1 + s2) * self.rng.uniform(0.7, 1.5))), self._zp(-40, 40))
    y = self.activation(shape, out, self._name("add"))
    options = schema.AddOptionsT()
    options.fusedActivationFunction = ACTIVATIONS[act]
    self._append(OPS.ADD, [a, b], [y], OPTIONS.AddOptions, options)
    return y

  def _pool(self, code: int, x: int, k: Pair, stride: Pair, padding: str, act: str) -> int:
    n, h, w, c = self.shape(x)
    (kh, kw), (sh, sw) = _pair(k), _pair(stride)
    shape = (n, out_size(padding, h, kh, sh), out_size(padding, w, kw, sw), c)
    y = self.activation(shape, self.quant(x), self._name(_OP_NAMES[code].lower()))
    options = schema.Pool2DOptionsT()
    options.padding = PADDINGS[padding]
    options.strideH, options.strideW = sh, sw
    options.filterHeight, options.filterWidth = kh, kw
    options.fusedActivationFunction = ACTIVATIONS[act]
    self._append(code, [x], [y], OPTIONS.Pool2DOptions, options)
    return y

  def avg_pool(self, x: int, k: Pair = 2, stride: Pair = 2, padding: str = "valid",
               act: str = "none") -> int:
    return self._pool(OPS.AVERAGE_POOL_2D, x, k, stride, padding, act)

  def max_pool(self, x: int, k: Pair = 2, stride: Pair = 2, padding: str = "valid",
               act: str = "none") -> int:
    return self._pool(OPS.MAX_POOL_2D, x, k, stride, padding, act)

  def mean(self, x: int, axes: Sequence[int] = (1, 2), keep_dims: bool = True,
           out: Optional[Quant] = None) -> int:
    shape = self.shape(x)
    reduced = {a % len(shape) for a in axes}
    out_shape = [1 if i in reduced else d for i, d in enumerate(shape)
                 if keep_dims or i not in reduced]
    if out is None:  # centred where the mean of the input's range falls
      in_scale, in_zp = self.quant(x)
      scale = float(np.float32(in_scale * self.rng.uniform(0.3, 1.5)))
      zp = int(np.clip(round(in_zp * in_scale / scale) + self._zp(-20, 20), -128, 127))
      out = (scale, zp)
    ax = self.constant(np.array(axes, np.int32), "int32", self._name("axes"))
    y = self.activation(out_shape, out, self._name("mean"))
    options = schema.ReducerOptionsT()
    options.keepDims = keep_dims
    self._append(OPS.MEAN, [x, ax], [y], OPTIONS.ReducerOptions, options)
    return y

  def softmax(self, x: int, beta: float = 1.0) -> int:
    y = self.activation(self.shape(x), (1.0 / 256, -128), self._name("softmax"))
    options = schema.SoftmaxOptionsT()
    options.beta = beta
    self._append(OPS.SOFTMAX, [x], [y], OPTIONS.SoftmaxOptions, options)
    return y

  # -- data movement -------------------------------------------------------

  def pad(self, x: int, paddings: Sequence[Tuple[int, int]],
          constant: Optional[int] = None, constant_shape: Sequence[int] = ()) -> int:
    """PAD, or PADV2 when a raw int8 `constant` fill value is given."""
    shape = tuple(d + lo + hi for d, (lo, hi) in zip(self.shape(x), paddings, strict=True))
    p = self.constant(np.array(paddings, np.int32), "int32", self._name("paddings"))
    inputs = [x, p]
    if constant is None:
      code, options_type, options = OPS.PAD, OPTIONS.PadOptions, schema.PadOptionsT()
    else:
      scale, zp = self.quant(x)
      inputs.append(self.constant(np.full(constant_shape, constant, np.int8), "int8",
                                  self._name("constant_values"), scale, zp))
      code, options_type, options = OPS.PADV2, OPTIONS.PadV2Options, schema.PadV2OptionsT()
    y = self.activation(shape, self.quant(x), self._name(_OP_NAMES[code].lower()))
    self._append(code, inputs, [y], options_type, options)
    return y

  def concat(self, xs: Sequence[int], axis: int) -> int:
    """CONCATENATION; TFLM needs every input at the output's quantization."""
    quants = {self.quant(x) for x in xs}
    assert len(quants) == 1, f"concatenation inputs differ in quantization: {quants}"
    shapes = [self.shape(x) for x in xs]
    out = list(shapes[0])
    out[axis % len(out)] = sum(s[axis % len(out)] for s in shapes)
    y = self.activation(out, quants.pop(), self._name("concatenation"))
    options = schema.ConcatenationOptionsT()
    options.axis = axis
    self._append(OPS.CONCATENATION, xs, [y], OPTIONS.ConcatenationOptions, options)
    return y

  def reshape(self, x: int, new_shape: Sequence[int]) -> int:
    """RESHAPE; the shape input may hold one -1, the output tensor's shape is
    always resolved."""
    size = int(np.prod(self.shape(x)))
    known = int(np.prod([d for d in new_shape if d != -1]))
    resolved = [size // known if d == -1 else d for d in new_shape]
    s = self.constant(np.array(new_shape, np.int32), "int32", self._name("shape"))
    y = self.activation(resolved, self.quant(x), self._name("reshape"))
    options = schema.ReshapeOptionsT()
    options.newShape = list(new_shape)
    self._append(OPS.RESHAPE, [x, s], [y], OPTIONS.ReshapeOptions, options)
    return y

  def flatten(self, x: int) -> int:
    return self.reshape(x, (self.shape(x)[0], -1))

  # -- edges ---------------------------------------------------------------

  def quantize(self, x: int, out: Optional[Quant] = None) -> int:
    """QUANTIZE float32 -> int8, or int8 -> int8 (requantize)."""
    if out is None:
      out = (self._scale(0.01, 0.05), self._zp(-40, 40))
    y = self.activation(self.shape(x), out, self._name("quantize"))
    self._append(OPS.QUANTIZE, [x], [y])
    return y

  def dequantize(self, x: int) -> int:
    y = self.activation(self.shape(x), None, self._name("dequantize"), "float32")
    self._append(OPS.DEQUANTIZE, [x], [y])
    return y

  def op(self, code: int, inputs: Sequence[int], out_shape: Sequence[int],
         out_quant: Optional[Quant], dtype: str = "int8") -> int:
    """Any other builtin op without options (for the refusal tests)."""
    y = self.activation(out_shape, out_quant, self._name(_OP_NAMES[code].lower()), dtype)
    self._append(code, inputs, [y])
    return y
