"""The builtin TFLite ops the FreeML runtime runs (its registry mirrors this
list: tflm_freeml/ops/registry.c; a test keeps the two equal)."""

from __future__ import annotations

from typing import Dict

# Builtin op code -> name, for every op the runtime runs.
SUPPORTED_OPS: Dict[int, str] = {
    0: "ADD",
    1: "AVERAGE_POOL_2D",
    2: "CONCATENATION",
    3: "CONV_2D",
    4: "DEPTHWISE_CONV_2D",
    6: "DEQUANTIZE",
    9: "FULLY_CONNECTED",
    17: "MAX_POOL_2D",
    22: "RESHAPE",
    25: "SOFTMAX",
    34: "PAD",
    40: "MEAN",
    60: "PADV2",
    114: "QUANTIZE",
}


def op_name(code: int) -> str:
  """Name of any builtin op code, supported or not."""
  from tensorflow.lite.python import schema_py_generated as schema
  for name, value in vars(schema.BuiltinOperator).items():
    if value == code and not name.startswith("_"):
      return name
  return f"BUILTIN_{code}"


def builtin_code(opcode) -> int:
  """The op of an OperatorCode: older converters fill only the int8
  deprecated field, newer ones put 127 there for codes beyond it."""
  return max(int(opcode.BuiltinCode()), int(opcode.DeprecatedBuiltinCode()))
