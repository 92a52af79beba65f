#!/usr/bin/env bash
# Builds the Cortex-M4 firmware for one converter output folder:
#
#   scripts/build_firmware.sh MODEL_DIR [--plain] [--portable-kernels]
#                             [--output PATH]
#
# copies MODEL_DIR/model_data.{c,h} into firmware/model/, cross-builds with
# `bazel build --config=cortex_m4` and installs the ELF as PATH, by default
# build/firmware/freeml_fw.elf (freeml_fw_plain.elf with --plain; a
# "_portable" suffix with --portable-kernels, which turns the DSP kernels
# off). A model that does not fit the board fails with the numbers.
set -euo pipefail

usage() {
  echo "usage: $0 MODEL_DIR [--plain] [--portable-kernels] [--output PATH]" >&2
  exit 2
}
[[ $# -ge 1 ]] || usage
model_dir=$1
shift
target=freeml_fw
bazel_flags=(--config=cortex_m4)
suffix=
output=
while [[ $# -gt 0 ]]; do
  case $1 in
    --plain) target=freeml_fw_plain ;;
    --portable-kernels) bazel_flags+=(--copt=-DFREEML_PORTABLE_KERNELS); suffix=_portable ;;
    --output) [[ $# -ge 2 ]] || usage; output=$2; shift ;;
    *) usage ;;
  esac
  shift
done
# Paths are the caller's; the build runs from the repository root.
repo=$(cd "$(dirname "$0")/.." && pwd)
model_dir=$(realpath -m "$model_dir")
output=$(realpath -m "${output:-$repo/build/firmware/$target$suffix.elf}")
cd "$repo"
for file in model_data.c model_data.h; do
  if [[ ! -f $model_dir/$file ]]; then
    echo "firmware: $model_dir/$file is missing: run python -m converter --out $model_dir first" >&2
    exit 2
  fi
done
if ! grep -q FREEML_MODEL_NVM_BYTES "$model_dir/model_data.h"; then
  echo "firmware: $model_dir/model_data.h has no sizes: convert the model again" >&2
  exit 2
fi

# A model with no int4 (2-bit) sparse values needs no kernel loops for them
# (docs/sparse.md).
if grep -q "FREEML_MODEL_SPARSE_INT4_OPS 0u" "$model_dir/model_data.h"; then
  bazel_flags+=(--copt=-DFREEML_SPARSE_NO_INT4)
fi
if grep -q "FREEML_MODEL_SPARSE_INT2_OPS 0u" "$model_dir/model_data.h"; then
  bazel_flags+=(--copt=-DFREEML_SPARSE_NO_INT2)
fi

mkdir -p build/firmware
# One build at a time: firmware/model/ holds one model. Bazel runs with the
# lock's descriptor closed (9>&-): a Bazel server started here would
# otherwise inherit it and hold the lock for as long as it lives, and every
# later build would wait forever.
exec 9> build/firmware/.lock
flock 9
for file in model_data.c model_data.h; do
  cmp -s "$model_dir/$file" "firmware/model/$file" || cp "$model_dir/$file" "firmware/model/$file"
done

log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! bazel build "${bazel_flags[@]}" "//firmware:$target" >"$log" 2>&1 9>&-; then
  # The linker's memory table: "SRAM: 213032 B 128 KB 162.53%".
  overflow=$(awk '$NF ~ /%$/ && $(NF) + 0 > 100 {
      size = $4; if ($5 == "KB") size *= 1024; if ($5 == "MB") size *= 1048576;
      printf "needs %d bytes of %s, the board has %d; ", $2, substr($1, 1, length($1) - 1), size
    }' "$log")
  if [[ -n $overflow ]]; then
    echo "firmware: $model_dir does not fit the STM32F405: ${overflow%; }" >&2
  else
    cat "$log" >&2
  fi
  exit 1
fi
elf=$(bazel cquery "${bazel_flags[@]}" --output=starlark \
  --starlark:expr="target.files.to_list()[0].path" "//firmware:$target" 2>/dev/null 9>&-)
mkdir -p "$(dirname "$output")"
install -m 644 "$elf" "$output"
echo "firmware: wrote $output for $model_dir"
