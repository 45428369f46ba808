"""The process's memory around cycles: fewer malloc arenas, large blocks mapped on their own,
and freed pages handed back.

A cycle at 100,000 tickets allocates and frees tens of megabytes: search pages (decoded in the
prefetch thread), snapshots, plans, rows. Three habits of glibc's allocator keep that memory
resident after it is freed:

* every thread that allocates under contention gets an arena of its own (up to eight per
  core), and memory freed in one arena is reused by that arena only: the prefetch thread and
  the writers in flight each leave a partly used heap behind;
* a heap is shrunk only from its top, so one live block high up holds the free pages below it;
* a block of 128 KiB or more is mapped on its own and unmapped when freed, but freeing one
  raises that threshold to the block's size (up to 32 MiB): from the first search page on, the
  response bodies and their text (1 to 3 MB a page) come from the heap instead, and stay
  resident among the small blocks a page leaves alive.

Measured in the benchmark's guard process at 100,000 tickets (first cycle, settle, full read):
168 MB at peak as glibc comes, 160 with one arena, 158 with ``malloc_trim`` after each cycle as
well (which costs microseconds; a ``gc.collect()`` with it would cost 40 ms a cycle for nothing
measurable: reference counting frees a cycle's data as it goes). Later, with the threshold held
at 128 KiB as well: 149 MB at the full read's peak, 140 with it (two runs each, the same three
cycles); in the benchmark, 137 MB, now 129. Each page's body is mapped afresh and its pages
faulted in again: in a full read of 100,000 tickets 1.8 s more system time, and as much less
user time in the allocator (33.7 s of CPU against 33.9, the same harness, one run each).
None changes what a cycle reads or writes. All are glibc's (``mallopt``,
``malloc_trim``), looked up through ctypes: elsewhere (musl, macOS) they are skipped and the
process runs as before.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading

import structlog

log = structlog.get_logger(__name__)

#: glibc's ``mallopt`` parameter for the most arenas (``M_ARENA_MAX`` in malloc.h)
M_ARENA_MAX = -8
#: glibc's ``mallopt`` parameter for the size from which a block is mapped on its own
#: (``M_MMAP_THRESHOLD``); setting it also stops glibc from raising it
M_MMAP_THRESHOLD = -3
#: arenas for the whole process: Python takes the GIL around nearly every allocation, so
#: threads would rarely contend for one; more would only keep more freed memory apart
ARENAS = 1
#: glibc's own starting value, kept: above it a block's pages go back to the system when freed
MMAP_THRESHOLD = 128 * 1024

_lock = threading.Lock()
_tuned = False


def _glibc() -> ctypes.CDLL | None:
    """The C library if it is glibc (has ``malloc_trim`` and ``mallopt``), else None."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    if not (hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt")):
        return None
    return libc


_LIBC = _glibc()


def tune_allocator(arenas: int = ARENAS, mmap_threshold: int = MMAP_THRESHOLD) -> bool:
    """Cap the allocator's arenas and hold its mapping threshold (once per process; the cycle
    threads started after it share the arenas). True when both are in place (glibc took them)."""
    global _tuned
    with _lock:
        if _tuned or _LIBC is None:
            return _tuned
        arenas_set = _LIBC.mallopt(ctypes.c_int(M_ARENA_MAX), ctypes.c_int(arenas))
        threshold_set = _LIBC.mallopt(ctypes.c_int(M_MMAP_THRESHOLD), ctypes.c_int(mmap_threshold))
        _tuned = bool(arenas_set and threshold_set)
        if not _tuned:  # pragma: no cover - glibc refuses only invalid values
            log.warning("memory.allocator_settings_refused", arenas=arenas,
                        mmap_threshold=mmap_threshold)
        return _tuned


def release_freed() -> bool:
    """Return the allocator's free pages to the system, from every arena and from the middle
    of the heaps too (not only their tops). True when pages were returned (glibc only)."""
    if _LIBC is None:
        return False
    return bool(_LIBC.malloc_trim(ctypes.c_size_t(0)))
