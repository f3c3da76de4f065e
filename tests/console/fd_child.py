"""The child of ``test_listener.test_client_load_never_takes_the_descriptors_the_run_needs``:
a console under a lowered RLIMIT_NOFILE.

``python tests/console/fd_child.py LIMIT RESERVE``: prints the console's port, then for
each path read from stdin writes ``{}`` there and prints ``wrote`` (or the error) and the
free descriptors; stops at end of input.
"""

from __future__ import annotations

import logging
import multiprocessing
import resource
import sys

from streampose.console.auth import Auth
from streampose.console.events import EventHub
from streampose.console.fds import free_fds
from streampose.console.gate import Limits
from streampose.console.link import ConsoleLink
from streampose.console.preview import PreviewHub
from streampose.console.server import ConsoleServer, ConsoleState


def main(limit: int, reserve: int) -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
    link = ConsoleLink(previews=[], sizes=[], fps=2.0, ctx=multiprocessing.get_context("spawn"))
    state = ConsoleState(status=dict, metrics=bytes, previews=PreviewHub(link),
                         events=EventHub(link))
    limits = Limits(fd_reserve=reserve, max_connections=10_000,
                    max_connections_per_address=10_000, header_timeout_s=60.0)
    with ConsoleServer(state, auth=Auth.parse("tok"), limits=limits) as server:
        print(server.port, flush=True)
        for line in sys.stdin:
            try:
                with open(line.strip(), "w") as out:
                    out.write("{}")
                print("wrote", flush=True)
            except OSError as exc:
                print(f"failed: {exc}", flush=True)
            print(free_fds(), flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
