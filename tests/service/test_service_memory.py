"""The cycle's allocator settings: one malloc arena for the process, freed pages handed back."""

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
from worker.cycle.memory import limit_arenas
if sys.argv[1] == "limit":
    assert limit_arenas()
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


def test_the_limit_is_set_once_and_freed_pages_go_back() -> None:
    """Asking again changes nothing; a trim after freeing a large heap returns pages."""
    assert memory.limit_arenas() is memory.limit_arenas() is True
    blocks = [bytes(4000) for _ in range(20_000)]
    del blocks
    assert memory.release_freed() is True
