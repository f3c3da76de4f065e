"""``streampose fleet``'s errors: one line and exit 2, before any Ray call where possible;
and the single-host path never imports Ray."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from streampose.cli import main
from streampose.fleet.cli import status_table
from tests.support.models import MODEL_NAME


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().err.strip()


@pytest.mark.parametrize("argv", [["status"], ["down"], ["remove", "door"],
                                  ["add", "door", "--url", "rtsp://10.0.0.5/s1"]])
def test_without_ray_one_line(monkeypatch, capsys, argv) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails as if not installed
    code, err = run_cli(capsys, "fleet", *argv)
    assert code == 2
    assert err == 'streampose: error: streampose fleet needs Ray: pip install "streampose[cluster]"'


def test_up_checks_the_cameras_file_first(monkeypatch, capsys, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    bad = tmp_path / "cameras.toml"
    bad.write_text('[[camera]]\nname = "door"\nurl = "rtsp://u:secret@10.0.0.5/s1"\n'
                   'colour = "red"\n')
    code, err = run_cli(capsys, "fleet", "up", str(bad))
    assert code == 2 and len(err.splitlines()) == 1
    assert "colour" in err and str(bad) in err and "secret" not in err
    code, err = run_cli(capsys, "fleet", "up", str(tmp_path / "missing.toml"))
    assert code == 2 and "missing.toml" in err and len(err.splitlines()) == 1


def test_up_refuses_a_bad_capacity(monkeypatch, capsys, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    good = tmp_path / "cameras.toml"
    good.write_text('[[camera]]\nname = "door"\nurl = "rtsp://10.0.0.5/s1"\n')
    code, err = run_cli(capsys, "fleet", "up", str(good), "--cameras-per-node", "-1")
    assert code == 2 and "per node" in err


@pytest.mark.parametrize(("argv", "says"), [
    (["add", "door 1", "--url", "rtsp://10.0.0.5/s1"], "name = 'door 1'"),
    (["add", "door", "--url", "ftp://u:secret@10.0.0.5/s1"], "unsupported scheme"),
    (["add", "door", "--url", "http://10.0.0.5/mjpeg", "--transport", "udp"], "only for rtsp"),
])
def test_add_checks_the_camera_first(monkeypatch, capsys, argv, says) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    code, err = run_cli(capsys, "fleet", *argv)
    assert code == 2 and says in err and "secret" not in err
    assert len(err.splitlines()) == 1


def test_status_table() -> None:
    rows = [{"camera": "door", "node": "vm-1a2b3c", "state": "online", "fps_in": 10.0,
             "fps_out": 9.96, "dropped": 3, "lag_p95": 0.1234, "reconnects": 0},
            {"camera": "yard", "node": "-", "state": "pending"}]
    lines = status_table(rows).splitlines()
    assert lines[0].split() == ["CAMERA", "NODE", "STATE", "FPS", "IN", "FPS", "OUT",
                                "DROPPED", "LAG", "P95", "RECONNECTS"]
    assert lines[1].split() == ["door", "vm-1a2b3c", "online", "10.0", "10.0", "3", "123",
                                "ms", "0"]
    assert lines[2].split() == ["yard", "-", "pending", "-", "-", "-", "-", "-"]


def test_single_host_run_never_imports_ray(clip: Path) -> None:
    code = (
        "import sys\n"
        "from streampose.cli import main\n"
        f"rc = main(['run', {str(clip)!r}, '--model', {str(MODEL_NAME)!r}, "
        "'--backend', 'fake', '--no-progress'])\n"
        "assert rc == 0, rc\n"
        "print('ray' in sys.modules)\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "False"


def test_an_address_nothing_answers_on(capsys, tmp_path: Path) -> None:
    pytest.importorskip("ray", reason='needs Ray: pip install -e ".[cluster]"')
    from tests.broker import free_port

    port = free_port()
    code, err = run_cli(capsys, "fleet", "status", "--address", f"127.0.0.1:{port}")
    assert code == 2 and len(err.splitlines()) == 1
    assert f"cannot connect to the Ray cluster at 127.0.0.1:{port}" in err
