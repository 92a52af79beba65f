"""SparseComp graph surgery: the generic rebuild, BatchNormalization folding
and layer separation, on small random models built here (TensorFlow imports
once per module, models once per module) and on the shared MLPerf Tiny
models."""

from __future__ import annotations

import numpy as np
import pytest
import tf_keras

from converter.errors import ConverterError
from converter.sparsecomp.fold import fold_batchnorm, plan_fold
from converter.sparsecomp.rebuild import KEEP, NewLayer, rebuild
from converter.sparsecomp.separation import (
  energy_rank,
  plan_separation,
  separable_layers,
  separate,
)

layers = tf_keras.layers


def _randomize_batchnorms(model, seed: int) -> None:
  """Non-trivial inference statistics, so that folding has work to do."""
  rng = np.random.default_rng(seed)
  for layer in model.layers:
    if isinstance(layer, layers.BatchNormalization):
      n = layer.moving_mean.shape[0]
      layer.set_weights([rng.uniform(0.5, 2.0, n), rng.normal(0, 0.5, n),
                         rng.normal(0, 0.5, n), rng.uniform(0.2, 3.0, n)])


def _run(model, x: np.ndarray) -> np.ndarray:
  return model(x, training=False).numpy()


def _relative_error(got: np.ndarray, expected: np.ndarray) -> float:
  return float(np.abs(got - expected).max() / np.abs(expected).max())


def _layer_types(model) -> dict[str, str]:
  return {layer.name: type(layer).__name__ for layer in model.layers}


@pytest.fixture(scope="module")
def sequential_cnn():
  """Conv -> BN (folds), depthwise -> BN (folds), conv with ReLU -> BN (kept),
  dense -> BN (folds), and a grouped conv that separation must refuse."""
  tf_keras.utils.set_random_seed(1)
  model = tf_keras.Sequential([
      layers.Input((12, 12, 4)),
      layers.Conv2D(8, 3, padding="same", name="conv_a"),
      layers.BatchNormalization(name="bn_a"),
      layers.ReLU(),
      layers.DepthwiseConv2D(3, depth_multiplier=2, use_bias=False, name="depthwise"),
      layers.BatchNormalization(name="bn_depthwise"),
      layers.Conv2D(16, 3, strides=2, dilation_rate=1, activation="relu", name="conv_relu"),
      layers.BatchNormalization(name="bn_after_relu"),
      layers.Conv2D(16, 1, groups=4, name="grouped"),
      layers.MaxPooling2D(name="pool"),
      layers.Flatten(),
      layers.Dense(24, name="dense_a"),
      layers.BatchNormalization(name="bn_dense"),
      layers.Dense(5, activation="softmax", name="dense_out"),
  ], name="sequential_cnn")
  _randomize_batchnorms(model, 2)
  return model


@pytest.fixture(scope="module")
def resnet_block():
  """A residual block with Add and Concatenate; one BN reads an Add (kept),
  one conv feeds both a BN and the shortcut (its BN is kept)."""
  tf_keras.utils.set_random_seed(3)
  x = inputs = layers.Input((10, 10, 6), name="image")
  x = layers.Conv2D(12, 3, padding="same", use_bias=False, name="stem")(x)
  x = layers.BatchNormalization(name="bn_stem")(x)
  x = layers.ReLU(name="relu_stem")(x)
  y = layers.Conv2D(12, 3, padding="same", dilation_rate=2, name="conv_b1")(x)
  y = layers.BatchNormalization(name="bn_b1")(y)
  y = layers.ReLU()(y)
  y = layers.Conv2D(16, 3, strides=2, padding="same", name="conv_b2")(y)
  y = layers.BatchNormalization(name="bn_b2")(y)
  shortcut = layers.Conv2D(16, 1, strides=2, name="shortcut")(x)
  x = layers.Add(name="add")([shortcut, y])
  x = layers.BatchNormalization(name="bn_after_add")(x)
  shared = layers.Conv2D(16, 1, name="conv_two_uses")(x)
  x = layers.Concatenate(name="concat")([layers.BatchNormalization(name="bn_two_uses")(shared),
                                         shared])
  x = layers.GlobalAveragePooling2D()(x)
  outputs = layers.Dense(7, name="logits")(x)
  model = tf_keras.Model(inputs, outputs, name="resnet_block")
  _randomize_batchnorms(model, 4)
  return model


@pytest.fixture(scope="module")
def models(sequential_cnn, resnet_block):
  return {"sequential_cnn": sequential_cnn, "resnet_block": resnet_block}


