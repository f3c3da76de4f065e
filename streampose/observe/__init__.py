"""streampose.observe: watching a run while it goes (see ARCHITECTURE.md).

``counters`` and ``stats``: shared-memory figures written by the stage processes;
``live``: the parent's view of them (rates, latency, busy ratios, per-camera state);
``metrics``: the Prometheus registry and endpoint (``prometheus_client``); ``status``: the
terminal status display (``rich``). The web console is :mod:`streampose.console`.
"""
