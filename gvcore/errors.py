"""User-facing errors.

Anything a user can get wrong (a family name, a config key, a file) raises :class:`GVError` with a
one-line message that names the bad value and says how to fix it. The CLI turns it into that line
on stderr and exit code 2, without a traceback.
"""


class GVError(Exception):
    """Bad input from the user: reported as one line, exit code 2."""

    exit_code = 2

    def __init__(self, message: str):
        # Keep it to one line whatever the caller passed in.
        super().__init__(" ".join(str(message).split()))
