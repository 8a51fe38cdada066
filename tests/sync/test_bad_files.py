"""Buffer files sync cannot use (corrupt, truncated, empty, another format), a buffer
directory it cannot write, and files it cannot delete: sync reports and skips them, never
wedges, never loses or deletes a good entry."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from telemetry.effects.records import BufferEntry
from telemetry.shell.buffer import CLAIMS_DIR, BufferDirectory
from telemetry.shell.service_api import ServiceApi
from telemetry.shell.sync import SyncWorker
from telemetry.wire.format import buffer_document
from tests.support.service import ServiceProcess
from tests.sync.helpers import T0, claims_files, fetch_row, simple_record, write_entry

_GOOD = buffer_document(BufferEntry("create", simple_record()), T0.isoformat())
BAD_FILES = {
    "truncated": _GOOD[: len(_GOOD) // 2],
    "empty": b"",
    "not-json": b"\x00\xff garbage \xfe",
    "another-format": b'{"format": "someone-else/7", "payload": [1, 2, 3]}',
    "json-array": b"[1, 2, 3]",
    "unknown-field": _GOOD.replace(b'"fields":[]', b'"fields":["no_such_field"]'),
    "bad-record": _GOOD.replace(b'"create"', b'"upsert"'),
}


def _mixed_buffer(buffer_dir: Path) -> tuple[list[str], dict[str, Path]]:
    """Good creates between bad files, in name order; the good event ids and bad paths."""
    good: list[str] = []
    bad: dict[str, Path] = {}
    for index, (kind, content) in enumerate(BAD_FILES.items()):
        record = simple_record()
        write_entry(buffer_dir, 2 * index, BufferEntry("create", record))
        good.append(record.event_id)
        bad[kind] = buffer_dir / f"{2 * index + 1:020d}_{kind}.json"
        bad[kind].write_bytes(content)
    (buffer_dir / "notes.txt").write_text("not a buffer file: ignored, left alone")
    return good, bad


def test_unusable_files_are_quarantined_with_a_reason_and_good_entries_delivered(
    shared_service: ServiceProcess, shared_api: ServiceApi, tmp_path: Path
) -> None:
    buffer_dir = tmp_path / "buffer"
    good, bad = _mixed_buffer(buffer_dir)
    report = SyncWorker(BufferDirectory(buffer_dir), shared_api).run_once()
    assert (report.delivered, report.quarantined, report.remaining) == (len(good), len(bad), 0)
    assert any(error.startswith("corrupt entry:") for error in report.errors)
    corrupt = buffer_dir / "corrupt"
    for kind, path in bad.items():
        assert (corrupt / path.name).read_bytes() == BAD_FILES[kind]
        assert (corrupt / f"{path.name}.reason.txt").read_text().strip(), kind
    with httpx.Client(base_url=shared_service.url) as client:
        assert all(fetch_row(client, event_id) is not None for event_id in good)
    assert (buffer_dir / "notes.txt").exists()
    assert claims_files(buffer_dir) == []


def test_with_the_service_down_bad_files_go_aside_and_good_entries_stay(tmp_path: Path) -> None:
    buffer_dir = tmp_path / "buffer"
    good, bad = _mixed_buffer(buffer_dir)
    before = {path.name: path.read_bytes() for path in BufferDirectory(buffer_dir).pending()}
    api = ServiceApi("http://127.0.0.1:9", connect_timeout=0.2)  # port 9: nobody listens
    report = SyncWorker(BufferDirectory(buffer_dir), api).run_once()
    api.close()
    assert report.service_unavailable and report.delivered == 0
    assert (report.quarantined, report.remaining) == (len(bad), len(good))
    after = {path.name: path.read_bytes() for path in BufferDirectory(buffer_dir).pending()}
    bad_names = {path.name for path in bad.values()}
    assert after == {name: content for name, content in before.items() if name not in bad_names}


def test_an_unreadable_directory_entry_is_quarantined_not_retried(
    shared_service: ServiceProcess, shared_api: ServiceApi, tmp_path: Path
) -> None:
    buffer_dir = tmp_path / "buffer"
    (buffer_dir / "00000000000000000000_a-directory.json").mkdir(parents=True)
    record = simple_record()
    write_entry(buffer_dir, 1, BufferEntry("create", record))
    worker = SyncWorker(BufferDirectory(buffer_dir), shared_api)
    first, second = worker.run_once(), worker.run_once()
    assert (first.delivered, first.quarantined, first.remaining) == (1, 1, 0)
    assert (second.delivered, second.quarantined, second.remaining) == (0, 0, 0)


@pytest.fixture
def read_only_buffer(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """(writable source, read-only view) of one buffer directory: a read-only bind mount,
    since root ignores permission bits."""
    source, view = tmp_path / "source", tmp_path / "view"
    source.mkdir()
    view.mkdir()
    if os.geteuid() != 0:
        pytest.skip("needs root for a read-only bind mount (chmod does not stop root)")
    bound = subprocess.run(["mount", "--bind", str(source), str(view)], capture_output=True, text=True)
    if bound.returncode != 0:
        pytest.skip(f"no bind mounts in this environment: {bound.stderr.strip()}")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(view)], check=True)
        yield source, view
    finally:
        subprocess.run(["umount", str(view)], check=True)


def test_a_read_only_buffer_is_delivered_once_reported_and_left_intact(
    shared_service: ServiceProcess, shared_api: ServiceApi, read_only_buffer: tuple[Path, Path]
) -> None:
    source, view = read_only_buffer
    good, bad = _mixed_buffer(source)
    contents = {path.name: path.read_bytes() for path in source.iterdir()}
    worker = SyncWorker(BufferDirectory(view), shared_api)
    first, second = worker.run_once(), worker.run_once()
    assert (first.delivered, first.quarantined) == (len(good), len(bad))
    assert first.remaining == len(good) + len(bad)
    assert any(error.startswith("buffer not writable:") for error in first.errors)
    assert (second.delivered, second.duplicates, second.quarantined) == (0, 0, 0), "sent twice"
    assert {path.name: path.read_bytes() for path in source.iterdir()} == contents
    with httpx.Client(base_url=shared_service.url) as client:
        assert all(fetch_row(client, event_id) is not None for event_id in good)


def test_sync_command_on_a_read_only_buffer_reports_and_exits_1(
    shared_service: ServiceProcess, read_only_buffer: tuple[Path, Path]
) -> None:
    source, view = read_only_buffer
    write_entry(source, 0, BufferEntry("create", simple_record()))
    result = subprocess.run(
        [sys.executable, "-m", "telemetry", "sync", "--loop", "--buffer-dir", str(view), "--api-url", shared_service.url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1, result.stderr
    assert "buffer not writable" in result.stderr
    assert "remaining" in result.stdout


@pytest.fixture
def immutable() -> Iterator[Callable[[Path], None]]:
    """Makes a file or directory immutable (`chattr +i`: even root cannot delete it, or
    delete inside it); what is still there is made mutable again at the end."""
    made: list[Path] = []

    def make(path: Path) -> None:
        if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
            pytest.skip("no immutable files on this file system")
        made.append(path)

    yield make
    for path in made:
        if path.exists():
            subprocess.run(["chattr", "-i", str(path)], check=True)


def test_an_entry_that_cannot_be_deleted_is_not_counted_and_is_delivered_again_later(
    shared_api: ServiceApi, tmp_path: Path, immutable: Callable[[Path], None]
) -> None:
    stuck, free = (write_entry(tmp_path, sequence, BufferEntry("create", simple_record())) for sequence in range(2))
    immutable(stuck)
    first = SyncWorker(BufferDirectory(tmp_path), shared_api).run_once()
    assert (first.delivered, first.remaining) == (1, 1)
    assert any(error.startswith("cannot remove settled entry:") for error in first.errors)
    assert not free.exists() and stuck.exists()
    subprocess.run(["chattr", "-i", str(stuck)], check=True)
    second = SyncWorker(BufferDirectory(tmp_path), shared_api).run_once()
    assert (second.duplicates, second.remaining) == (1, 0)  # the service held it already


def test_claims_that_cannot_be_removed_are_reported_and_taken_over_by_the_next_pass(
    shared_api: ServiceApi, tmp_path: Path, immutable: Callable[[Path], None]
) -> None:
    for sequence in range(2):
        write_entry(tmp_path, sequence, BufferEntry("create", simple_record()))
    claims = tmp_path / CLAIMS_DIR
    locked: list[Path] = []

    def lock_claims_directory(done: int, total: int) -> None:
        if claims.exists() and not locked:  # after the first window: the pass made its claims file
            immutable(claims)
            locked.append(claims)

    first = SyncWorker(BufferDirectory(tmp_path), shared_api, window=1).run_once(lock_claims_directory)
    assert (first.delivered, first.remaining) == (2, 0)
    assert any(error.startswith("cannot release claims:") for error in first.errors)
    assert len(claims_files(tmp_path)) == 1
    subprocess.run(["chattr", "-i", str(claims)], check=True)
    write_entry(tmp_path, 2, BufferEntry("create", simple_record()))
    assert SyncWorker(BufferDirectory(tmp_path), shared_api).run_once().delivered == 1
    assert claims_files(tmp_path) == []  # the first pass's claims file, unlocked, was removed
