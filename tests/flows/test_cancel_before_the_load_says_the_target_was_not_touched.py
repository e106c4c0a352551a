"""A cancel before the load began says the target was not touched (it said "rolled back", when nothing had been
written to it); one during the load, before its COMMIT, that it was rolled back. Both: 元の状態のまま."""
from __future__ import annotations

import pytest

from tests.flows.test_cancel_record import _record_of_cancel, _run_at


@pytest.mark.parametrize("stage, done", [("plan", ()), ("extract", ()), ("map", ("extract",)),
                                         ("validate", ("extract", "map", "moji"))])
def test_a_cancel_before_the_load_says_the_target_was_not_touched(tmp_path, monkeypatch, stage, done):
    s = _record_of_cancel(tmp_path, monkeypatch, _run_at(stage, *done))
    assert s["status"] == "cancelled" and s["error"]["stage"] == stage
    assert "the target was not touched" in s["error"]["message"], s["error"]
    assert "rolled back" not in s["error"]["message"] and "元の状態のまま" in s["error"]["message_ja"]


def test_a_cancel_during_the_load_says_the_target_was_rolled_back(tmp_path, monkeypatch):
    s = _record_of_cancel(tmp_path, monkeypatch, _run_at("load", "extract", "map", "moji", "validate"))
    assert "the target was rolled back" in s["error"]["message"] and "元の状態のまま" in s["error"]["message_ja"]
