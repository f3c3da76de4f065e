"""Signal dispositions and the signal mask, which a child process inherits: an ignored
or blocked SIGINT (a suite started as a background job of a non-interactive shell
starts with SIGINT ignored; a test may leave one behind) must not reach the programs the
Ctrl-C tests start, or they see the signal lost."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

WATCHED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def signals_restored() -> Iterator[None]:
    """The main thread's handlers of :data:`WATCHED` and its signal mask as they were
    before the block, whatever it changed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handlers = {sig: signal.getsignal(sig) for sig in WATCHED}
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    try:
        yield
    finally:
        for sig, handler in handlers.items():
            if handler is not None:
                signal.signal(sig, handler)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def default_interrupt() -> None:
    """For ``subprocess.Popen(preexec_fn=...)``: the child starts with SIGINT at its
    default and unblocked, as a program started from a terminal does, so Python installs
    its KeyboardInterrupt handler whatever the test process had."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGINT])


