"""What the command-line tools share: one-line refusals with exit status 2,
and absl flag errors reported the same way."""

from __future__ import annotations

import sys
from typing import Callable, List

from absl import flags

from converter.errors import EXIT_STATUS


def fail(program: str, message: str) -> None:
  print(f"{program}: error: {message}", file=sys.stderr)
  sys.exit(EXIT_STATUS)


def flags_parser(program: str) -> Callable[[List[str]], List[str]]:
  """absl's parsing, with flag errors reported like every other refusal."""

  def parse(argv: List[str]) -> List[str]:
    try:
      return flags.FLAGS(argv)
    except flags.Error as e:
      fail(program, f"{e} (see --help)")
    except SystemExit as e:  # absl exits 1 after printing --help: asking for help is no error
      sys.exit(0 if e.code == 1 else e.code)
    return []  # not reached

  return parse
