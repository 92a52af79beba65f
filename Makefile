# The two commands a new user needs:
#   make demo   set up, convert the bundled digits model, run it, compare with TFLM
#   make test   set up and run every test
# Both install what is missing (Debian packages, .venv) and skip what is there.

PYTHON := .venv/bin/python
BAZEL := bazel
BAZEL_OPT := -c opt
DEMO_OUT := out/digits

.PHONY: setup build demo test test-c test-python lint bench clean

setup:
	@bash scripts/setup.sh

# The host runner and the Python binding's shared library, built by Bazel and
# copied to build/ so that scripts find them at a fixed path.
build: setup
	$(BAZEL) build $(BAZEL_OPT) //tflm_freeml/host:freeml_run //tflm_freeml/host:libfreeml.so
	@mkdir -p build/bin build/lib
	@bin=$$($(BAZEL) info $(BAZEL_OPT) bazel-bin 2>/dev/null); \
	  install -m 755 $$bin/tflm_freeml/host/freeml_run build/bin/freeml_run; \
	  install -m 755 $$bin/tflm_freeml/host/libfreeml.so build/lib/libfreeml.so

demo: build
	$(PYTHON) -m converter --in examples/digits/digits_cnn.h5 --data digits --out $(DEMO_OUT)
	$(PYTHON) examples/digits/run_demo.py --model-dir $(DEMO_OUT)

test-c: setup
	$(BAZEL) test //...

lint: setup
	$(PYTHON) -m ruff check converter tflm_freeml tests bench examples

test-python: build
	$(PYTHON) -m pytest -n 2 -q

test: build test-c lint test-python

# Long runs (callgrind, a 300,000-failure soak): minutes, not part of `make test`.
bench: demo
	$(PYTHON) bench/runtime_vs_tflm.py
	$(PYTHON) bench/intermittent.py

clean:
	rm -rf build out
	-$(BAZEL) clean
