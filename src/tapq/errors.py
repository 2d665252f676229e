"""The one exception type for mistakes a user can fix.

The CLI prints a `TapqError` as a single line and exits non-zero; anything else is a
bug and keeps its traceback. Raise it for bad specs, missing files and invalid
configurations, with a message that says what to do instead.
"""


class TapqError(Exception):
    """A user-facing error: bad input, missing file, infeasible request."""
