"""Rebuilds a tf_keras model layer by layer, letting a callback replace layers.

Folding and separation change the graph (a layer removed, one layer become
three), which `tf_keras.models.clone_model` cannot express: its clone function
returns exactly one layer. This module walks the layers in topological order,
asks `replace(layer)` what to put in each one's place, and wires the new layers
as the old ones were wired, using only the public Functional-API nodes
(`layer.inbound_nodes`, `node.call_args`, `node.outputs`).

Sequential and functional models are accepted, including multi-input layers
(Add, Concatenate). Refused with a ConverterError naming the layer: a layer
called more than once (shared weights: a per-call replacement would be
ambiguous) and nested models (flatten them first).

Example:
  def drop_dropout(layer):
    return REMOVE if isinstance(layer, tf_keras.layers.Dropout) else KEEP
  smaller = rebuild(model, drop_dropout)
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import tensorflow as tf
import tf_keras

from converter.errors import ConverterError


class Action(enum.Enum):
  """What to do with a layer, when no new layers replace it."""
  KEEP = "keep"  # a fresh copy of the layer, with its weights
  REMOVE = "remove"  # identity: the layer's output is its (single) input


KEEP = Action.KEEP
REMOVE = Action.REMOVE


@dataclasses.dataclass
class NewLayer:
  """A layer (not yet called) and the weights to give it once built, in the
  order of `layer.get_weights()`."""
  layer: tf_keras.layers.Layer
  weights: list[np.ndarray]


# KEEP, REMOVE, or new layers applied in sequence to the layer's single input.
Replacement = Action | Sequence[NewLayer]


@dataclasses.dataclass(frozen=True)
class LayerGraph:
  """Who feeds whom, by layer name, for graph-rewrite decisions.

  producers: layer -> names of the layers (inputs included) whose outputs it
    reads, in argument order.
  consumers: layer -> names of the layers reading its outputs.
  outputs: names of the layers that produce a model output.
  """
  producers: dict[str, list[str]]
  consumers: dict[str, list[str]]
  outputs: set[str]


def _is_input(layer: tf_keras.layers.Layer) -> bool:
  return isinstance(layer, tf_keras.layers.InputLayer)


def _node_of(layer: tf_keras.layers.Layer):
  """The layer's one call in the model; refuses what rebuild cannot copy."""
  if isinstance(layer, tf_keras.Model):
    raise ConverterError(
        f"layer '{layer.name}' ({type(layer).__name__}) is a nested model; SparseComp rebuilds "
        "flat models only: rebuild it with the nested model's layers inlined")
  nodes = layer.inbound_nodes
  if len(nodes) != 1:
    raise ConverterError(
        f"layer '{layer.name}' ({type(layer).__name__}) is called {len(nodes)} times (shared "
        "weights); SparseComp needs each layer called once: give each call its own layer")
  return nodes[0]


def _flat_ids(structure: Any) -> list[int]:
  return [id(t) for t in tf.nest.flatten(structure) if tf_keras.backend.is_keras_tensor(t)]


def _model_inputs(model: tf_keras.Model) -> list[tuple[Any, str]]:
  if not model.inputs:
    raise ConverterError(
        f"model '{model.name}' has no defined input; build it with tf_keras.Input(...) or "
        "call it once on data before compressing it")
  return list(zip(model.inputs, model.input_names, strict=True))


def _body_layers(model: tf_keras.Model) -> list[tf_keras.layers.Layer]:
  return [layer for layer in model.layers if not _is_input(layer)]


def layer_graph(model: tf_keras.Model) -> LayerGraph:
  """Producers, consumers and output layers of every layer of `model`.

  Raises:
    ConverterError: a shared layer or a nested model (see module docstring).
  """
  producer_of = {id(t): name for t, name in _model_inputs(model)}
  nodes = {layer.name: _node_of(layer) for layer in _body_layers(model)}
  for name, node in nodes.items():
    producer_of.update((i, name) for i in _flat_ids(node.outputs))
  producers = {name: [producer_of[i] for i in _flat_ids((node.call_args, node.call_kwargs))]
               for name, node in nodes.items()}
  consumers: dict[str, list[str]] = {name: [] for name in producer_of.values()}
  for name, sources in producers.items():
    for source in dict.fromkeys(sources):
      consumers[source].append(name)
  return LayerGraph(producers, consumers, {producer_of[i] for i in _flat_ids(model.outputs)})


