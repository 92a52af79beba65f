"""The golden test plan: a deterministic list of small int8 graphs covering
every op and parameter the FreeML runtime supports.

A case is a name, a function that builds the graph on a layers.Net, and how
to draw its input data. Each case's generator is seeded from its name, so a
name always gives the same model bytes and inputs, whatever else is in the
plan. Every case is accepted and run by TFLM (tests/runtime/
test_generated_graphs.py::test_cases_run_on_tflm checks it).
"""

from __future__ import annotations

import dataclasses
import itertools
import zlib
from typing import Callable, Dict, List, Union

import numpy as np

from tests.graphgen.builder import DTYPES, Graph, Tensor, build
from tests.graphgen.layers import ACTIVATIONS, Net

# -- input data ---------------------------------------------------------------

InputData = Callable[[np.random.Generator, Tensor], np.ndarray]


def uniform(rng: np.random.Generator, t: Tensor) -> np.ndarray:
  """int8: the whole range. float32: N(0, 2), some of it beyond the
  quantizer's range."""
  if t.dtype == "float32":
    return (rng.standard_normal(t.shape) * 2).astype(np.float32)
  info = np.iinfo(DTYPES[t.dtype])
  return rng.integers(info.min, info.max + 1, size=t.shape, dtype=DTYPES[t.dtype])


def extremes(rng: np.random.Generator, t: Tensor) -> np.ndarray:
  """Only the ends of the range: the largest accumulators and sums, and
  saturation on both sides."""
  if t.dtype == "float32":
    return rng.choice(np.array([-1e4, -50.0, 0.0, 50.0, 1e4], np.float32), size=t.shape)
  return rng.choice(np.array([-128, 127], np.int8), size=t.shape)


def near_zero_point(rng: np.random.Generator, t: Tensor) -> np.ndarray:
  """Small real values: outputs far from saturation."""
  values = t.zero_point + rng.integers(-3, 4, size=t.shape)
  return np.clip(values, -128, 127).astype(np.int8)


def half_steps(scale: float) -> InputData:
  """Floats at exactly (k + 1/2) x scale (scale a power of two, so that
  x / scale is exact): the rounding ties of QUANTIZE."""
  def draw(rng: np.random.Generator, t: Tensor) -> np.ndarray:
    return ((rng.integers(-160, 160, size=t.shape) + 0.5) * scale).astype(np.float32)
  return draw


# -- the case type ------------------------------------------------------------

Outputs = Union[int, tuple]


@dataclasses.dataclass(frozen=True)
class Case:
  name: str
  make: Callable[[Net], Outputs]  # grows the net, returns the graph output(s)
  data: InputData = uniform

  def _seed(self, salt: int = 0) -> int:
    return zlib.crc32(self.name.encode()) + salt

  def graph(self) -> Graph:
    net = Net(np.random.default_rng(self._seed()))
    outputs = self.make(net)
    if not net.graph.outputs:
      net.output(*(outputs if isinstance(outputs, tuple) else (outputs,)))
    return net.graph

  def model(self) -> bytes:
    return build(self.graph())

  def inputs(self, graph: Graph | None = None) -> List[np.ndarray]:
    graph = graph or self.graph()
    rng = np.random.default_rng(self._seed(salt=1))
    return [self.data(rng, graph.tensors[i]) for i in graph.inputs]


# -- the plan -----------------------------------------------------------------

PLAN: List[Case] = []


def case(name: str, make: Callable[[Net], Outputs], data: InputData = uniform) -> None:
  PLAN.append(Case(name, make, data))


def logit_scale(n: Net) -> float:
  """Softmax input scales that leave most outputs above the -128 floor."""
  return float(np.float32(n.rng.uniform(0.005, 0.06)))


def image(n: Net, h: int = 9, w: int = 8, c: int = 3, batch: int = 1, **quant) -> int:
  return n.input((batch, h, w, c), **quant)


# CONV_2D ---------------------------------------------------------------------
for k, s, p in itertools.product([1, 2, 3, 4, 5], [1, 2, 3], ["same", "valid"]):
  case(f"conv_k{k}_s{s}_{p}", lambda n, k=k, s=s, p=p: n.conv(image(n), 4, k, s, padding=p))
for d, s, p in itertools.product([2, 3], [1, 2], ["same", "valid"]):
  case(f"conv_dilation{d}_s{s}_{p}",
       lambda n, d=d, s=s, p=p: n.conv(image(n, 11, 10), 4, 3, s, d, padding=p))
