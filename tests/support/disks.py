"""A real full disk for tests: the fixture `tiny_disk`, a 64 KiB tmpfs (needs root with
mount rights; the test is skipped without them)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs: a real disk-full."""
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()}); the ENOSPC tests cover it")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False)
