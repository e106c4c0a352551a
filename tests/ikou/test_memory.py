"""ikou.memory: the per-stage peak is the stage's own, because the high-water mark can be reset."""
from __future__ import annotations

import sys

import pytest

from ikou import memory


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="VmHWM and clear_refs are Linux's")
def test_reset_peak_forgets_an_earlier_peak_and_sees_a_new_one():
    block = bytearray(300 << 20)          # 300 MB, touched (zero-filled) so it is resident
    high = memory.peak_rss_mb()
    del block
    assert memory.reset_peak()
    after_reset = memory.peak_rss_mb()
    assert after_reset < high - 200       # the 300 MB peak is forgotten once freed and reset
    block = bytearray(100 << 20)
    assert memory.peak_rss_mb() >= after_reset + 90
    del block
