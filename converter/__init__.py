"""FreeML converter: a pre-trained Keras or TFLite model in; a full-int8
.tflite, its C array and a report out. Run it as `python -m converter --help`.

Modules, one job each: __main__ (flags), pipeline (the steps in order),
model_loading, datasets, quantize, tflite_graph (ops, shapes, MACs, bytes),
ops (the supported-op registry), evaluate, report, c_array, atomic_io,
native_output (keeps TensorFlow's console noise away), errors, tflm_oracle
(the TFLM reference interpreter).
"""

import os

# Set once, here, before anything imports TensorFlow: the MLPerf Tiny .h5
# files and tensorflow-model-optimization need tf_keras (Keras 2). Keras 3
# loads the same files, but tfmot refuses its models, and one Keras for the
# whole package keeps loading, quantization and training scripts consistent.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
# TensorFlow's C++ INFO and WARNING lines would bury the converter's own
# progress lines; errors still show. (What it prints before its logging is
# set up is captured by converter.native_output.)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
