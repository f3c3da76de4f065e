"""The connection gate's books, on a fake clock and a fake descriptor count."""

from __future__ import annotations

from streampose.console.gate import Conn, Gate, Limits


class World:
    """A fake clock and free-descriptor count, and the connections the gate closed."""

    def __init__(self) -> None:
        self.now, self.free = 0.0, 1000
        self.closed: list[Conn] = []

    def gate(self, **limits: float) -> Gate:
        return Gate(limits=Limits(**limits), clock=lambda: self.now,  # type: ignore[arg-type]
                    free=lambda: self.free)

    def connect(self, gate: Gate, address: str = "10.0.0.1") -> Conn | None:
        conn = gate.admit(address)
        if conn is not None:
            gate.connected(conn, lambda: self.closed.append(conn))
        return conn


def test_a_client_that_never_completes_its_headers_is_closed_after_the_timeout() -> None:
    world = World()
    gate = world.gate(header_timeout_s=2.0, idle_timeout_s=30.0)
    conn = world.connect(gate)
    assert conn is not None
    gate.received(conn)           # "GET / HTTP/1.1\r\n", then nothing
    world.now = 1.9
    gate.sweep()
    assert world.closed == []
    world.now = 2.0
    gate.sweep()
    assert world.closed == [conn] and gate.counts()["header_timeout"] == 1
    assert gate.counts()["connections"] == 0


def test_idle_then_slow_headers() -> None:
    world = World()
    gate = world.gate(header_timeout_s=2.0, idle_timeout_s=30.0)
    conn = world.connect(gate)
    assert conn is not None
    gate.begin(conn)
    world.now = 100.0             # a long request (a WebSocket): never timed out
    gate.sweep()
    gate.end(conn)
    world.now = 129.0
    gate.sweep()
    assert world.closed == []     # idle up to 30 s
    gate.received(conn)           # the next request starts, and stalls
    world.now = 131.0
    gate.sweep()
    assert world.closed == [conn] and gate.counts()["header_timeout"] == 1


def test_idle_timeout() -> None:
    world = World()
    gate = world.gate(header_timeout_s=2.0, idle_timeout_s=30.0)
    conn = world.connect(gate)
    assert conn is not None
    gate.begin(conn)
    gate.end(conn)
    world.now = 30.0
    gate.sweep()
    assert world.closed == [conn] and gate.counts()["idle_timeout"] == 1


def test_the_per_address_cap_sheds_that_address_oldest_waiting_connection() -> None:
    world = World()
    gate = world.gate(max_connections_per_address=3)
    first, second, third = (world.connect(gate) for _ in range(3))
    assert first and second and third
    gate.begin(first)             # inside a request: never shed
    other = world.connect(gate, "10.0.0.2")
    fourth = world.connect(gate)
    assert fourth is not None and world.closed == [second]
    fifth = world.connect(gate)
    assert fifth is not None and world.closed == [second, third]
    assert other not in world.closed
    assert gate.counts()["shed"] == 2 and gate.counts()["connections"] == 4


def test_refused_when_nothing_can_be_shed() -> None:
    world = World()
    gate = world.gate(max_connections=3, max_connections_per_address=2)
    conns = [world.connect(gate, a) for a in ("a", "a", "b")]
    for conn in conns:
        assert conn is not None
        gate.begin(conn)
    assert world.connect(gate, "a") is None    # its address is full of busy connections
    assert world.connect(gate, "c") is None    # the server is full of busy connections
    counts = gate.counts()
    assert counts["refused_address"] == 1 and counts["refused_connections"] == 1
    assert counts["connections"] == 3 and world.closed == []


def test_the_descriptor_reserve_sheds_or_refuses() -> None:
    world = World()
    gate = world.gate(fd_reserve=64)
    waiting, busy = world.connect(gate), world.connect(gate)
    assert waiting and busy
    gate.begin(busy)
    world.free = 63               # below the reserve: make room or refuse
    newest = world.connect(gate)
    assert newest is not None and world.closed == [waiting]
    gate.begin(newest)
    assert world.connect(gate) is None and gate.counts()["refused_fds"] == 1
    assert gate.counts()["connections"] == 2


def test_a_connection_closed_twice_is_counted_once() -> None:
    world = World()
    gate = world.gate()
    conn = world.connect(gate)
    assert conn is not None
    gate.closed(conn)
    gate.closed(conn)
    gate.end(conn)                # a request that ends after its connection was lost
    assert gate.counts()["connections"] == 0 and not gate._waiting and not gate._fresh


def test_stream_caps_per_server_and_per_address() -> None:
    gate = World().gate(max_streams=3, max_streams_per_address=2)
    assert gate.open_stream("a") and gate.open_stream("a")
    assert not gate.open_stream("a")
    assert gate.open_stream("b")
    assert not gate.open_stream("c")
    gate.close_stream("a")
    assert gate.open_stream("c")
    assert gate.counts()["refused_streams"] == 2 and gate.counts()["streams"] == 3


def test_a_connection_whose_headers_arrived_is_not_shed_but_still_timed() -> None:
    world = World()
    gate = world.gate(max_connections=2, header_timeout_s=2.0)
    ready, slow = world.connect(gate), world.connect(gate)
    assert ready and slow
    gate.received(ready, headers_end=True)   # a whole request, not handled yet
    gate.received(slow)
    assert world.connect(gate) is not None and world.closed == [slow]
    world.now = 2.0                          # its handling never began
    gate.sweep()
    assert ready in world.closed and gate.counts()["header_timeout"] == 2


def test_slow_clients_are_shed_before_a_new_one_whose_request_may_be_in_flight() -> None:
    world = World()
    gate = world.gate(max_connections=3)
    slow = world.connect(gate)
    new = world.connect(gate)
    idle = world.connect(gate)
    assert slow and new and idle
    gate.received(slow)              # half a request line
    gate.begin(idle)
    gate.end(idle)
    world.now = 0.5
    assert world.connect(gate) is not None and world.closed == [slow]
    assert world.connect(gate) is not None and world.closed == [slow, idle]
    assert world.connect(gate) is not None and world.closed == [slow, idle, new]  # none else


def test_a_new_connection_silent_for_the_grace_time_is_slow() -> None:
    world = World()
    gate = world.gate(max_connections=2)
    silent, slow = world.connect(gate), world.connect(gate)
    assert silent and slow
    gate.received(slow)
    world.now = 1.0                  # GRACE_S: the silent one has shown itself slow first
    assert world.connect(gate) is not None and world.closed == [silent]


def test_what_a_new_connection_has_already_sent_counts() -> None:
    world = World()
    gate = world.gate(max_connections=2)
    whole = gate.admit("a", b"GET /api/status HTTP/1.1\r\nHost: x\r\n\r\n")
    half = gate.admit("a", b"GET / HTTP/1.1\r\n")
    assert whole and half and whole.ready and half.partial
    assert gate.admit("a") is not None and gate.counts()["shed"] == 1
    assert half not in gate._conns and whole in gate._conns
