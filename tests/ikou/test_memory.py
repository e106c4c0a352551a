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


_RELEASE = """
import ctypes
from ikou import memory
libc = ctypes.CDLL("libc.so.6")
libc.mallopt(-1, 1 << 30)   # M_TRIM_THRESHOLD: glibc would not give the heap back by itself
libc.mallopt(-3, 1 << 30)   # M_MMAP_THRESHOLD: 64 kB blocks come from the heap, not from mmap
blocks = [bytearray(64 << 10) for _ in range(3000)]   # ~190 MB of heap
keep = bytearray(1 << 10)   # a live block above them
held = memory.rss_mb()
del blocks
before = memory.rss_mb()
memory.release()
print(held, before, memory.rss_mb())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="VmRSS and malloc_trim are Linux's")
def test_release_hands_freed_heap_back_to_the_system():
    # in a process of its own: the allocator settings it needs would stay for the other tests
    import subprocess

    out = subprocess.run([sys.executable, "-c", _RELEASE], capture_output=True, text=True, check=True).stdout
    held, freed, released = map(float, out.split())
    assert freed > held - 50            # freed, but still held by the process
    assert released < held - 150        # handed back by release()
