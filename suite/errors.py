"""The suite's error type for bad input, raised from any layer."""


class UsageError(Exception):
    """Bad input from the command line: reported in one line, exit status 2."""

    def _render_traceback_(self) -> list[str]:  # IPython: this one line, no traceback
        return [f"{type(self).__name__}: {self}"]
