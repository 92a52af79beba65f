"""Which layers of a Keras model are exit points (`--exits`).

`auto` takes the end of every block: the output of each pooling layer and
of each residual Add. A plain stack of convolutions without either (a
DS-CNN) has no such marks, so there `auto` takes the output of each Conv2D.
An exit is always taken after the BatchNorm, activation and dropout layers
that follow its layer alone (named exits too): those are part of the block,
and TFLite fuses them into the layer's op only while nothing else reads the
layer's own output.
The classifier at the end (dense, flatten, global pooling) and the last
feature map feeding it are never exits: there the network answers at
almost the same cost.

Example:
  exit_points(model, "auto")          # ['maxpool', 'avgpool']
  exit_points(model, "conv1,maxpool")
"""

from __future__ import annotations

from typing import List, Sequence

from converter.errors import ConverterError
from converter.sparsecomp.rebuild import layer_graph

_POOLING = ("MaxPooling2D", "AveragePooling2D", "MaxPooling1D", "AveragePooling1D")
# Layers of the classifier at the end of a network (with pooling to 1x1).
_CLASSIFIER = ("Dense", "Flatten", "Dropout", "Activation", "ReLU", "Softmax",
               "BatchNormalization", "GlobalAveragePooling2D", "GlobalMaxPooling2D",
               "GlobalAveragePooling1D", "GlobalMaxPooling1D")
_FOLLOWERS = ("BatchNormalization", "ReLU", "Activation", "LeakyReLU", "Dropout")


def _block_end(by_name: dict, name: str, readers: dict) -> str:
  """The last layer of `name`'s chain of BatchNorm/activation followers."""
  while len(readers.get(name, [])) == 1 and \
      type(by_name[readers[name][0]]).__name__ in _FOLLOWERS:
    name = readers[name][0]
  return name


def _spatial(layer) -> bool:
  return len(layer.output.shape) in (3, 4)


def _classifier(by_name: dict, producers: dict, output: str) -> set:
  """The classifier layers walking back from the output, and the layer that
  feeds them (the last feature map)."""
  tail, name = set(), output
  while True:
    layer = by_name.get(name)
    pools_to_one = layer is not None and type(layer).__name__ in _POOLING and all(
        d == 1 for d in layer.output.shape[1:-1])
    if layer is None or not (type(layer).__name__ in _CLASSIFIER or pools_to_one) or \
        len(producers.get(name, [])) != 1:
      tail.add(name)
      return tail
    tail.add(name)
    name = producers[name][0]


def _auto(model) -> List[str]:
  graph = layer_graph(model)
  by_name = {layer.name: layer for layer in model.layers}
  readers = graph.consumers
  tail = set()
  for output in graph.outputs:
    tail |= _classifier(by_name, graph.producers, output)
  marked = [layer.name for layer in model.layers
            if type(layer).__name__ in _POOLING + ("Add",) and _spatial(layer)
            and layer.name not in tail]
  if not marked:
    marked = [layer.name for layer in model.layers
              if type(layer).__name__ == "Conv2D" and _spatial(layer)
              and layer.name not in tail]
  marked = [_block_end(by_name, name, readers) for name in marked]
  # The last feature map feeds the classifier: there the network answers.
  return [name for name in dict.fromkeys(marked) if name not in tail]


def exit_points(model, spec: str) -> List[str]:
  """The names of the exit layers, in the order the network reaches them.

  Args:
    model: a Keras functional or Sequential model.
    spec: "auto", or layer names separated by commas.

  Raises:
    ConverterError: an unknown layer name (the message lists the candidates),
      a layer named twice, the model's output layer, or no exit at all.
  """
  order = [layer.name for layer in model.layers]
  if spec.strip() == "auto":
    names = _auto(model)
    if not names:
      raise ConverterError("--exits auto found no pooling layer, residual Add or Conv2D "
                           "before the classifier; name the exit layers with --exits")
    return names
  names = [n.strip() for n in spec.split(",") if n.strip()]
  if not names:
    raise ConverterError("--exits is empty: give auto, or layer names separated by commas")
  by_name = {layer.name: layer for layer in model.layers}
  for name in names:
    if name not in by_name:
      raise ConverterError(f"--exits: the model has no layer '{name}'; its layers are "
                           f"{', '.join(_describe(model.layers))}")
    if names.count(name) > 1:
      raise ConverterError(f"--exits names layer '{name}' twice")
    if name in layer_graph(model).outputs:
      raise ConverterError(f"--exits: '{name}' is the model's output, which is always the last "
                           "exit; name earlier layers")
    if len(by_name[name].output.shape) not in (2, 3, 4):
      raise ConverterError(f"--exits: layer '{name}' has output shape "
                           f"{tuple(by_name[name].output.shape)}; an exit needs (N, features), "
                           "(N, steps, channels) or (N, H, W, C)")
  readers = layer_graph(model).consumers
  ends = [_block_end(by_name, name, readers) for name in names]
  if len(set(ends)) != len(ends):
    raise ConverterError(f"--exits {spec}: two names end the same block ({', '.join(ends)})")
  return sorted(ends, key=order.index)


def _describe(layers: Sequence) -> List[str]:
  return [f"{layer.name} ({type(layer).__name__})" for layer in layers[:40]] + (
      [f"... ({len(layers) - 40} more)"] if len(layers) > 40 else [])