case("conv_k3x1_s2x1", lambda n: n.conv(image(n), 4, (3, 1), (2, 1)))
case("conv_k1x5_s1x2_valid", lambda n: n.conv(image(n), 3, (1, 5), (1, 2), padding="valid"))
case("conv_k2x4_dilation1x2", lambda n: n.conv(image(n, 8, 12), 5, (2, 4), dilation=(1, 2)))
case("conv_groups2", lambda n: n.conv(image(n, c=4), 6, groups=2))
case("conv_groups3_k1", lambda n: n.conv(image(n, c=6), 3, k=1, groups=3))
case("conv_groups4_s2_valid", lambda n: n.conv(image(n, c=8), 8, stride=2, padding="valid",
                                               groups=4))
case("conv_groups_equal_channels", lambda n: n.conv(image(n, c=4), 8, groups=4))
for act, per_channel in itertools.product(ACTIVATIONS, [True, False]):
  case(f"conv_{act}_{'per_channel' if per_channel else 'per_tensor'}",
       lambda n, act=act, pc=per_channel: n.conv(image(n), 4, act=act, per_channel=pc))
for zp in (-128, -1, 0, 77, 127):
  case(f"conv_input_zp{zp}", lambda n, zp=zp: n.conv(image(n, zp=zp), 4))
case("conv_no_bias_per_channel", lambda n: n.conv(image(n), 4, bias=False))
case("conv_no_bias_per_tensor", lambda n: n.conv(image(n), 4, bias=False, per_channel=False))
case("conv_batch3", lambda n: n.conv(image(n, 5, 5, batch=3), 4))
case("conv_batch2_s2_valid_relu", lambda n: n.conv(image(n, batch=2), 5, 3, 2, padding="valid",
                                                   act="relu"))
case("conv_16_to_24_channels", lambda n: n.conv(image(n, 6, 6, 16), 24))
case("conv_1x1_image_k3_same", lambda n: n.conv(image(n, 1, 1, 5), 3))
case("conv_kernel_covers_image", lambda n: n.conv(image(n, 5, 4), 6, (5, 4), padding="valid"))
case("conv_multiplier_above_one",  # output multiplier > 1: a left shift in MBQM
     lambda n: n.conv(image(n, c=2, scale=0.05), 3, 1, bias=False, out=(0.00008, 3), filter_max=3),
     near_zero_point)
case("conv_extreme_inputs", lambda n: n.conv(image(n, c=8), 4, act="relu6"), extremes)

# DEPTHWISE_CONV_2D -----------------------------------------------------------
for m, k, s, p in itertools.product([1, 2, 3], [3, 5], [1, 2], ["same", "valid"]):
  case(f"dw_m{m}_k{k}_s{s}_{p}",
       lambda n, m=m, k=k, s=s, p=p: n.depthwise(image(n, 9, 9), m, k, s, padding=p))
for k in (1, 2, 4):
  case(f"dw_k{k}", lambda n, k=k: n.depthwise(image(n), 1, k))
case("dw_k3x2_s3x1", lambda n: n.depthwise(image(n, 10, 7), 2, (3, 2), (3, 1)))
for d, m in itertools.product([2, 3], [1, 2]):
  case(f"dw_dilation{d}_m{m}", lambda n, d=d, m=m: n.depthwise(image(n, 11, 11), m, dilation=d))
for act in ACTIVATIONS:
  case(f"dw_{act}", lambda n, act=act: n.depthwise(image(n), 2, act=act))
case("dw_per_tensor", lambda n: n.depthwise(image(n), per_channel=False))
case("dw_per_tensor_m3_relu", lambda n: n.depthwise(image(n), 3, per_channel=False, act="relu"))
case("dw_no_bias_batch2", lambda n: n.depthwise(image(n, batch=2), bias=False))
for zp in (-128, 127):
  case(f"dw_input_zp{zp}", lambda n, zp=zp: n.depthwise(image(n, zp=zp), 2))
case("dw_16_channels", lambda n: n.depthwise(image(n, 7, 7, 16), act="relu6"))
case("dw_extreme_inputs", lambda n: n.depthwise(image(n), 2, 5), extremes)

# FULLY_CONNECTED ---------------------------------------------------------------
for b, (kind, pc, fzp) in itertools.product(
    [1, 3], [("per_tensor", False, 0), ("per_tensor_fzp5", False, 5),
             ("per_tensor_fzp-9", False, -9), ("per_channel", True, 0)]):
  case(f"fc_b{b}_{kind}", lambda n, b=b, pc=pc, fzp=fzp: n.fc(
      n.input((b, 20)), 7, per_channel=pc, filter_zp=fzp))
