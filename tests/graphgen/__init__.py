"""Generates small int8 .tflite graphs for golden tests against TFLM."""