def _topological(model: tf_keras.Model, known: set[int]) -> list[tf_keras.layers.Layer]:
  """Body layers ordered so that every layer comes after what it reads."""
  pending = _body_layers(model)
  ordered = []
  while pending:
    ready = [layer for layer in pending
             if set(_flat_ids(_node_of(layer).keras_inputs)) <= known]
    if not ready:
      names = ", ".join(f"'{layer.name}'" for layer in pending)
      raise ConverterError(f"layers {names} read tensors that no layer of the model produces")
    for layer in ready:
      known.update(_flat_ids(_node_of(layer).outputs))
    ordered += ready
    pending = [layer for layer in pending if layer not in ready]
  return ordered


def copy_layer(layer: tf_keras.layers.Layer, **config_changes: Any) -> tf_keras.layers.Layer:
  """A new, unbuilt layer of the same class and config, with changes applied
  (e.g. `copy_layer(conv, name="c_sep_in", filters=4)`)."""
  return type(layer).from_config({**layer.get_config(), **config_changes})


def _single_input(layer: tf_keras.layers.Layer, node, action: str):
  inputs = node.keras_inputs
  if len(inputs) != 1:
    raise ConverterError(
        f"layer '{layer.name}' ({type(layer).__name__}) has {len(inputs)} inputs; only a "
        f"single-input layer can be {action}")
  return inputs[0]


def _apply(layer: tf_keras.layers.Layer, node, choice: Replacement,
           new_tensor: Callable[[Any], Any]) -> Any:
  """The new tensors standing for `node.outputs`, after `choice`."""
  if choice is KEEP:
    fresh = copy_layer(layer)
    args, kwargs = tf.nest.map_structure(new_tensor, (node.call_args, node.call_kwargs))
    outputs = fresh(*args, **kwargs)
    fresh.set_weights(layer.get_weights())
    return outputs
  x = new_tensor(_single_input(layer, node, "removed or replaced"))
  if choice is REMOVE:
    return x
  if not choice:
    raise ConverterError(f"the replacement of layer '{layer.name}' is empty; return REMOVE")
  for new in choice:
    x = new.layer(x)
    new.layer.set_weights(new.weights)
  return x


def rebuild(model: tf_keras.Model,
            replace: Callable[[tf_keras.layers.Layer], Replacement]) -> tf_keras.Model:
  """A new functional model wired as `model`, each layer replaced as `replace`
  says.

  Args:
    model: a built tf_keras Sequential or functional model.
    replace: called once per layer (input layers excepted), in topological
      order, with the original layer; returns KEEP (a fresh copy with the same
      weights), REMOVE (identity; single-input layers only) or a sequence of
      NewLayer applied in order to the layer's single input.

  Returns:
    A functional model with the same inputs (names, shapes, dtypes) and
    outputs (one tensor, or a list) as `model`; untouched layers keep their
    names and weights. The original model is not modified.

  Raises:
    ConverterError: a shared layer, a nested model, a multi-input layer asked
      to be removed or replaced, or a model without a defined input.
  """
  inputs = _model_inputs(model)
  new_by_id: dict[int, Any] = {}
  new_inputs = []
  for tensor, name in inputs:
    new_inputs.append(tf_keras.Input(type_spec=tensor.type_spec, name=name))
    new_by_id[id(tensor)] = new_inputs[-1]

  def new_tensor(t: Any) -> Any:
    return new_by_id[id(t)] if tf_keras.backend.is_keras_tensor(t) else t

  for layer in _topological(model, set(new_by_id)):
    node = _node_of(layer)
    outputs = _apply(layer, node, replace(layer), new_tensor)
    old_flat, new_flat = tf.nest.flatten(node.outputs), tf.nest.flatten(outputs)
    if len(old_flat) != len(new_flat):
      raise ConverterError(
          f"the replacement of layer '{layer.name}' gives {len(new_flat)} outputs, "
          f"expected {len(old_flat)}")
    new_by_id.update((id(old), new) for old, new in zip(old_flat, new_flat, strict=True))
  new_outputs = [new_by_id[id(t)] for t in model.outputs]
  return tf_keras.Model(new_inputs if len(new_inputs) > 1 else new_inputs[0],
                        new_outputs if len(new_outputs) > 1 else new_outputs[0], name=model.name)