for act in ACTIVATIONS:
  case(f"fc_{act}", lambda n, act=act: n.fc(n.input((2, 16)), 9, act=act))
case("fc_input_4d", lambda n: n.fc(image(n, 2, 3, 4), 6))
case("fc_input_4d_batch2_per_channel", lambda n: n.fc(image(n, 3, 3, 2, batch=2), 5,
                                                      per_channel=True))
case("fc_no_bias_per_tensor", lambda n: n.fc(n.input((2, 20)), 7, bias=False))
case("fc_no_bias_per_channel", lambda n: n.fc(n.input((1, 20)), 7, bias=False,
                                                  per_channel=True))
case("fc_300_to_12", lambda n: n.fc(n.input((1, 300)), 12))
case("fc_one_unit", lambda n: n.fc(n.input((4, 8)), 1))
for zp in (-128, 127):
  case(f"fc_input_zp{zp}", lambda n, zp=zp: n.fc(n.input((2, 24), zp=zp), 5, filter_zp=3))
case("fc_extreme_inputs", lambda n: n.fc(n.input((3, 64)), 8, per_channel=True), extremes)

# ADD --------------------------------------------------------------------------
for shape_a, shape_b in [((1, 4, 5, 3), (1, 4, 5, 3)), ((1, 4, 5, 3), (1, 1, 1, 3)),
                         ((1, 4, 5, 3), (1, 4, 1, 3)), ((1, 4, 5, 3), (1, 1, 5, 1)),
                         ((1, 4, 5, 3), (1, 1, 1, 1)), ((1, 1, 5, 3), (1, 4, 5, 3)),
                         ((1, 4, 1, 3), (1, 1, 5, 3)), ((2, 1, 1, 3), (1, 4, 5, 3)),
                         ((2, 3, 3, 4), (2, 3, 3, 4)), ((3, 10), (3, 10)), ((3, 1), (1, 10))]:
  name = "x".join(map(str, shape_a)) + "_plus_" + "x".join(map(str, shape_b))
  case(f"add_{name}", lambda n, a=shape_a, b=shape_b: n.add(n.input(a), n.input(b)))
for act in ACTIVATIONS:
  case(f"add_{act}", lambda n, act=act: n.add(image(n, 4, 5), image(n, 4, 5), act))
for i in range(4):
  case(f"add_random_quant_{i}", lambda n: n.add(image(n, 3, 4), image(n, 3, 4)))
case("add_equal_quant", lambda n: n.add(image(n, 3, 4, scale=0.05, zp=3),
                                        image(n, 3, 4, scale=0.05, zp=3)))
case("add_scale_ratio_20", lambda n: n.add(image(n, 3, 4, scale=0.002),
                                           image(n, 3, 4, scale=0.04)))
case("add_same_tensor_twice", lambda n: (lambda x: n.add(x, x))(image(n, 3, 4)))
case("add_extreme_inputs", lambda n: n.add(image(n, 3, 4), image(n, 1, 4), "relu"), extremes)

# AVERAGE_POOL_2D, MAX_POOL_2D ---------------------------------------------------
POOLS = {"avgpool": Net.avg_pool, "maxpool": Net.max_pool}
for (kind, pool), k, s, p in itertools.product(POOLS.items(), [1, 2, 3], [1, 2, 3],
                                               ["same", "valid"]):
  case(f"{kind}_k{k}_s{s}_{p}",
       lambda n, pool=pool, k=k, s=s, p=p: pool(n, image(n, 7, 9), k, s, p))
for (kind, pool), act in itertools.product(POOLS.items(), ACTIVATIONS):
  case(f"{kind}_{act}", lambda n, pool=pool, act=act: pool(n, image(n, 6, 6), 2, 2, act=act))
for kind, pool in POOLS.items():
  case(f"{kind}_k4x2_s1x2_batch2", lambda n, pool=pool: pool(n, image(n, batch=2), (4, 2),
                                                              (1, 2)))
  case(f"{kind}_global", lambda n, pool=pool: pool(n, image(n, 7, 9, 4), (7, 9), 1))
  case(f"{kind}_window_beyond_image_same",  # windows clipped on every side
       lambda n, pool=pool: pool(n, image(n, 3, 3), 5, 2, "same"))
  case(f"{kind}_extreme_inputs", lambda n, pool=pool: pool(n, image(n, 7, 7), 3, 2, "same"),
       extremes)

