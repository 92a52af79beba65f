"""Atomic outputs: all or nothing, and no temporary file left behind."""

from __future__ import annotations

import pytest

from converter.atomic_io import write_all, write_atomic


def test_write_all_writes_every_file(tmp_path):
  out = tmp_path / "new" / "folder"
  write_all(out, {"a.bin": b"\x00\x01", "b.txt": "text"})
  assert (out / "a.bin").read_bytes() == b"\x00\x01"
  assert (out / "b.txt").read_text() == "text"
  assert sorted(p.name for p in out.iterdir()) == ["a.bin", "b.txt"]


class _Unwritable:
  def __bytes__(self):
    raise OSError("disk full")


def test_a_failed_write_changes_no_final_name(tmp_path):
  (tmp_path / "a.bin").write_bytes(b"old")
  with pytest.raises(OSError, match="disk full"):
    write_all(tmp_path, {"a.bin": b"new", "b.bin": _Unwritable()})
  assert (tmp_path / "a.bin").read_bytes() == b"old"
  assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin"]


def test_write_atomic_replaces_and_cleans_up(tmp_path):
  path = tmp_path / "x.txt"
  write_atomic(path, "one")
  write_atomic(path, "two")
  assert path.read_text() == "two"
  with pytest.raises(OSError):
    write_atomic(path, _Unwritable())
  assert path.read_text() == "two"
  assert [p.name for p in tmp_path.iterdir()] == ["x.txt"]
