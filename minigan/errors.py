"""The one exception type for user mistakes."""


class MiniganError(Exception):
    """A user mistake, printed by the CLI as one sentence without a traceback."""