# MEAN ------------------------------------------------------------------------------
for (h, w), keep in itertools.product([(5, 7), (7, 7), (1, 1), (3, 4), (8, 8), (2, 9)],
                                      [True, False]):
  case(f"mean_{h}x{w}_keep{int(keep)}",
       lambda n, h=h, w=w, keep=keep: n.mean(image(n, h, w, 4), keep_dims=keep))
case("mean_axes_reversed_negative", lambda n: n.mean(image(n, 5, 7), (-2, 1)))
case("mean_batch2", lambda n: n.mean(image(n, 5, 5, 6, batch=2), keep_dims=False))
case("mean_same_scale", lambda n: n.mean(image(n, 6, 6, scale=0.03, zp=-7), out=(0.03, -7)))
case("mean_near_zero_point", lambda n: n.mean(image(n, 5, 7), out=(0.001, 0)), near_zero_point)
case("mean_extreme_inputs", lambda n: n.mean(image(n, 7, 5)), extremes)

# SOFTMAX ---------------------------------------------------------------------------
for depth, beta in itertools.product([1, 2, 3, 10, 16, 37, 64, 100], [1.0, 0.7]):
  case(f"softmax_d{depth}_beta{beta}",
       lambda n, depth=depth, beta=beta: n.softmax(n.input((3, depth), scale=logit_scale(n)),
                                                   beta))
for beta in (0.25, 2.0):
  case(f"softmax_beta{beta}", lambda n, beta=beta: n.softmax(n.input((4, 12)), beta))
case("softmax_one_row", lambda n: n.softmax(n.input((1, 10))))
case("softmax_large_input_scale",  # differences below diff_min give exactly -128
     lambda n: n.softmax(n.input((5, 20), scale=0.5)))
case("softmax_small_input_scale", lambda n: n.softmax(n.input((5, 20), scale=0.004)))
case("softmax_extreme_inputs", lambda n: n.softmax(n.input((4, 9))), extremes)

# PAD, PADV2 --------------------------------------------------------------------------
for paddings in [((0, 0), (1, 2), (0, 1), (0, 0)), ((1, 0), (0, 0), (0, 0), (2, 1)),
                 ((0, 0), (3, 3), (3, 3), (0, 0)), ((1, 1), (1, 1), (1, 1), (1, 1)),
                 ((0, 0), (0, 0), (0, 0), (0, 0))]:
  flat = "_".join(f"{lo}{hi}" for lo, hi in paddings)
  case(f"pad_{flat}", lambda n, p=paddings: n.pad(image(n, 3, 4, 2), p))
  case(f"padv2_{flat}", lambda n, p=paddings: n.pad(image(n, 3, 4, 2), p,
                                                     int(n.rng.integers(-128, 128))))
case("pad_2d", lambda n: n.pad(n.input((3, 4)), ((1, 1), (0, 2))))
case("pad_3d", lambda n: n.pad(n.input((2, 3, 4)), ((0, 1), (2, 0), (1, 1))))
case("padv2_min_value_1_element_constant", lambda n: n.pad(image(n, 4, 4), ((0, 0), (1, 1),
                                                           (1, 1), (0, 0)), -128, (1,)))

# CONCATENATION ------------------------------------------------------------------------
for axis in (1, 2, 3, -1, -2, -3):
  case(f"concat_axis{axis}", lambda n, axis=axis: n.concat(
      [image(n, 2, 3, 4, scale=0.04, zp=-5) for _ in range(2)], axis))
case("concat_3_inputs_axis3", lambda n: n.concat(
    [image(n, 2, 2, c, scale=0.02, zp=11) for c in (1, 3, 2)], 3))
case("concat_4_inputs_axis1", lambda n: n.concat(
    [image(n, h, 3, 2, scale=0.07, zp=-128) for h in (1, 2, 1, 3)], 1))
case("concat_4_inputs_axis2_batch2", lambda n: n.concat(
    [image(n, 2, w, 3, batch=2, scale=0.01, zp=0) for w in (2, 1, 3, 1)], 2))
case("concat_2d", lambda n: n.concat([n.input((2, c), scale=0.05, zp=1) for c in (3, 5)], -1))

# RESHAPE ---------------------------------------------------------------------------------
case("reshape_flatten", lambda n: n.reshape(image(n, 2, 3, 4), (1, 24)))
case("reshape_flatten_minus_one", lambda n: n.flatten(image(n, 2, 3, 4, batch=2)))
case("reshape_2d_to_4d", lambda n: n.reshape(n.input((1, 24)), (1, 2, 3, 4)))
case("reshape_4d_to_3d", lambda n: n.reshape(image(n, 4, 3, 2), (4, -1, 2)))

