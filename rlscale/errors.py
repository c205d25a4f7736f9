"""Exceptions that the CLI turns into one clear line instead of a traceback.

Messages speak the library's language: a parameter is written ``name=`` (``pass algo=``, ``metric=train_return``)
and listed in ``params``. The command line shows the flag that sets each listed parameter instead (``--algo``,
``--metric train_return``), so a notebook is never told to pass a flag it cannot pass.
"""

from collections.abc import Iterable


class _NamesParams:
    """``params``: the library parameters the message names as ``name=``; the CLI rewrites each to its flag."""

    def __init__(self, *args: object, params: Iterable[str] = ()) -> None:
        super().__init__(*args)
        self.params = tuple(params)


class RlscaleError(_NamesParams, Exception):
    """Base class of every error caused by bad input or a bad state the user can fix."""


class RunTableError(RlscaleError, ValueError):
    """A run table that does not follow the schema in :mod:`rlscale.runs`."""


class TooFewSeeds(RunTableError):
    """A configuration has fewer seeds than a bootstrap over seeds needs; callers add the way out of their step."""


class RlscaleWarning(_NamesParams, UserWarning):
    """A result was produced but the user should know about a gap in it; the CLI prints it as one line."""


def os_error_text(exc: OSError) -> str:
    """What went wrong, in the OS's words (``No space left on device``); for an error whose text is not the plain
    ``strerror`` (pyarrow's, say), its first line."""
    return exc.strerror or (str(exc).splitlines() or [type(exc).__name__])[0]


def os_error_line(exc: OSError) -> str:
    """:func:`os_error_text` and the path it concerns, where the error names one: the CLI's one line."""
    return f"{os_error_text(exc)}: {exc.filename}" if exc.filename else os_error_text(exc)
