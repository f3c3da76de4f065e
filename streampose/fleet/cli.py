"""``streampose fleet up|status|add|remove|down``: the fleet's commands.

The Ray cluster is the user's: ``ray start --head --port 6379`` on the head (``--num-cpus
0`` keeps cameras off it), ``ray start --address HEAD:6379`` on every other machine.

Parsing needs nothing but the standard library; Ray is imported (through
:mod:`streampose.fleet.cluster`) only when a command runs, so a missing Ray is one
error line and ``streampose run`` never loads it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from streampose.errors import ConfigError

__all__ = ["add_fleet_arguments", "fleet_command", "status_table"]

UP_WAIT_S = 60.0  # `fleet up` waits this long for every camera to have a node
CALL_TIMEOUT_S = 60.0
DOWN_TIMEOUT_S = 120.0


def add_fleet_arguments(fleet: argparse.ArgumentParser) -> None:
    sub = fleet.add_subparsers(dest="fleet_command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--address", metavar="HEAD:6379", help=(
            "the Ray cluster (default: RAY_ADDRESS, else the one running on this machine)"))
        return p

    up = command("up", "start the fleet's controller on a running Ray cluster")
    up.add_argument("cameras", type=Path, metavar="CAMERAS.toml",
                    help="cameras file: [[camera]] tables and the pipeline settings")
    up.add_argument("--cameras-per-node", type=int, metavar="N",
                    help="cameras each node takes (default: from its resources)")
    up.add_argument("--cameras-per-cpu", type=float, default=4.0, metavar="N",
                    help="cameras per CPU on a node without GPUs (4)")
    up.add_argument("--cameras-per-gpu", type=int, default=16, metavar="N",
                    help="cameras per GPU (16)")
    up.add_argument("--work-dir", metavar="DIR", help=(
        "folder, on each machine, for the node's cameras file and its pipeline's log "
        "(default: $TMPDIR/streampose-fleet-<uid>)"))
    up.add_argument("--wait", type=float, default=UP_WAIT_S, metavar="S",
                    help=f"wait at most S seconds for every camera to get a node ({UP_WAIT_S:g})")

    status = command("status", "one row per camera: node, state, fps, drops, lag, reconnects")
    status.add_argument("--json", action="store_true",
                        help="the controller's whole view as JSON (cameras, nodes, history)")

    add = command("add", "add a camera to the running fleet")
    add.add_argument("name", metavar="NAME", help="camera name (letters, digits, _, - and .)")
    add.add_argument("--url", required=True, metavar="URL", help="rtsp://..., http(s)://...")
    add.add_argument("--transport", choices=["tcp", "udp"], help="RTSP transport")
    add.add_argument("--no-record", action="store_true",
                     help="no annotated recording for this camera")

    remove = command("remove", "remove a camera from the running fleet")
    remove.add_argument("name", metavar="NAME")

    command("down", "stop every node pipeline and the controller")


def fleet_command(args: argparse.Namespace) -> int:
    run = {"up": _up, "status": _status, "add": _add, "remove": _remove, "down": _down}
    return run[args.fleet_command](args)


# -- the commands ------------------------------------------------------------------------


def _up(args: argparse.Namespace) -> int:
    from streampose.config.cameras_file import load_cameras
    from streampose.fleet.assign import CapacityRule

    cameras = load_cameras(args.cameras)  # ConfigError: one line, before Ray
    try:
        rule = CapacityRule(per_node=args.cameras_per_node, per_cpu=args.cameras_per_cpu,
                            per_gpu=args.cameras_per_gpu)
    except ValueError as exc:
        raise ConfigError(f"fleet up: {exc}") from None
    cluster = _cluster()
    ray = cluster.connect(args.address)
    if cluster.controller_handle() is not None:
        raise ConfigError("a fleet is already up on this Ray cluster; `streampose fleet "
                          "down` first (or `fleet add` / `fleet remove` to change it)")
    work_dir = args.work_dir or cluster.default_work_dir()
    from streampose.fleet.controller import start_controller  # imports Ray's side

    controller = start_controller(
        fleet_id=uuid.uuid4().hex, cameras=list(cameras.cameras),
        settings=cameras.settings, work_dir=work_dir, node_work_dir=work_dir,
        rule={"per_node": rule.per_node, "per_cpu": rule.per_cpu, "per_gpu": rule.per_gpu})
    ray.get(controller.ping.remote(), timeout=CALL_TIMEOUT_S)
    deadline = time.monotonic() + args.wait
    while True:
        view = ray.get(controller.status.remote(), timeout=CALL_TIMEOUT_S)
        waiting = [r["camera"] for r in view["cameras"] if r["node"] == "-"]
        if not waiting or time.monotonic() >= deadline:
            break
        time.sleep(0.5)
    print(status_table(view["cameras"]))
    if waiting:
        print(f"streampose: {len(waiting)} cameras wait for a node with room: "
              f"{', '.join(waiting)}", file=sys.stderr)
    return 0


def _status(args: argparse.Namespace) -> int:
    ray, controller = _controller(args.address)
    view = ray.get(controller.status.remote(), timeout=CALL_TIMEOUT_S)
    if args.json:
        print(json.dumps(view, indent=2))
    else:
        print(status_table(view["cameras"]))
    return 0


def _add(args: argparse.Namespace) -> int:
    from streampose.config.camera import Camera, check_camera_url

    camera = Camera(name=args.name, url=args.url, transport=args.transport,
                    record=not args.no_record)  # ConfigError: one line, before Ray
    check_camera_url(camera.url)
    return _change(args.address, "add", camera, f"camera {camera.name} added")


def _remove(args: argparse.Namespace) -> int:
    return _change(args.address, "remove", args.name, f"camera {args.name} removed")


def _change(address: str | None, method: str, arg: Any, done: str) -> int:
    """Ask the controller to ``method(arg)``; its refusal is one error line."""
    ray, controller = _controller(address)
    error = ray.get(getattr(controller, method).remote(arg), timeout=CALL_TIMEOUT_S)
    if error:
        raise ConfigError(error)
    print(f"streampose: {done}", file=sys.stderr)
    return 0


def _down(args: argparse.Namespace) -> int:
    ray, controller = _controller(args.address)
    ray.get(controller.shutdown.remote(), timeout=DOWN_TIMEOUT_S)
    ray.kill(controller, no_restart=True)
    print("streampose: fleet down", file=sys.stderr)
    return 0


# -- helpers --------------------------------------------------------------------------------


def _cluster() -> Any:
    from streampose.fleet import cluster

    cluster.require_ray()
    return cluster


def _controller(address: str | None) -> tuple[Any, Any]:
    cluster = _cluster()
    ray = cluster.connect(address)
    controller = cluster.controller_handle()
    if controller is None:
        raise ConfigError("no fleet is up on this Ray cluster (start one with "
                          "`streampose fleet up CAMERAS.toml`)")
    return ray, controller


COLUMNS = (("camera", "CAMERA"), ("node", "NODE"), ("state", "STATE"),
           ("fps_in", "FPS IN"), ("fps_out", "FPS OUT"), ("dropped", "DROPPED"),
           ("lag_p95", "LAG P95"), ("reconnects", "RECONNECTS"))


def _cell(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if key.startswith("fps"):
        return f"{float(value):.1f}"
    if key == "lag_p95":
        return f"{float(value) * 1000:.0f} ms"
    return str(value)


def status_table(rows: Sequence[Mapping[str, Any]]) -> str:
    """The status rows as a plain text table (one line per camera, a header)."""
    cells = [[title for _, title in COLUMNS]]
    cells += [[_cell(key, row.get(key)) for key, _ in COLUMNS] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
             for line in cells]
    return "\n".join(lines)
