"""Progress on stderr: a tqdm bar on a terminal, periodic log lines everywhere else.

Off a terminal (a log file, CI, ``nohup``, a sweep's ``train.log``) a bar's carriage returns make one
unreadable line, and tqdm has no line mode, so :class:`LogProgress` prints one plain line every
``RLSCALE_PROGRESS_EVERY`` seconds (default 30) and one when the work ends.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

EVERY_ENV = "RLSCALE_PROGRESS_EVERY"  # seconds between progress lines off a terminal
DEFAULT_EVERY = 30.0


def interval() -> float:
    try:
        return max(0.0, float(os.environ.get(EVERY_ENV, DEFAULT_EVERY)))
    except ValueError:
        return DEFAULT_EVERY


class LogProgress:
    """tqdm's ``update``/``set_postfix``/``write``/``close`` as periodic ``rlscale: DESC: n/total`` lines."""

    def __init__(self, total: int, *, initial: int = 0, unit: str = "it", desc: str = "",
                 stream: TextIO | None = None, every: float | None = None) -> None:
        self.total, self.n, self.unit, self.desc = total, initial, unit, desc
        self.stream = stream or sys.stderr
        self.every = interval() if every is None else every
        self.start_n, self.t0 = initial, time.monotonic()
        self.last = self.t0
        self.postfix: dict[str, Any] = {}
        self.lines = 0

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            self._line()

    def set_postfix(self, **values: Any) -> None:
        self.postfix = values

    def write(self, message: str) -> None:
        print(message, file=self.stream, flush=True)

    def close(self) -> None:
        if self.lines:  # work shorter than one interval stays silent
            self._line(done=True)

    def _line(self, done: bool = False) -> None:
        elapsed = time.monotonic() - self.t0
        rate = (self.n - self.start_n) / elapsed if elapsed > 0 else 0.0
        parts = [f"{self.n}/{self.total} {self.unit}" + (f" ({100 * self.n / self.total:.0f}%)" if self.total else "")]
        parts.append(f"{elapsed:.0f} s")
        if rate > 0:
            parts.append(f"{rate:.3g} {self.unit}/s")
            if not done and self.total:
                parts.append(f"eta {max(0.0, (self.total - self.n) / rate):.0f} s")
        parts += [f"{k}={v}" for k, v in self.postfix.items()]
        head = f"rlscale: {self.desc}: " if self.desc else "rlscale: "
        self.write(head + ("done, " if done else "") + ", ".join(parts))
        self.lines += 1


class _Bar:
    """A tqdm bar whose ``write`` goes to stderr above the bar."""

    def __init__(self, bar: Any) -> None:
        self.bar = bar

    def __getattr__(self, name: str) -> Any:
        return getattr(self.bar, name)

    def write(self, message: str) -> None:
        self.bar.write(message, file=sys.stderr)


def progress_bar(total: int, *, initial: int = 0, unit: str = "it", desc: str = "", disable: bool = False) -> Any:
    """A tqdm bar when stderr is a terminal, else :class:`LogProgress`; ``disable``: only ``write`` prints."""
    if sys.stderr.isatty() or disable:
        from tqdm import tqdm

        return _Bar(tqdm(total=total, initial=initial, unit=unit, desc=desc or None, dynamic_ncols=True,
                         disable=disable, file=sys.stderr))
    return LogProgress(total, initial=initial, unit=unit, desc=desc)


@contextmanager
def heartbeat(desc: str, *, disable: bool = False) -> Iterator[None]:
    """For work that cannot count its progress (one library call): a line every interval while it runs,
    and one with the time taken at the end (none for work shorter than one interval, or with ``disable``)."""
    if disable:
        yield
        return
    t0, stop, beats = time.monotonic(), threading.Event(), []

    def beat() -> None:
        while not stop.wait(max(interval(), 0.01)):
            print(f"rlscale: {desc}: {time.monotonic() - t0:.0f} s so far", file=sys.stderr, flush=True)
            beats.append(1)

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
    if beats:  # work shorter than one interval stays silent
        print(f"rlscale: {desc}: done in {time.monotonic() - t0:.1f} s", file=sys.stderr, flush=True)
