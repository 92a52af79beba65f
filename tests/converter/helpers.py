"""Shared helpers of the converter tests: run the CLI as a user does, and
check a refusal the way the contract states it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from converter.pipeline import EXIT_HEAD_FILE, OUTPUT_FILES, REFERENCE_FILE

REPO = Path(__file__).resolve().parents[2]
DIGITS_H5 = REPO / "examples" / "digits" / "digits_cnn.h5"
ERROR_PREFIX = "converter: error:"


def run_converter(*args, env: dict | None = None) -> subprocess.CompletedProcess:
  """`python -m converter ARGS` from the repo root; env entries override."""
  return subprocess.run([sys.executable, "-m", "converter", *map(str, args)], cwd=REPO,
                        capture_output=True, text=True, timeout=900,
                        env={**os.environ, **(env or {})})


def assert_refused(result: subprocess.CompletedProcess, out: Path, *fragments: str) -> str:
  """Exit status 2, exactly one 'converter: error:' line holding every
  fragment, and nothing in `out` that looks like an output (not even a
  temporary file). Returns the error line."""
  assert result.returncode == 2, result.stderr
  lines = [line for line in result.stderr.splitlines() if line.startswith(ERROR_PREFIX)]
  assert len(lines) == 1, result.stderr
  for fragment in fragments:
    assert fragment in lines[0], lines[0]
  assert "Traceback" not in result.stderr, result.stderr
  if out.exists():
    leftovers = [p.name for p in out.iterdir()
                 if p.name in OUTPUT_FILES or p.name in (REFERENCE_FILE, EXIT_HEAD_FILE)
                 or p.name.endswith(".tmp")]
    assert not leftovers, leftovers
  return lines[0]


def c_array_bytes(source: str) -> bytes:
  """The bytes of the one array initializer in a generated model_data.c."""
  body = source.split("= {", 1)[1].split("};", 1)[0]
  return bytes(int(h, 16) for h in re.findall(r"0x([0-9a-fA-F]{2})", body))
