"""The one exception the converter raises for bad input, and its exit status.

Every refusal (missing file, wrong file type, an op the runtime lacks, bad
flags, missing data) is a ConverterError: the CLI prints its message as one
line on stderr and exits with EXIT_STATUS, so scripts can tell a refused
input (2) from a crash (1).
"""

EXIT_STATUS = 2


class ConverterError(Exception):
  """A problem with the user's input: what was received, what was expected,
  and how to fix it, in one line."""
