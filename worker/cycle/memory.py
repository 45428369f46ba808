"""The process's memory around cycles: fewer malloc arenas, and freed pages handed back.

A cycle at 100,000 tickets allocates and frees tens of megabytes: search pages (decoded in the
prefetch thread), snapshots, plans, rows. Two habits of glibc's allocator keep that memory
resident after it is freed:

* every thread that allocates under contention gets an arena of its own (up to eight per
  core), and memory freed in one arena is reused by that arena only: the prefetch thread and
  the writers in flight each leave a partly used heap behind;
* a heap is shrunk only from its top, so one live block high up holds the free pages below it.

Measured in the benchmark's guard process at 100,000 tickets (first cycle, settle, full read):
168 MB at peak as glibc comes, 160 with one arena, 158 with ``malloc_trim`` after each cycle as
well (which costs microseconds; a ``gc.collect()`` with it would cost 40 ms a cycle for nothing
measurable: reference counting frees a cycle's data as it goes). Neither changes what a cycle
reads or writes. Both are glibc's (``mallopt``, ``malloc_trim``), looked up through ctypes:
elsewhere (musl, macOS) they are skipped and the process runs as before.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading

import structlog

log = structlog.get_logger(__name__)

#: glibc's ``mallopt`` parameter for the most arenas (``M_ARENA_MAX`` in malloc.h)
M_ARENA_MAX = -8
#: arenas for the whole process: Python takes the GIL around nearly every allocation, so
#: threads would rarely contend for one; more would only keep more freed memory apart
ARENAS = 1

_lock = threading.Lock()
_arenas_limited = False


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


def limit_arenas(arenas: int = ARENAS) -> bool:
    """Cap the allocator's arenas (once per process; the cycle threads started after it share
    them). True when the cap is in place (glibc took it)."""
    global _arenas_limited
    with _lock:
        if _arenas_limited or _LIBC is None:
            return _arenas_limited
        _arenas_limited = bool(_LIBC.mallopt(ctypes.c_int(M_ARENA_MAX), ctypes.c_int(arenas)))
        if not _arenas_limited:  # pragma: no cover - glibc refuses only invalid values
            log.warning("memory.arena_limit_refused", arenas=arenas)
        return _arenas_limited


def release_freed() -> bool:
    """Return the allocator's free pages to the system, from every arena and from the middle
    of the heaps too (not only their tops). True when pages were returned (glibc only)."""
    if _LIBC is None:
        return False
    return bool(_LIBC.malloc_trim(ctypes.c_size_t(0)))
