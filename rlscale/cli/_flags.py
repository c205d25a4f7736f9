"""Library messages in command-line terms.

Library errors and warnings name parameters as ``name=`` and list them in ``params``
(:mod:`rlscale.errors`); on the command line each becomes the flag that sets it. The flag is read from
the parser of the command that ran (an option's ``dest`` is the parameter it sets), so argparse stays the
one source of truth; a parameter the command has no flag for keeps its ``name=`` form.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping

Flags = Mapping[str, argparse.Action]


def command_flags(parser: argparse.ArgumentParser, args: argparse.Namespace) -> dict[str, argparse.Action]:
    """``dest`` -> option of the (sub)command that ``parser`` parsed ``args`` with."""
    while True:
        sub = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
        if sub is None or getattr(args, sub.dest, None) not in sub.choices:
            break
        parser = sub.choices[getattr(args, sub.dest)]
    return {a.dest: a for a in parser._actions if a.option_strings}


def in_cli_terms(message: object, flags: Flags) -> str:
    """``str(message)`` with each of its ``params`` that ``flags`` holds written as the flag: ``algo=`` ->
    ``--algo``, ``metric=train_return`` -> ``--metric train_return``, ``include_unfinished=True`` ->
    ``--include-unfinished`` (a flag that takes no value)."""
    text = str(message)
    params = sorted((p for p in getattr(message, "params", ()) if p in flags), key=len, reverse=True)
    if not params:
        return text

    def flag(match: re.Match[str]) -> str:
        action = flags[match["name"]]
        option = max(action.option_strings, key=len)
        if action.nargs == 0:
            return option
        value = match["true"] or ""
        value_follows = bool(value) or (match.end() < len(text) and text[match.end()] not in " ,;:)]/'\"")
        return option + (" " if value_follows else "") + value

    names = "|".join(map(re.escape, params))
    return re.sub(rf"(?<![\w.])(?P<name>{names})=(?P<true>True\b)?", flag, text)
