"""The cycle's allocator settings: one malloc arena for the process, large blocks mapped on their
own, freed pages handed back."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from worker.cycle import memory

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(memory._LIBC is None, reason="glibc's allocator only")

#: four threads allocate at once, then glibc lists its arenas (malloc_stats, on stderr)
THREADS_ALLOCATE = """
import ctypes, sys, threading
from worker.cycle.memory import tune_allocator
if sys.argv[1] == "limit":
    assert tune_allocator()
together = threading.Barrier(4)
def work():
    kept = [bytes(2000) for _ in range(50)]  # over pymalloc's 512 bytes: glibc's malloc
    together.wait()
    del kept
threads = [threading.Thread(target=work) for _ in range(4)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
ctypes.CDLL(None).malloc_stats()
"""


def _arenas(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", THREADS_ALLOCATE, mode], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=True)
    return sum(1 for line in done.stderr.splitlines() if line.startswith("Arena "))


def test_threads_share_one_arena_once_limited() -> None:
    """Without the limit each allocating thread gets an arena of its own; with it, one."""
    assert (_arenas("as-is") > 1, _arenas("limit")) == (True, 1)


#: a 1 MiB block is freed, then one of 600 KiB is taken: is it mapped on its own (glibc's
#: ``mallinfo2``: ``hblks``, the blocks mapped that way)?
LARGE_AFTER_LARGER = """
import ctypes, sys
from worker.cycle.memory import tune_allocator
if sys.argv[1] == "tuned":
    assert tune_allocator()
class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
libc.free(libc.malloc(1 << 20))
before = libc.mallinfo2().hblks
block = libc.malloc(600 * 1024)
print(libc.mallinfo2().hblks - before)
libc.free(block)
"""


def _mapped_after_larger(mode: str) -> int:
    done = subprocess.run([sys.executable, "-c", LARGE_AFTER_LARGER, mode], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=True)
    return int(done.stdout)


def test_large_blocks_stay_mapped_on_their_own_once_tuned() -> None:
    """As glibc comes, freeing a 1 MiB block raises the mapping threshold past 600 KiB, and the
    next such block comes from the heap (where it stays resident); tuned, it is mapped, and
    its pages go back when it is freed."""
    assert (_mapped_after_larger("as-is"), _mapped_after_larger("tuned")) == (0, 1)


def test_the_settings_are_set_once_and_freed_pages_go_back() -> None:
    """Asking again changes nothing; a trim after freeing a large heap returns pages."""
    assert memory.tune_allocator() is memory.tune_allocator() is True
    blocks = [bytes(4000) for _ in range(20_000)]
    del blocks
    assert memory.release_freed() is True
