"""The one exception the converter raises for bad input."""


class ConverterError(Exception):
  """A problem with the user's input: printed as one line, exit status 2."""
