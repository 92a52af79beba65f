#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ with clang, AddressSanitizer and
# UndefinedBehaviorSanitizer into build/fuzz/ (docs/fuzzing.md):
#
#   scripts/build_fuzzers.sh [OUT_DIR]    (default: build/fuzz)
#
# Bazel's host toolchain is gcc, which has no libFuzzer: the fuzzers are
# built here, from the same sources.
set -euo pipefail
out=$(realpath -m "${1:-$(dirname "$0")/../build/fuzz}")
cd "$(dirname "$0")/.."

runtime_sources=(
  kernels/{conv,elementwise,exit,fc,pool,quant,reduce,shape,softmax,sparse}/*.c
  tflm_freeml/crc32.c tflm_freeml/errors.c tflm_freeml/flatbuffer.c
  tflm_freeml/intermittent.c tflm_freeml/model_reader.c tflm_freeml/planner.c
  tflm_freeml/runtime.c tflm_freeml/exits.c tflm_freeml/ops/*.c tflm_freeml/host/nvm_memory.c
)
flags=(-std=c99 -D_ISOC11_SOURCE -g -O1 -I. -Wall -Wextra -Werror
       -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
       -fno-omit-frame-pointer)
mkdir -p "$out"
for target in fuzz/*_fuzzer.c; do
  name=$(basename "$target" .c)
  clang "${flags[@]}" "${runtime_sources[@]}" "$target" -lm -o "$out/$name"
  echo "fuzz: built $out/$name"
done
