"""A camera fleet on a Ray cluster: ``streampose fleet up|status|add|remove|down``.

- :mod:`~streampose.fleet.assign`: which node runs which camera (pure: capacity,
  stable, least-loaded first, one owner);
- :mod:`~streampose.fleet.controller`: the detached controller actor: desired cameras,
  owners, node watch, reassignment, ``moved`` over MQTT;
- :mod:`~streampose.fleet.node`: one node pipeline actor per machine running
  ``streampose run --cameras <node file>``;
- :mod:`~streampose.fleet.child`: that pipeline's process, which dies with its actor;
- :mod:`~streampose.fleet.figures`: each camera's figures from the pipeline's metrics;
- :mod:`~streampose.fleet.cluster`: the only module that imports Ray (``pip install
  "streampose[cluster]"``); :mod:`~streampose.fleet.cli`: the commands.

Frames never cross the network: each machine runs its own shared-memory pipeline, with
batching across its cameras; only control calls and figures go through Ray.
"""
