"""FreeML converter: a pre-trained Keras or TFLite model in, an int8 .tflite,
its C array and a report out. Run it as `python -m converter --help`.

TF_USE_LEGACY_KERAS is set here, once, before anything imports TensorFlow:
the MLPerf Tiny .h5 files and tensorflow-model-optimization need tf_keras
(Keras 2); Keras 3 loads the files but tfmot refuses its models.
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
# TensorFlow's C++ start-up chatter would bury the converter's own progress.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