def _input(model, batch: int = 3, seed: int = 0) -> np.ndarray:
  shape = (batch,) + tuple(model.input_shape[1:])
  return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


@pytest.mark.parametrize("name", ["sequential_cnn", "resnet_block"])
def test_rebuild_keeping_every_layer_gives_identical_outputs(models, name):
  model = models[name]
  copy = rebuild(model, lambda layer: KEEP)
  assert copy is not model
  assert [layer.name for layer in copy.layers if not isinstance(layer, layers.InputLayer)] == [
      layer.name for layer in model.layers if not isinstance(layer, layers.InputLayer)]
  assert copy.input_names == model.input_names
  x = _input(model)
  np.testing.assert_array_equal(_run(copy, x), _run(model, x))


def test_rebuild_refuses_a_shared_layer():
  dense = layers.Dense(4, name="shared_dense")
  inputs = layers.Input((4,))
  model = tf_keras.Model(inputs, dense(dense(inputs)))
  with pytest.raises(ConverterError, match="'shared_dense' \\(Dense\\) is called 2 times"):
    rebuild(model, lambda layer: KEEP)


def test_rebuild_refuses_a_nested_model():
  inner = tf_keras.Sequential([layers.Input((4,)), layers.Dense(4)], name="inner")
  inputs = layers.Input((4,))
  model = tf_keras.Model(inputs, layers.ReLU()(inner(inputs)))
  with pytest.raises(ConverterError, match="'inner' \\(Sequential\\) is a nested model"):
    rebuild(model, lambda layer: KEEP)


def test_rebuild_refuses_to_replace_a_multi_input_layer(resnet_block):
  replacement = [NewLayer(layers.ReLU(), [])]
  with pytest.raises(ConverterError, match="'add' \\(Add\\) has 2 inputs"):
    rebuild(resnet_block, lambda layer: replacement if layer.name == "add" else KEEP)


@pytest.mark.parametrize("name,folded,kept", [
    ("sequential_cnn", {"bn_a": "conv_a", "bn_depthwise": "depthwise", "bn_dense": "dense_a"},
     {"bn_after_relu": "activation 'relu'"}),
    ("resnet_block", {"bn_stem": "stem", "bn_b1": "conv_b1", "bn_b2": "conv_b2"},
     {"bn_after_add": "follows Add 'add'", "bn_two_uses": "also used elsewhere"}),
])
def test_fold_removes_the_batchnorms_after_linear_layers_only(models, name, folded, kept):
  model = models[name]
  plan = plan_fold(model)
  assert plan.folds == folded
  assert plan.kept.keys() == kept.keys()
  for bn, reason in kept.items():
    assert reason in plan.kept[bn]
  result = fold_batchnorm(model)
  types = _layer_types(result)
  assert not set(folded) & set(types)
  assert set(kept) <= set(types)
  assert all(result.get_layer(layer).use_bias for layer in folded.values())
  x = _input(model)
  assert _relative_error(_run(result, x), _run(model, x)) < 1e-4


def _kernel(model, name: str) -> np.ndarray:
  return model.get_layer(name).get_weights()[0].astype(np.float64)


def _numpy_ranks(kernel: np.ndarray, energy: float) -> tuple[int, ...]:
  """The rank rule, written out independently: per unfolding, the first r
  whose cumulative squared singular values reach `energy` of the total."""
  if kernel.ndim == 2 or kernel.shape[:2] == (1, 1):
    unfoldings = [kernel.reshape(kernel.shape[-2], kernel.shape[-1])]
  else:
    unfoldings = [np.moveaxis(kernel, axis, 0).reshape(kernel.shape[axis], -1) for axis in (2, 3)]
  ranks = []
  for matrix in unfoldings:
    squares = np.linalg.svd(matrix, compute_uv=False) ** 2
    ranks.append(next(r for r in range(1, len(squares) + 1)
                      if squares[:r].sum() >= energy * squares.sum()))
  return tuple(ranks)


_SEPARATED = {"sequential_cnn": ["conv_a", "conv_relu", "dense_a"],
              "resnet_block": ["stem", "conv_b1", "conv_b2", "shortcut", "logits"]}


@pytest.mark.parametrize("name", ["sequential_cnn", "resnet_block"])
def test_full_rank_separation_reproduces_the_outputs(models, name):
  model = models[name]
  result, info = separate(model, _SEPARATED[name], energy=1.0)
  types = _layer_types(result)
  for layer in _SEPARATED[name]:
    assert layer not in types
    assert all(new in types for new in info[layer].new_layers)
  x = _input(model)
  assert _relative_error(_run(result, x), _run(model, x)) < 1e-4


