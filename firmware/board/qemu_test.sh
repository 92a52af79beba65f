#!/usr/bin/env bash
# Runs a Cortex-M4 test ELF on QEMU netduinoplus2 and exits with its status:
# `bazel test --config=cortex_m4` uses this as --run_under (see .bazelrc).
set -euo pipefail
elf=$1
shift
exec timeout 300 qemu-system-arm -M netduinoplus2 -nographic -monitor none -serial none \
  -icount shift=0,sleep=off -kernel "$elf" \
  -semihosting-config "enable=on,target=native,arg=$(basename "$elf")"
