"""Exceptions that the CLI turns into one clear line instead of a traceback."""


class RlscaleError(Exception):
    """Base class of every error caused by bad input or a bad state the user can fix."""


class RunTableError(RlscaleError, ValueError):
    """A run table that does not follow the schema in :mod:`rlscale.runs`."""


class TooFewSeeds(RunTableError):
    """A configuration has fewer seeds than a bootstrap over seeds needs; callers add the way out of their step."""


class RlscaleWarning(UserWarning):
    """A result was produced but the user should know about a gap in it; the CLI prints it as one line."""
