"""Will the rings fit (streampose.runtime.memory)?"""

from __future__ import annotations

from pathlib import Path

import pytest

from streampose.errors import ConfigError
from streampose.runtime.memory import available_memory, check_fits, shm_free


def test_available_memory_reads_meminfo(tmp_path: Path) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:  8000000 kB\nMemFree: 100 kB\nMemAvailable:   2048 kB\n")
    assert available_memory(meminfo) == 2048 * 1024


def test_available_memory_without_meminfo_asks_sysconf(tmp_path: Path) -> None:
    found = available_memory(tmp_path / "missing")
    assert found is None or found > 0


def test_shm_free_is_known_here() -> None:
    free = shm_free()
    assert free is None or free >= 0
    assert shm_free(Path("/no/such/folder")) is None


@pytest.mark.parametrize(("memory", "shm", "where"), [
    (10 * 2 ** 30, 2 ** 30, "free in /dev/shm"),
    (2 ** 30, 10 * 2 ** 30, "of memory available"),
])
def test_too_big_is_refused_naming_sizes(memory: int, shm: int, where: str) -> None:
    with pytest.raises(ConfigError, match=rf"needs 2\.0 GiB .* only 1\.0 GiB is {where} "
                                          r"\(input 99x99\)"):
        check_fits(2 * 2 ** 30, memory=memory, shm=shm, sizes="input 99x99")


def test_what_fits_or_is_unknown_passes() -> None:
    check_fits(2 ** 20, memory=2 ** 30, shm=2 ** 30, sizes="")
    check_fits(2 ** 40, memory=None, shm=None, sizes="")
