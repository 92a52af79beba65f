"""The benchmark commands that use each other's helpers can be imported
together: absl refuses a flag defined twice, so a command that defines its
flags at import time breaks every command importing it."""

import re
import subprocess
import sys
from pathlib import Path
from typing import List, Tuple

import pytest

REPO = Path(__file__).resolve().parents[2]
_BENCH_IMPORT = re.compile(r"^\s*from bench(?:\.(\w+))? import (\w+)", re.MULTILINE)


def _bench_dependencies() -> List[Tuple[str, str]]:
  """(module, bench module it imports) for every bench/*.py."""
  modules = {p.stem for p in (REPO / "bench").glob("*.py")}
  pairs = set()
  for path in (REPO / "bench").glob("*.py"):
    for submodule, name in _BENCH_IMPORT.findall(path.read_text()):
      dependency = submodule or name
      if dependency in modules and dependency != "common":
        pairs.add((path.stem, dependency))
  return sorted(pairs)


def test_the_dependencies_are_found():
  assert ("sparsecomp", "tflm_lut") in _bench_dependencies()


@pytest.mark.parametrize("module,dependency", _bench_dependencies())
def test_a_bench_command_imports_with_its_dependency(module, dependency):
  code = f"import bench.{module}, bench.{dependency}"
  run = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                       timeout=300)
  assert run.returncode == 0, run.stderr[-2000:]