@pytest.mark.parametrize("name,energy", [("sequential_cnn", 0.8), ("resnet_block", 0.6)])
def test_separation_ranks_follow_the_energy_rule_and_sizes_are_exact(models, name, energy):
  model = models[name]
  result, info = separate(model, _SEPARATED[name], energy=energy)
  for layer, plan in info.items():
    kernel = _kernel(model, layer)
    assert plan.ranks == _numpy_ranks(kernel, energy), layer
    assert plan.kind == ("tucker2" if len(plan.ranks) == 2 else "svd")
    shapes = [result.get_layer(new).get_weights()[0].shape for new in plan.new_layers]
    assert [shape[-1] for shape in shapes[:-1]] == list(plan.ranks)
    assert plan.bytes_before - plan.params_before == plan.bytes_after - plan.params_after
  saved = sum(plan.params_before - plan.params_after for plan in info.values())
  assert model.count_params() - result.count_params() == saved
  assert any(plan.ranks != _numpy_ranks(_kernel(model, layer), 1.0)
             for layer, plan in info.items()), "energy too high to test truncation"


def test_energy_rank_edges():
  assert energy_rank(np.array([3.0, 4.0]), 0.36) == 1  # 9 of 25 is exactly 0.36
  assert energy_rank(np.array([3.0, 4.0]), 0.37) == 2
  assert energy_rank(np.array([1.0, 0.0, 0.0]), 1.0) == 1
  assert energy_rank(np.zeros(4), 0.9) == 1


def test_separation_refuses_what_it_does_not_support(sequential_cnn):
  for layer, fragment in [("depthwise", "'depthwise' (DepthwiseConv2D)"),
                          ("grouped", "'grouped' (Conv2D) cannot be separated: grouped"),
                          ("pool", "'pool' (MaxPooling2D) cannot be separated")]:
    with pytest.raises(ConverterError) as refusal:
      separate(sequential_cnn, ["conv_a", layer])
    assert fragment in str(refusal.value)
  with pytest.raises(ConverterError, match="no layer named \\['missing'\\]"):
    separate(sequential_cnn, ["missing"])
  with pytest.raises(ConverterError, match="energy must be in \\(0, 1\\], got 1.5"):
    separate(sequential_cnn, ["conv_a"], energy=1.5)


def test_separation_is_offered_only_where_it_lowers_the_stored_size():
  inputs = layers.Input((16,))
  small = layers.Dense(16, name="identity_like")
  big = layers.Dense(64, name="rank_one")
  model = tf_keras.Model(inputs, big(small(inputs)))
  small.set_weights([np.eye(16, dtype=np.float32), np.zeros(16, np.float32)])
  rng = np.random.default_rng(0)
  big.set_weights([np.outer(rng.normal(size=16), rng.normal(size=64)).astype(np.float32),
                   np.zeros(64, np.float32)])
  not_worth = plan_separation(small, 0.9)  # 16 equal singular values: rank 15 of 16
  assert not_worth.ranks == (15,) and not not_worth.lowers_size
  assert (not_worth.bytes_before, not_worth.bytes_after) == (16 * 16 + 64, 15 * 32 + 64)
  worth = plan_separation(big, 0.9)
  assert worth.ranks == (1,) and worth.lowers_size
  assert [plan.layer for plan in separable_layers(model, 0.9)] == ["rank_one"]


@pytest.mark.shared_data
@pytest.mark.parametrize("h5,batchnorms", [("ic_resnet8.h5", 7), ("kws_dscnn.h5", 9)])
def test_shared_models_fold_with_the_same_outputs(shared_dir, h5, batchnorms):
  path = shared_dir / "models" / h5
  if not path.exists():
    pytest.skip(f"{path} absent")
  model = tf_keras.models.load_model(path, compile=False)
  plan = plan_fold(model)
  assert (len(plan.folds), plan.kept) == (batchnorms, {})
  folded = fold_batchnorm(model)
  assert not any(isinstance(layer, layers.BatchNormalization) for layer in folded.layers)
  x = np.random.default_rng(1).uniform(0, 1, (8,) + tuple(model.input_shape[1:]))
  x = x.astype(np.float32)
  assert _relative_error(_run(folded, x), _run(model, x)) < 1e-4
  assert model.count_params() - folded.count_params() == 4 * sum(  # gamma, beta, mean, var
      model.get_layer(bn).moving_mean.shape[0] for bn in plan.folds)
