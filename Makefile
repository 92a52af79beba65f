# The two commands a new user needs:
#   make demo   set up, convert the bundled digits model, run it, compare with TFLM,
#               profile it on a Cortex-M4, and simulate it with exits on a harvesting trace
#   make test   set up and run every test
# Both install what is missing (Debian packages, .venv) and skip what is there.

PYTHON := .venv/bin/python
BAZEL := bazel
BAZEL_OPT := -c opt
DEMO_OUT := out/digits

.PHONY: setup build firmware profile demo test test-c test-python lint bench clean

setup:
	@bash scripts/setup.sh

# The host runner, the Python binding's shared library and the TFLM adapter
# for the tflite-micro wheel, built by Bazel and copied to build/ so that
# scripts find them at a fixed path.
build: setup
	$(BAZEL) build $(BAZEL_OPT) //tflm_freeml/host:freeml_run //tflm_freeml/host:libfreeml.so \
	  //tflm_freeml/tflm:libfreeml_tflm.so
	@mkdir -p build/bin build/lib
	@bin=$$($(BAZEL) info $(BAZEL_OPT) bazel-bin 2>/dev/null); \
	  install -m 755 $$bin/tflm_freeml/host/freeml_run build/bin/freeml_run; \
	  install -m 755 $$bin/tflm_freeml/host/libfreeml.so build/lib/libfreeml.so; \
	  install -m 755 $$bin/tflm_freeml/tflm/libfreeml_tflm.so build/lib/libfreeml_tflm.so

# Cortex-M4 firmware for a converter output folder (default: the demo's):
# writes build/firmware/freeml_fw.elf. See docs/firmware.md.
MODEL_DIR ?= $(DEMO_OUT)
firmware: setup
	@bash scripts/build_firmware.sh $(MODEL_DIR)

# Runs that firmware under QEMU and adds per-op instruction counts on the
# Cortex-M4 to $(MODEL_DIR)/report.{md,json}.
profile: build firmware
	$(PYTHON) -m converter.device_profile --model-dir $(MODEL_DIR)

demo: build
	$(PYTHON) -m converter --in examples/digits/digits_cnn.h5 --data digits --out $(DEMO_OUT)
	$(PYTHON) examples/digits/run_demo.py --model-dir $(DEMO_OUT)
	@$(MAKE) --no-print-directory profile MODEL_DIR=$(DEMO_OUT)
	$(PYTHON) -m converter --in examples/digits/digits_cnn.h5 --data digits --exits auto \
	  --out $(DEMO_OUT)_exits
	$(PYTHON) -m converter.simulate --model $(DEMO_OUT)_exits

# C unit tests on the host, under AddressSanitizer + UBSan, and cross-built
# for the Cortex-M4 and run in QEMU (netduinoplus2). The fuzz targets run
# from pytest (tests/fuzz/).
test-c: setup
	$(BAZEL) test //...
	$(BAZEL) test --config=asan //kernels/... //tflm_freeml/...
	$(BAZEL) test --config=cortex_m4 //kernels/... //tflm_freeml/...

lint: setup
	$(PYTHON) -m ruff check converter tflm_freeml tests bench examples fuzz

test-python: build
	$(PYTHON) -m pytest -n 2 -q

test: build test-c lint test-python

# Long runs (callgrind, a 300,000-failure soak, firmware variants under
# QEMU): minutes, not part of `make test`.
bench: demo
	$(PYTHON) bench/runtime_vs_tflm.py
	$(PYTHON) bench/intermittent.py
	$(PYTHON) bench/firmware.py

clean:
	rm -rf build out
	-$(BAZEL) clean
