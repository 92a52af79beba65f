"""Layer separation: a big Dense or Conv2D layer split into a chain of smaller
ones whose product approximates its kernel (low rank), to cut stored bytes
and multiply-accumulates.

- Dense, kernel W [n_in, n_out]: truncated SVD W ~ U_r S_r V_r^T, replaced by
  Dense(r, no bias, linear) with kernel U_r sqrt(S_r), then Dense(n_out) with
  kernel sqrt(S_r) V_r^T and the original bias and activation. (The sqrt split
  gives both factors the same scale, which int8 quantization prefers.)
- Conv2D 1x1, groups 1: the same SVD of the [cin, cout] matrix, as two 1x1
  convolutions (the first takes the strides). Tucker-2 would add an r x r core
  that costs bytes and buys nothing for a matrix.
- Conv2D kh x kw, groups 1, kernel K [kh, kw, cin, cout]: Tucker-2 on the
  channel modes. U_in [cin, r_in] and U_out [cout, r_out] are the leading left
  singular vectors of the mode unfoldings of K (HOSVD), refined by a few HOOI
  iterations; the core is G = K x_cin U_in^T x_cout U_out^T [kh, kw, r_in,
  r_out]. Replaced by Conv2D 1x1 (cin -> r_in, no bias), Conv2D kh x kw
  (r_in -> r_out, original strides, padding and dilation, no bias), Conv2D 1x1
  (r_out -> cout, original bias and activation).

Rank rule (`energy_rank`): for each unfolding (the matrix itself for an SVD;
the cin and cout mode unfoldings for Tucker-2), the smallest rank r >= 1 whose
r largest singular values s_i hold at least `energy` of the total:
sum_{i<r} s_i^2 >= energy * sum_i s_i^2. energy = 1.0 keeps the full rank (an
exact split, but never a smaller one).

Stored bytes count as dense int8: one byte per kernel parameter plus four per
bias element (int32), so a separation is offered (`separable_layers`) only
where the new layers' kernels hold fewer parameters than the old kernel.
DepthwiseConv2D and grouped Conv2D are not separated.

New layers are named after the layer they replace: NAME_sep_in, NAME_sep_core
(Tucker-2 only), NAME_sep_out.

Example:
  plans = separable_layers(model, energy=0.9)     # only those that shrink
  smaller, info = separate(model, [p.layer for p in plans], energy=0.9)
  info["conv2d_7"].ranks, info["conv2d_7"].bytes_after
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence

import numpy as np
import tf_keras

from converter.errors import ConverterError
from converter.sparsecomp.rebuild import KEEP, NewLayer, Replacement, copy_layer, rebuild

_log = logging.getLogger(__name__)

SVD = "svd"
TUCKER2 = "tucker2"
DEFAULT_ENERGY = 0.9
DEFAULT_HOOI_ITERATIONS = 2
_IN, _CORE, _OUT = "_sep_in", "_sep_core", "_sep_out"
# Config changes of the new layers: all but the last are linear and bias-free
# (the original bias and activation go last); 1x1 convolutions are pointwise.
_LINEAR = dict(use_bias=False, activation="linear", activity_regularizer=None)
_POINTWISE = dict(kernel_size=(1, 1), strides=(1, 1), padding="valid", dilation_rate=(1, 1))


@dataclasses.dataclass(frozen=True)
class SeparationPlan:
  """What separating one layer under the rank rule gives.

  kind: SVD (two layers) or TUCKER2 (three layers).
  ranks: (r,) for SVD, (r_in, r_out) for TUCKER2.
  params_before, params_after: kernel and bias parameters of the layer and of
    its replacement (the bias is kept once, on the last new layer).
  bytes_before, bytes_after: dense int8 stored bytes: kernel parameters plus
    4 bytes per bias element.
  new_layers: names of the replacement layers, in order.
  """
  layer: str
  kind: str
  ranks: tuple[int, ...]
  energy: float
  params_before: int
  params_after: int
  bytes_before: int
  bytes_after: int
  new_layers: tuple[str, ...]

  @property
  def lowers_size(self) -> bool:
    """True when the separated layers store fewer bytes than the layer."""
    return self.bytes_after < self.bytes_before


def energy_rank(singular_values: np.ndarray, energy: float) -> int:
  """The smallest r >= 1 with sum_{i<r} s_i^2 >= energy * sum_i s_i^2
  (singular values in decreasing order, as numpy returns them)."""
  cumulative = np.cumsum(np.square(np.asarray(singular_values, np.float64)))
  if cumulative.size == 0 or cumulative[-1] == 0:
    return 1
  return int(np.argmax(cumulative >= energy * cumulative[-1])) + 1


def _unfold(tensor: np.ndarray, axis: int) -> np.ndarray:
  """Mode-`axis` unfolding: that axis as rows, all others flattened."""
  return np.moveaxis(tensor, axis, 0).reshape(tensor.shape[axis], -1)


def _leading_vectors(matrix: np.ndarray, rank: int) -> np.ndarray:
  return np.linalg.svd(matrix, full_matrices=False)[0][:, :rank]


def _check_energy(energy: float) -> None:
  if not 0.0 < energy <= 1.0:
    raise ConverterError(f"separation energy must be in (0, 1], got {energy}")


def _refuse(layer: tf_keras.layers.Layer, why: str) -> ConverterError:
  return ConverterError(
      f"layer '{layer.name}' ({type(layer).__name__}) cannot be separated: {why}; separation "
      "supports Dense and Conv2D with groups=1 and channels_last")


def _kind(layer: tf_keras.layers.Layer) -> str:
  """SVD or TUCKER2 for a supported layer; refuses any other."""
  if type(layer) is tf_keras.layers.Dense:
    return SVD
  if type(layer) is tf_keras.layers.DepthwiseConv2D:
    why = "a depthwise filter has one input channel, no channel rank to cut"
  elif type(layer) is not tf_keras.layers.Conv2D:
    why = "not a Dense or Conv2D layer"
  elif layer.groups != 1:
    why = f"grouped convolution (groups={layer.groups})"
  elif layer.data_format != "channels_last":
    why = "channels_first"
  else:
    return SVD if tuple(layer.kernel_size) == (1, 1) else TUCKER2
  raise _refuse(layer, why)


def _matrix(layer: tf_keras.layers.Layer) -> np.ndarray:
  """The kernel as [inputs, outputs] for an SVD split (Dense or 1x1 Conv2D)."""
  kernel = layer.kernel.numpy().astype(np.float64)
  return kernel.reshape(kernel.shape[-2], kernel.shape[-1])


def _ranks(layer: tf_keras.layers.Layer, kind: str, energy: float) -> tuple[int, ...]:
  if kind == SVD:
    return (energy_rank(np.linalg.svd(_matrix(layer), compute_uv=False), energy),)
  kernel = layer.kernel.numpy().astype(np.float64)
  return tuple(energy_rank(np.linalg.svd(_unfold(kernel, axis), compute_uv=False), energy)
               for axis in (2, 3))


def plan_separation(layer: tf_keras.layers.Layer, energy: float = DEFAULT_ENERGY
                    ) -> SeparationPlan:
  """Ranks under the rank rule, and parameters and stored bytes before and
  after, for separating `layer` (computes singular values, not the split).

  Raises:
    ConverterError: energy outside (0, 1], or a layer that is not a Dense or
      a groups=1, channels_last Conv2D (named, with its type).
  """
  _check_energy(energy)
  kind = _kind(layer)
  ranks = _ranks(layer, kind, energy)
  kernel_shape = tuple(layer.kernel.shape)
  n_in, n_out = kernel_shape[-2:]
  bias = n_out if layer.use_bias else 0
  if kind == SVD:
    kernel_after = ranks[0] * (n_in + n_out)
    names = (_IN, _OUT)
  else:
    r_in, r_out = ranks
    kernel_after = n_in * r_in + int(np.prod(kernel_shape[:2])) * r_in * r_out + r_out * n_out
    names = (_IN, _CORE, _OUT)
  kernel_before = int(np.prod(kernel_shape))
  return SeparationPlan(
      layer=layer.name, kind=kind, ranks=ranks, energy=energy,
      params_before=kernel_before + bias, params_after=kernel_after + bias,
      bytes_before=kernel_before + 4 * bias, bytes_after=kernel_after + 4 * bias,
      new_layers=tuple(layer.name + suffix for suffix in names))


def separable_layers(model: tf_keras.Model, energy: float = DEFAULT_ENERGY
                     ) -> list[SeparationPlan]:
  """Plans for the layers of `model` whose separation lowers the stored size,
  most bytes saved first. Unsupported layers are skipped, not refused."""
  _check_energy(energy)
  plans = []
  for layer in model.layers:
    try:
      plan = plan_separation(layer, energy)
    except ConverterError:
      continue
    if plan.lowers_size:
      plans.append(plan)
  return sorted(plans, key=lambda p: p.bytes_after - p.bytes_before)


def _bias(layer: tf_keras.layers.Layer) -> list[np.ndarray]:
  return [layer.bias.numpy()] if layer.use_bias else []


def _svd_layers(layer: tf_keras.layers.Layer, plan: SeparationPlan) -> list[NewLayer]:
  (rank,) = plan.ranks
  u, s, vt = np.linalg.svd(_matrix(layer), full_matrices=False)
  root = np.sqrt(s[:rank])
  first, second = u[:, :rank] * root, root[:, None] * vt[:rank]
  dtype = layer.kernel.dtype.as_numpy_dtype
  name_in, name_out = plan.new_layers
  if type(layer) is tf_keras.layers.Dense:
    head = copy_layer(layer, name=name_in, units=rank, **_LINEAR)
    tail = copy_layer(layer, name=name_out)
  else:  # 1x1 Conv2D: the first convolution takes the strides
    first, second = first[None, None], second[None, None]
    head = copy_layer(layer, name=name_in, filters=rank, **_LINEAR)
    tail = copy_layer(layer, name=name_out, **_POINTWISE)
  return [NewLayer(head, [first.astype(dtype)]),
          NewLayer(tail, [second.astype(dtype), *_bias(layer)])]


def _tucker2_factors(kernel: np.ndarray, ranks: tuple[int, int], hooi_iterations: int
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """U_in, core, U_out of `kernel` [kh, kw, cin, cout]: HOSVD, then HOOI
  (each factor recomputed with the other fixed; never fits worse)."""
  r_in, r_out = ranks
  u_in = _leading_vectors(_unfold(kernel, 2), r_in)
  u_out = _leading_vectors(_unfold(kernel, 3), r_out)
  for _ in range(hooi_iterations):
    u_in = _leading_vectors(_unfold(np.einsum("hwio,ob->hwib", kernel, u_out), 2), r_in)
    u_out = _leading_vectors(_unfold(np.einsum("hwio,ia->hwao", kernel, u_in), 3), r_out)
  return u_in, np.einsum("hwio,ia,ob->hwab", kernel, u_in, u_out), u_out


def _tucker2_layers(layer: tf_keras.layers.Layer, plan: SeparationPlan,
                    hooi_iterations: int) -> list[NewLayer]:
  kernel = layer.kernel.numpy().astype(np.float64)
  u_in, core, u_out = _tucker2_factors(kernel, plan.ranks, hooi_iterations)
  dtype = layer.kernel.dtype.as_numpy_dtype
  name_in, name_core, name_out = plan.new_layers
  head = copy_layer(layer, name=name_in, filters=plan.ranks[0], **_POINTWISE, **_LINEAR)
  middle = copy_layer(layer, name=name_core, filters=plan.ranks[1], **_LINEAR)
  tail = copy_layer(layer, name=name_out, **_POINTWISE)
  return [NewLayer(head, [u_in[None, None].astype(dtype)]),
          NewLayer(middle, [core.astype(dtype)]),
          NewLayer(tail, [u_out.T[None, None].astype(dtype), *_bias(layer)])]


def separate(model: tf_keras.Model, layer_names: Sequence[str], energy: float = DEFAULT_ENERGY,
             hooi_iterations: int = DEFAULT_HOOI_ITERATIONS
             ) -> tuple[tf_keras.Model, dict[str, SeparationPlan]]:
  """A copy of `model` with each named layer replaced by its low-rank split.

  Every named layer is separated as asked, even where that does not lower the
  stored size (logged; `separable_layers` offers only those that do).

  Args:
    model: a tf_keras model (see rebuild for what is accepted).
    layer_names: Dense or Conv2D (groups=1) layers to separate.
    energy: fraction of the squared singular values to keep (rank rule in
      the module docstring), in (0, 1].
    hooi_iterations: HOOI refinements of the Tucker-2 factors (0: HOSVD).

  Returns:
    The new model and, per separated layer, its SeparationPlan (ranks,
    sizes, names of the new layers).

  Raises:
    ConverterError: an unknown layer name, an unsupported layer (named, with
      its type), a new layer name already in the model, or energy outside
      (0, 1].
  """
  _check_energy(energy)
  layers = {layer.name: layer for layer in model.layers}
  unknown = [name for name in layer_names if name not in layers]
  if unknown:
    raise ConverterError(f"no layer named {unknown} in model '{model.name}' to separate")
  plans = {name: plan_separation(layers[name], energy) for name in layer_names}
  for plan in plans.values():
    clash = [name for name in plan.new_layers if name in layers]
    if clash:
      raise ConverterError(f"separating '{plan.layer}' would create {clash}, already in the model")
    if not plan.lowers_size:
      _log.info("separating '%s' at energy %s gives ranks %s: %d bytes, not fewer than %d",
                plan.layer, energy, plan.ranks, plan.bytes_after, plan.bytes_before)

  def replace(layer: tf_keras.layers.Layer) -> Replacement:
    plan = plans.get(layer.name)
    if plan is None:
      return KEEP
    if plan.kind == SVD:
      return _svd_layers(layer, plan)
    return _tucker2_layers(layer, plan, hooi_iterations)

  return rebuild(model, replace), plans