# QUANTIZE, DEQUANTIZE ------------------------------------------------------------------
for i, shape in enumerate([(1, 5, 6), (2, 3), (1, 4, 4, 3), (37,)]):
  case(f"quantize_float_{i}", lambda n, shape=shape: n.quantize(n.input(shape, "float32")))
  case(f"requantize_{i}", lambda n, shape=shape: n.quantize(n.input(shape)))
  case(f"dequantize_{i}", lambda n, shape=shape: n.dequantize(n.input(shape)))
case("quantize_float_ties", lambda n: n.quantize(n.input((4, 40), "float32"), (1 / 32, -3)),
     half_steps(1 / 32))
case("quantize_float_extremes", lambda n: n.quantize(n.input((2, 30), "float32")), extremes)
case("requantize_scale_down", lambda n: n.quantize(n.input((3, 20), scale=0.05), (0.11, 9)))
case("requantize_scale_up", lambda n: n.quantize(n.input((3, 20), scale=0.05), (0.0231, -9)))
case("requantize_zero_point_only", lambda n: n.quantize(n.input((3, 20), scale=0.05, zp=-20),
                                                        (0.05, 30)))
case("dequantize_extremes", lambda n: n.dequantize(n.input((4, 10))), extremes)


# Multi-op chains -----------------------------------------------------------------------
LOGITS = {"filter_max": 12}  # small weights: logits a softmax does not turn one-hot


def cnn_classifier(n):
  """QUANTIZE -> CONV -> DW -> MAXPOOL -> RESHAPE -> FC -> SOFTMAX -> DEQUANTIZE."""
  x = n.quantize(n.input((1, 12, 12, 3), "float32"))
  x = n.depthwise(n.conv(x, 6, act="relu"), act="relu6")
  x = n.fc(n.flatten(n.max_pool(x, 2, 2)), 10, **LOGITS)
  return n.dequantize(n.softmax(x))


def residual_diamond(n):
  x = n.conv(n.quantize(n.input((1, 8, 8, 3), "float32")), 4, act="relu")
  for _ in range(2):
    x = n.add(x, n.conv(x, 4, act="relu"), act="relu")
  return n.dequantize(n.fc(n.mean(x, keep_dims=False), 5))


def conv_mean_fc(n):
  x = n.conv(n.quantize(n.input((1, 9, 9, 3), "float32")), 8, stride=2)
  return n.dequantize(n.softmax(n.fc(n.mean(x, keep_dims=False), 3, **LOGITS)))


def pad_conv_valid(n):
  x = n.pad(n.quantize(n.input((1, 7, 7, 2), "float32")), ((0, 0), (1, 1), (1, 1), (0, 0)))
  return n.dequantize(n.avg_pool(n.conv(x, 5, padding="valid"), 2, 2))


def depthwise_stack(n):
  x = n.depthwise(n.input((1, 9, 9, 3)), 2, act="relu")
  x = n.depthwise(x, 1, 5, 2, act="relu6")
  return n.conv(x, 3, 1)


def dilated(n):
  x = n.conv(n.input((1, 12, 12, 2)), 4, dilation=2, act="relu")
  return n.max_pool(x, 3, 1, "same")


def inception_concat(n):
  """Three branches at the input's quantization, concatenated on channels."""
  x = n.conv(n.quantize(n.input((1, 8, 8, 3), "float32")), 4, act="relu")
  q = n.quant(x)
  branches = [n.conv(x, 3, 1, out=q), n.conv(x, 2, 3, out=q), n.max_pool(x, 3, 1, "same")]
  return n.dequantize(n.conv(n.concat(branches, 3), 4, 1))


def requantize_between_convs(n):
  x = n.conv(n.input((1, 6, 6, 3)), 4)
  x = n.quantize(x, (n.quant(x)[0] * 1.7, -20))
  return n.conv(x, 4, act="relu6")


def avgpool_fc_on_4d(n):
  x = n.conv(n.quantize(n.input((1, 6, 6, 3), "float32")), 8, act="relu")
  return n.softmax(n.fc(n.avg_pool(x, 6, 1), 4, **LOGITS))


