#!/usr/bin/env bash
# Installs everything the project needs on a fresh Debian 12 machine, and
# nothing that is already there: Debian packages (as root, or through sudo)
# and the Python virtual environment .venv from requirements.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  gcc make                                   # host runtime and tests
  gcc-arm-none-eabi libnewlib-arm-none-eabi  # Cortex-M builds
  qemu-system-arm                            # Cortex-M emulation
  bazel-bootstrap                            # offline Bazel 4.2.3
  valgrind                                   # instruction counts in bench/
  clang libclang-rt-14-dev                   # libFuzzer and sanitizers (fuzz/)
  python3-venv
)

missing=()
for package in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  sudo_cmd=()
  if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq \
    --no-install-recommends "${missing[@]}" >/dev/null
fi

# The venv is rebuilt only when requirements.txt changes (its hash is kept).
stamp=.venv/.requirements.sha256
wanted=$(sha256sum requirements.txt | cut -d' ' -f1)
if [[ ! -x .venv/bin/python || ! -f $stamp || $(cat "$stamp") != "$wanted" ]]; then
  echo "setup: installing Python packages into .venv (a few minutes the first time)"
  python3 -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r requirements.txt
  echo "$wanted" > "$stamp"
fi
