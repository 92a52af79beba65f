"""The registry of builtin TFLite ops the FreeML runtime runs.

This is the one place that says which ops the converter accepts and how the
report counts them (which inputs are learned parameters, how many MACs).
The C runtime keeps its own table (tflm_freeml/ops/registry.c); a test keeps
the two equal.

Op codes are read as max(deprecated_builtin_code, builtin_code): files from
older converters (the MLPerf Tiny KWS model among them) fill only the int8
deprecated field, newer ones put 127 there for codes beyond it.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Dict, Optional, Sequence, Tuple

import numpy as np

from converter import sparse_format

Shape = Tuple[int, ...]
MacCounter = Callable[[Sequence[Shape], Sequence[Shape]], int]

CUSTOM = 32  # BuiltinOperator.CUSTOM: the op's name is in custom_code


def _no_macs(inputs: Sequence[Shape], outputs: Sequence[Shape]) -> int:
  del inputs, outputs
  return 0


def _conv_macs(inputs: Sequence[Shape], outputs: Sequence[Shape]) -> int:
  # Filter [out_c, kh, kw, in_c / groups]: each output element reads kh*kw*in_c.
  _, kh, kw, cin = inputs[1]
  return int(np.prod(outputs[0])) * kh * kw * cin


def _depthwise_macs(inputs: Sequence[Shape], outputs: Sequence[Shape]) -> int:
  # Filter [1, kh, kw, out_c]: each output element reads one kh*kw window.
  _, kh, kw, _ = inputs[1]
  return int(np.prod(outputs[0])) * kh * kw


def _fully_connected_macs(inputs: Sequence[Shape], outputs: Sequence[Shape]) -> int:
  # Weights [units, depth].
  return int(np.prod(outputs[0])) * inputs[1][-1]


@dataclasses.dataclass(frozen=True)
class OpSpec:
  """How the converter treats one supported op.

  name: the BuiltinOperator name.
  weight_inputs: input positions that hold learned parameters (counted as
    "parameters" in the report; other constant inputs such as shapes, axes
    and paddings still count in weight bytes, which are exact buffer sizes).
  macs: multiply-accumulates per inference from input and output shapes.
    Only the ops that multiply weights count; element-wise ops, pooling and
    data movement count 0.
  """
  name: str
  weight_inputs: Tuple[int, ...] = ()
  macs: MacCounter = _no_macs


_SPECS = (
    (0, OpSpec("ADD", weight_inputs=(0, 1))),
    (1, OpSpec("AVERAGE_POOL_2D")),
    (2, OpSpec("CONCATENATION")),
    (3, OpSpec("CONV_2D", weight_inputs=(1, 2), macs=_conv_macs)),
    (4, OpSpec("DEPTHWISE_CONV_2D", weight_inputs=(1, 2), macs=_depthwise_macs)),
    (6, OpSpec("DEQUANTIZE")),
    (9, OpSpec("FULLY_CONNECTED", weight_inputs=(1, 2), macs=_fully_connected_macs)),
    (17, OpSpec("MAX_POOL_2D")),
    (22, OpSpec("RESHAPE")),
    (25, OpSpec("SOFTMAX")),
    (34, OpSpec("PAD")),
    (40, OpSpec("MEAN")),
    (60, OpSpec("PADV2")),
    (114, OpSpec("QUANTIZE")),
)

REGISTRY: Dict[int, OpSpec] = dict(_SPECS)

# Builtin op code -> name, for every op the runtime runs.
SUPPORTED_OPS: Dict[int, str] = {code: spec.name for code, spec in REGISTRY.items()}

# The gNet head's share of one exit (docs/gnet.md): int32 accumulators out.
EXIT_ACCUMULATE = "FREEML_EXIT_ACCUMULATE"

# Custom ops (code CUSTOM) the runtime runs, by custom_code: the sparse
# twins of the weighted builtin ops (docs/sparse.md) and the gNet exits.
SUPPORTED_CUSTOM_OPS: Tuple[str, ...] = tuple(sparse_format.CUSTOM_OPS.values()) + (
    EXIT_ACCUMULATE,)

# Ops allowed to read or write float tensors: the float edges of a model with
# float input or output around an int8 body.
FLOAT_EDGE_OPS = frozenset({"QUANTIZE", "DEQUANTIZE"})


def builtin_code(opcode) -> int:
  """The op of an OperatorCode (object API OperatorCodeT)."""
  return max(int(opcode.builtinCode), int(opcode.deprecatedBuiltinCode))


def op_name(code: int, custom_code: Optional[bytes] = None) -> str:
  """Name of any builtin op code, supported or not; custom ops by their own
  name (e.g. FlexSin for a TensorFlow op kept by the converter)."""
  if code in REGISTRY:
    return REGISTRY[code].name
  if code == CUSTOM and custom_code:
    return f"CUSTOM({custom_code.decode('utf-8', 'replace')})"
  from tensorflow.lite.python import schema_py_generated as schema
  for name, value in vars(schema.BuiltinOperator).items():
    if value == code and not name.startswith("_"):
      return name
  return f"BUILTIN_{code}"


def supported_names() -> str:
  """The supported ops as a sorted, comma-separated list for messages."""
  return ", ".join(sorted(SUPPORTED_OPS.values()))