def mobilenet_v2_block(n):
  x = n.conv(n.quantize(n.input((1, 10, 10, 3), "float32")), 8, 3, 2, act="relu6")
  y = n.conv(x, 16, 1, act="relu6")
  y = n.depthwise(y, act="relu6")
  x = n.add(x, n.conv(y, 8, 1))
  return n.dequantize(n.fc(n.mean(x, keep_dims=False), 6))


def grouped_convs(n):
  x = n.conv(n.input((1, 7, 7, 4)), 8, groups=2, act="relu")
  return n.dequantize(n.conv(x, 8, 1, groups=4))


def padv2_then_maxpool(n):
  x = n.pad(n.input((1, 6, 6, 3)), ((0, 0), (1, 1), (1, 1), (0, 0)), -128)
  return n.max_pool(x, 3, 2, "valid")


def batch3_classifier(n):
  x = n.conv(n.quantize(n.input((3, 6, 6, 2), "float32")), 4, act="relu")
  x = n.depthwise(x, 2, stride=2)
  return n.dequantize(n.softmax(n.fc(n.mean(x, keep_dims=False), 5, **LOGITS)))


def mlp(n):
  x = n.quantize(n.input((2, 32), "float32"))
  x = n.fc(x, 16, act="relu")
  x = n.fc(x, 16, per_channel=True, act="relu")
  return n.dequantize(n.softmax(n.fc(x, 4, bias=False, **LOGITS)))


def squeeze_broadcast_add(n):
  x = n.conv(n.input((1, 6, 6, 3)), 4, act="relu")
  return n.conv(n.add(x, n.mean(x)), 2, 1)


def fan_out_concat(n):
  """One tensor read by three ops, kept alive until the concatenation."""
  x = n.quantize(n.input((1, 6, 6, 4), "float32"))
  q = n.quant(x)
  x = n.concat([n.max_pool(x, 2, 2), n.avg_pool(x, 2, 2), n.conv(x, 3, 2, 2, out=q)], 3)
  return n.dequantize(n.fc(n.flatten(x), 5))


def two_outputs(n):
  x = n.fc(n.flatten(n.conv(n.input((1, 5, 5, 2)), 3, stride=2)), 6, **LOGITS)
  return x, n.dequantize(n.softmax(x))


def two_inputs(n):
  a = n.quantize(n.input((1, 5, 5, 2), "float32"))
  b = n.quantize(n.input((1, 1, 1, 2), "float32"))
  return n.dequantize(n.conv(n.add(a, b, "relu"), 3))


def int8_end_to_end(n):
  x = n.max_pool(n.conv(n.input((1, 8, 8, 1)), 4, act="relu"), 2, 2)
  return n.conv(x, 2, 3, padding="valid")


def pad_avgpool_fc_no_bias(n):
  x = n.pad(n.input((1, 7, 7, 2)), ((0, 0), (2, 1), (1, 2), (0, 0)))
  x = n.conv(n.avg_pool(x, 3, 1, "same"), 4, 3, 2)
  return n.fc(n.flatten(x), 3, bias=False)


def concat_rows_softmax(n):
  q = (0.06, -4)
  x = n.input((1, 4, 4, 2))
  x = n.concat([n.conv(x, 3, out=q), n.conv(x, 3, 1, out=q)], 1)
  return n.softmax(n.reshape(x, (8, 12)), 0.5)


def long_chain(n):
  """Twelve ops, so that activations are planned into reused memory."""
  x = n.conv(n.quantize(n.input((1, 8, 8, 3), "float32")), 8, act="relu")
  for stride in (1, 2, 1):
    y = n.depthwise(n.conv(x, 8, 1, act="relu6"), stride=stride, act="relu6")
    x = n.add(x, y) if stride == 1 else y
  return n.dequantize(n.softmax(n.fc(n.mean(x, keep_dims=False), 4, **LOGITS)))


CHAINS = [cnn_classifier, residual_diamond, conv_mean_fc, pad_conv_valid, depthwise_stack,
          dilated, inception_concat, requantize_between_convs, avgpool_fc_on_4d,
          mobilenet_v2_block, grouped_convs, padv2_then_maxpool, batch3_classifier, mlp,
          squeeze_broadcast_add, fan_out_concat, two_outputs, two_inputs, int8_end_to_end,
          pad_avgpool_fc_no_bias, concat_rows_softmax, long_chain]
for chain, seed in itertools.product(CHAINS, [0, 1]):
  case(f"chain_{chain.__name__}_{seed}", chain)

CASES: Dict[str, Case] = {c.name: c for c in PLAN}
assert len(CASES) == len(PLAN), "duplicate case names"
