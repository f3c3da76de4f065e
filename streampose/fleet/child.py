"""The node pipeline's process: ``python -m streampose.fleet.child PARENT_PID run ...``.

It asks the kernel to SIGKILL it when the thread that started it dies (Linux
``PR_SET_PDEATHSIG``), checks that its parent is still the one it was started by, then
runs ``streampose run ...`` in this same process. So a node pipeline never outlives its
Ray actor: when the actor's worker dies (its node is lost, or the actor is killed) the
pipeline's supervisor dies at once, and its stages, seeing their supervisor gone, stop
at their next check (at most 0.1 s), close their outputs and remove the run's shared
memory (ARCHITECTURE.md, "A supervisor that dies"). No drain: a camera given to another
node must not be processed here any more.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> None:
    """SIGKILL when the parent (thread) dies; exit at once if it is already gone."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent:
        sys.exit(143)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or not args[0].isdigit():
        print("usage: python -m streampose.fleet.child PARENT_PID run ...", file=sys.stderr)
        return 2
    die_with_parent(int(args[0]))
    from streampose.cli import main as cli_main

    return cli_main(args[1:])


if __name__ == "__main__":
    sys.exit(main())
