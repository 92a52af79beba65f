"""The .tflite reader and checker: the op registry, op codes of old files,
truncated files at every cut, and each kind of graph the runtime refuses."""

from __future__ import annotations

import re

import numpy as np
import pytest
from tensorflow.lite.python import schema_py_generated as schema

from converter import ops
from converter.errors import ConverterError
from converter.tflite_graph import check_int8, read_graph
from tests.converter.helpers import DIGITS_H5, REPO
from tests.graphgen.builder import Graph, Op, Tensor, build, pack


def test_registry_matches_the_runtime_registry():
  registry = (REPO / "tflm_freeml" / "ops" / "registry.c").read_text()
  names = set(re.findall(r"FREEML_BUILTIN_(\w+),", registry))
  assert names == set(ops.SUPPORTED_OPS.values())
  custom = re.findall(r'FREEML_CUSTOM_OPCODE,\s*"(\w+)"', registry)
  assert sorted(custom) == sorted(ops.SUPPORTED_CUSTOM_OPS)
  for code, name in ops.SUPPORTED_OPS.items():
    assert getattr(schema.BuiltinOperator, name) == code


def test_op_code_is_the_larger_of_both_fields():
  old = schema.OperatorCodeT()
  old.deprecatedBuiltinCode, old.builtinCode = 3, 0  # files that predate builtin_code
  new = schema.OperatorCodeT()
  new.deprecatedBuiltinCode, new.builtinCode = 127, 150  # 127: placeholder for codes > 127
  assert ops.builtin_code(old) == 3 and ops.builtin_code(new) == 150
  assert ops.op_name(114) == "QUANTIZE" and ops.op_name(schema.BuiltinOperator.SIN) == "SIN"


@pytest.mark.shared_data
def test_old_file_with_deprecated_codes_only(shared_dir):
  model = (shared_dir / "models" / "kws_dscnn_int8.tflite").read_bytes()
  root = schema.ModelT.InitFromPackedBuf(model, 0)
  assert all(code.builtinCode == 0 for code in root.operatorCodes)
  graph = check_int8(model)
  assert [layer.op for layer in graph.layers][:3] == ["CONV_2D", "DEPTHWISE_CONV_2D", "CONV_2D"]
  assert graph.layers[-1].op == "SOFTMAX" and graph.layers[-1].layer == "dense"


def test_every_cut_of_a_model_is_refused(digits_model):
  cuts = list(range(0, len(digits_model), 97)) + list(range(len(digits_model) - 40,
                                                            len(digits_model)))
  for cut in cuts:
    with pytest.raises(ConverterError, match="TFL3|truncated|corrupt"):
      check_int8(digits_model[:cut])


def test_float_and_hybrid_models_are_refused_naming_the_op():
  import tensorflow as tf
  import tf_keras as keras
  model = keras.models.load_model(DIGITS_H5, compile=False)
  float_model = tf.lite.TFLiteConverter.from_keras_model(model).convert()
  with pytest.raises(ConverterError, match=r"op 0 CONV_2D \(layer 'conv1'\) computes in float"):
    check_int8(float_model)
  converter = tf.lite.TFLiteConverter.from_keras_model(model)
  converter.optimizations = [tf.lite.Optimize.DEFAULT]  # dynamic range: int8 weights only
  with pytest.raises(ConverterError, match="computes in float32"):
    check_int8(converter.convert())


def _concat(scales) -> bytes:
  g = Graph()
  a = g.add(Tensor((1, 4), scale=scales[0], zero_point=0))
  b = g.add(Tensor((1, 4), scale=scales[1], zero_point=0))
  y = g.add(Tensor((1, 8), scale=scales[0], zero_point=0))
  options = schema.ConcatenationOptionsT()
  options.axis = 1
  g.ops.append(Op(schema.BuiltinOperator.CONCATENATION, [a, b], [y],
                  schema.BuiltinOptions.ConcatenationOptions, options))
  g.inputs, g.outputs = [a, b], [y]
  return build(g)


def test_concatenation_needs_equal_scales():
  assert check_int8(_concat((0.05, 0.05))).layers[0].op == "CONCATENATION"
  with pytest.raises(ConverterError, match="op 0 CONCATENATION.*does not requantize"):
    check_int8(_concat((0.05, 0.07)))


def test_int16_activations_are_refused():
  g = Graph()
  x = g.add(Tensor((1, 6), "int16", scale=0.01))
  shape = g.add(Tensor((2,), "int32", data=np.array([2, 3], np.int32)))
  y = g.add(Tensor((2, 3), "int16", scale=0.01))
  g.ops.append(Op(schema.BuiltinOperator.RESHAPE, [x, shape], [y]))
  g.inputs, g.outputs = [x], [y]
  with pytest.raises(ConverterError, match="op 0 RESHAPE .* int16 activations"):
    check_int8(build(g))


def test_unsupported_op_is_named_with_the_supported_list():
  g = Graph()
  x = g.add(Tensor((1, 4), scale=0.1))
  y = g.add(Tensor((1, 4), scale=0.1))
  g.ops.append(Op(schema.BuiltinOperator.TANH, [x], [y]))
  g.inputs, g.outputs = [x], [y]
  with pytest.raises(ConverterError, match=r"op 0 TANH .*not supported.*supported: ADD"):
    check_int8(build(g))


def test_counts_of_the_digits_model(digits_model):
  graph = read_graph(digits_model)
  fc = [layer for layer in graph.layers if layer.op == "FULLY_CONNECTED"]
  assert [layer.macs for layer in fc] == [288 * 32, 64 * 10]
  assert [layer.parameters for layer in fc] == [288 * 32 + 32, 64 * 10 + 10]
  # int8 weights, int32 biases: exact bytes of the buffers each FC reads.
  assert [layer.weight_bytes for layer in fc] == [288 * 32 + 4 * 32, 64 * 10 + 4 * 10]
  assert graph.inputs[0].shape == (1, 8, 8, 1) and graph.inputs[0].dtype == "int8"


def test_out_of_range_tensor_index_is_refused(digits_model):
  root = schema.ModelT.InitFromPackedBuf(digits_model, 0)
  op = root.subgraphs[0].operators[2]
  op.inputs = [-7] + list(op.inputs[1:])  # Python would read tensors[-7]
  with pytest.raises(ConverterError, match="op 2 names tensor -7"):
    check_int8(pack(root))
