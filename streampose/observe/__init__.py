"""streampose.observe: watching a run while it goes (see ARCHITECTURE.md).

``counters`` and ``stats``: shared-memory figures written by the stage processes;
``camera_state``: each camera's state, in one vocabulary; ``live``: the parent's view of
them (rates, latency, busy ratios, each camera's state once per tick); ``metrics``: the
Prometheus registry and endpoint (``prometheus_client``); ``terminal``: the terminal
status display (``rich``); ``summary``: the run summary. The web console is
:mod:`streampose.console`.
"""
