"""tflm_wheel_api.h against the pinned tflite-micro wheel: the adapter
library imports only TFLM symbols the wheel exports, and the virtual
functions it calls sit in the wheel's vtable slots. A wheel that changed
either fails here rather than crashing inside TFLM. (Struct layouts are
exercised by test_adapter.py, and the resolver's by the adapter itself when
it registers.)"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Dict, List, Set

import pytest

from tflm_freeml import tflm_adapter

REPO = Path(__file__).resolve().parents[2]
HEADER = REPO / "tflm_freeml" / "tflm" / "tflm_wheel_api.h"


@pytest.fixture(scope="module")
def wheel_library() -> Path:
  from tflite_micro.python.tflite_micro import _runtime

  return Path(_runtime.__file__)


@pytest.fixture(scope="module")
def adapter_library() -> Path:
  path = tflm_adapter.library_path()
  if not path.exists():
    pytest.fail(f"{path} not built: run `make build`")
  return path


def _symbols(library: Path, *flags: str) -> Set[str]:
  out = subprocess.run(["nm", "-D", *flags, str(library)], check=True, capture_output=True,
                       text=True).stdout
  return {line.split()[-1] for line in out.splitlines() if line.strip()}


def test_imported_tflm_symbols_are_exported_by_the_wheel(wheel_library, adapter_library):
  imported = {s for s in _symbols(adapter_library, "--undefined-only")
              if "@" not in s and (s.startswith("_ZN6tflite") or s.startswith("_ZNK6tflite")
                                   or s.startswith("_Z11MicroPrintf"))}
  assert len(imported) >= 5, imported  # RegisterOp, GetEvalInput/Output, FindOp, MicroPrintf
  missing = imported - _symbols(wheel_library, "--defined-only")
  assert not missing, f"the wheel does not export {sorted(missing)}"


def _declared_virtuals() -> List[str]:
  """MicroContext's virtual functions in tflm_wheel_api.h, in order."""
  text = HEADER.read_text()
  body = text[text.index("class MicroContext {"):]
  body = body[:body.index("};")]
  return re.findall(r"virtual[^(;]*?(~?\w+)\(", body)


def _vtable(library: Path, class_name: str) -> List[str]:
  """Function names in the wheel's vtable of `class_name`, from the
  relocations that fill it (names without class or arguments)."""
  symbols: Dict[int, str] = {}
  for line in subprocess.run(["nm", "-C", str(library)], check=True, capture_output=True,
                             text=True).stdout.splitlines():
    parts = line.split(None, 2)
    if len(parts) == 3 and re.fullmatch(r"[0-9a-f]+", parts[0]):
      symbols.setdefault(int(parts[0], 16), parts[2])
  start = next(a for a, n in symbols.items() if n == f"vtable for {class_name}")
  targets: Dict[int, int] = {}
  for line in subprocess.run(["readelf", "-rW", str(library)], check=True, capture_output=True,
                             text=True).stdout.splitlines():
    parts = line.split()
    if len(parts) >= 4 and "R_X86_64_RELATIVE" in parts[2]:
      targets[int(parts[0], 16)] = int(parts[3], 16)
  names = []
  slot = start + 16  # after the offset-to-top and typeinfo words
  while slot in targets:
    name = symbols.get(targets[slot], "?")
    names.append(re.sub(r"\(.*", "", name).split("::")[-1])
    slot += 8
  return names


def test_micro_context_virtual_slots(wheel_library):
  declared = _declared_virtuals()
  assert declared[:2] == ["~MicroContext", "AllocatePersistentBuffer"], declared
  # The Itanium ABI gives a virtual destructor two slots.
  expected = ["~MicroInterpreterContext"] * 2 + declared[1:]
  actual = _vtable(wheel_library, "tflite::micro::MicroInterpreterContext")
  assert actual[:len(expected)] == expected
