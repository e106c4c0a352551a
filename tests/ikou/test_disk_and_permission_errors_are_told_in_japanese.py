"""A full disk, a read-only folder or a missing permission gets a Japanese sentence naming the file, not
「予期しないエラーです」; and summary.json is written whole or not at all (a full disk left it 0 bytes, and
`ikou run` then failed on reading it). Real file-system failures on a small tmpfs (mounting needs root: CI
runs as root)."""
from __future__ import annotations

import errno

import pytest

from ikou.errors import UNEXPECTED_JA, message_ja, one_line
from ikou.summary import RunSummary
from tests.conftest import fill_disk


def _summary(**extra) -> RunSummary:
    return RunSummary(dantai="999784", run_id="20261201T000000Z-R1-abcd", rehearsal="R1",
                      started_at="2026-12-01T00:00:00Z", finished_at="2026-12-01T00:00:01Z", **extra)


def test_a_full_disk_is_told_as_no_space(tmp_path, small_tmpfs):
    disk = small_tmpfs(tmp_path / "disk", "64k")
    fill_disk(disk)
    with pytest.raises(OSError) as caught:   # a write names no file: the sentence without one
        (disk / "out.bin").write_bytes(b"x" * 100_000)
    assert message_ja(caught.value) == "ディスクの空きがありません"
    assert "No space left on device" in one_line(caught.value)


def test_summary_json_on_a_full_disk_is_told_as_no_space_naming_it(tmp_path, small_tmpfs):
    disk = small_tmpfs(tmp_path / "disk", "64k")
    fill_disk(disk)
    with pytest.raises(OSError) as caught:
        _summary().write(disk / "summary.json")
    assert message_ja(caught.value) == f"ディスクの空きがありません ({disk / 'summary.json'})"
    assert "No space left on device" in one_line(caught.value)


def test_a_read_only_folder_is_told_as_read_only_naming_the_file(tmp_path, small_tmpfs):
    ro = small_tmpfs(tmp_path / "ro", "64k", "ro")
    with pytest.raises(OSError) as caught:
        (ro / ".run.lock").write_text("x", encoding="utf-8")
    assert caught.value.errno == errno.EROFS
    assert message_ja(caught.value) == f"読み取り専用のため書き込めません ({ro / '.run.lock'})"


@pytest.mark.parametrize(("code", "ja"), [(errno.EACCES, "アクセス権限がありません"),
                                          (errno.EDQUOT, "ディスク使用量の上限")])
def test_a_permission_or_quota_error_gets_its_own_sentence(code, ja):
    # root passes permission bits and tmpfs has no quota here: the error as the OS raises it for another user
    exc = OSError(code, "as the OS says it", "/srv/ikou/runs/999784/moji_ledger/ledger.csv")
    assert message_ja(exc) == f"{_sentence(ja)} (/srv/ikou/runs/999784/moji_ledger/ledger.csv)"


def _sentence(prefix: str) -> str:
    from ikou.errors import OS_ERRORS_JA

    (sentence,) = [s for s in OS_ERRORS_JA.values() if s.startswith(prefix)]
    return sentence


def test_a_library_error_wrapping_a_full_disk_is_told_as_no_space():
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device", "/runs/999784/r/report.xlsx")
        except OSError as inner:
            raise RuntimeError(f"could not create the workbook: {inner}") from inner   # as xlsxwriter does
    except RuntimeError as exc:
        assert message_ja(exc) == "ディスクの空きがありません (/runs/999784/r/report.xlsx)"


def test_any_other_error_is_still_unexpected():
    assert message_ja(ValueError("x")) == UNEXPECTED_JA
    assert message_ja(FileNotFoundError(errno.ENOENT, "No such file", "/x")) == UNEXPECTED_JA


def test_summary_json_on_a_full_disk_keeps_its_previous_content_and_no_temporary_file(tmp_path, small_tmpfs):
    disk = small_tmpfs(tmp_path / "disk", "64k")
    path = disk / "summary.json"
    _summary().write(path)
    before = path.read_bytes()
    fill_disk(disk)
    bigger = _summary(status="failed", sign_off_blockers=[f"blocker {i}" for i in range(5000)])
    with pytest.raises(OSError) as caught:
        bigger.write(path)
    assert caught.value.errno == errno.ENOSPC
    assert path.read_bytes() == before          # never 0 bytes, never half
    assert sorted(p.name for p in disk.iterdir()) == ["filler", "summary.json"]
