"""streampose.observe: watching a run while it goes (see ARCHITECTURE.md).

``counters`` and ``stats``: shared-memory figures written by the stage processes;
``live``: the parent's view of them (rates, latency, busy ratios); ``metrics``: the
Prometheus endpoint; ``status``: the terminal status display.
"""
