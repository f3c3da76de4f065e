"""``.ci/apt.sh``: the README's test command never fails for want of root; packages
already there are not installed again. Run on a copy with made-up groups and a fake
``id``/``sudo``/``apt-get`` on PATH, so nothing is installed and no root is needed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.shared import ROOT

pytestmark = pytest.mark.skipif(shutil.which("dpkg-query") is None,
                                reason="needs dpkg-query (a Debian/Ubuntu system)")

FAKE = {  # a non-root user without sudo; apt-get must never run
    "id": "#!/bin/sh\necho 1000\n",
    "sudo": "#!/bin/sh\nexit 1\n",
    "apt-get": "#!/bin/sh\necho apt-get ran >&2\nexit 99\n",
}


def run_apt(tmp_path: Path, groups: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    ci, bin_dir = tmp_path / "ci", tmp_path / "bin"
    (ci / "apt").mkdir(parents=True, exist_ok=True)
    bin_dir.mkdir(exist_ok=True)
    shutil.copy(ROOT / ".ci" / "apt.sh", ci / "apt.sh")
    for name, packages in groups.items():
        (ci / "apt" / f"{name}.list").write_text(packages)
    for name, body in FAKE.items():
        (bin_dir / name).write_text(body)
        (bin_dir / name).chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin"}
    return subprocess.run(["bash", str(ci / "apt.sh"), *args], capture_output=True, text=True,
                          env=env, timeout=120)


def test_present_packages_are_not_installed(tmp_path: Path) -> None:
    result = run_apt(tmp_path, {"base": "# always there\nbash\ncoreutils\n"})
    assert result.returncode == 0, result.stderr
    assert "base: already present, nothing to install" in result.stderr
    assert "apt-get ran" not in result.stderr


def test_missing_packages_without_root_skip_with_a_message(tmp_path: Path) -> None:
    result = run_apt(tmp_path, {"base": "bash\n", "extra": "streampose-no-such-package\n"})
    assert result.returncode == 0, result.stderr
    assert "extra: missing streampose-no-such-package" in result.stderr
    assert "not root (and no passwordless sudo): skipping" in result.stderr
    assert "apt-get ran" not in result.stderr


def test_check_only_reports_missing_with_exit_1(tmp_path: Path) -> None:
    groups = {"extra": "streampose-no-such-package\n"}
    assert run_apt(tmp_path, groups, "--check").returncode == 1
    assert run_apt(tmp_path, groups, "--check", "nope").returncode == 2
