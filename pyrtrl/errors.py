"""The one exception type pyrtrl raises for bad input.

The CLI prints ``PyrtrlError`` messages as a single line and exits non-zero; anything
else reaching the top level is a bug and keeps its traceback.
"""


class PyrtrlError(ValueError):
    """Invalid model, configuration or data, described in one line."""
