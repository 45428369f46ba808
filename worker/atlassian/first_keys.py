"""Each id's first key, for one read: 100,000 entries at 100,000 tickets, in 3 MB.

Jira's ids are digits and its keys a project and a number, so nearly every pair reads as two
numbers: the id's, and the key's project (by its index in this read) and number packed in one.
Those pairs live in two arrays of machine integers, an open-addressing table with no Python
object per entry: 12 bytes a slot (an id in 32 bits, as Jira's are; a packed key in 64), at most
half the slots used (3 MB at 100,000 tickets, and 4.5 MB for the moment the table doubles). A
``dict`` of ``int`` to ``int`` held the same in 11.6 MB (its table, plus an ``int`` object for
every id and every key), the largest thing a full read kept. Anything that does not read as a
number exactly (``"07"``, a key without a dash, an id past 32 bits) is kept as it is in a ``dict``
beside, so no two different strings are ever taken for the same number.
"""

from __future__ import annotations

from array import array

#: the id array's machine integers: unsigned, 32 bits on every platform Python runs on
_ID_TYPE = "I"
#: an empty id slot: the largest the array holds (an id that large is kept in the dict)
_EMPTY = (1 << (8 * array(_ID_TYPE).itemsize)) - 1
#: the table's first size; it doubles when half full
_FIRST_SLOTS = 1 << 10
#: Fibonacci hashing: sequential ids spread over the table, and so do ids that share low bits
_GOLDEN = 0x9E3779B97F4A7C15
_WORD = (1 << 64) - 1
#: ids the table takes: below the empty mark
_LARGEST = _EMPTY - 1
#: the packed keys' machine integers (a project index and a 32-bit number)
_KEY_TYPE = "q"


class FirstKeys:
    """The key each id was first listed under in one read (see the module doc)."""

    def __init__(self) -> None:
        self._bits = _FIRST_SLOTS.bit_length() - 1
        self._ids = array(_ID_TYPE, [_EMPTY]) * _FIRST_SLOTS
        self._keys = array(_KEY_TYPE, [0]) * _FIRST_SLOTS
        self._used = 0
        #: the pairs that do not both read as numbers
        self._others: dict[int | str, str] = {}
        self._projects: dict[str, int] = {}
        self._names: list[str] = []

    def first(self, ident: str, key: str) -> str | None:
        """The key ``ident`` was first listed under; None (and ``key`` kept) the first time."""
        number = _number(ident)
        mark: int | str = ident if number is None else number
        if number is not None:
            code = self._get(number)
            if code is not None:
                return f"{self._names[code >> 32]}-{code & 0xFFFFFFFF}"
        known = self._others.get(mark)
        if known is not None:
            return known
        code = self._code(key)
        if number is not None and code is not None:
            self._put(number, code)
        else:
            self._others[mark] = key
        return None

    def __len__(self) -> int:
        return self._used + len(self._others)

    def _code(self, key: str) -> int | None:
        """``key``'s project index and number in one integer, if it reads as both exactly."""
        project, dash, text = key.rpartition("-")
        number = _number(text) if project and dash else None
        if number is None or number >= 1 << 32:
            return None
        index = self._projects.get(project)
        if index is None:
            index = self._projects[project] = len(self._names)
            self._names.append(project)
        return index << 32 | number

    def _slot(self, number: int) -> int:
        return ((number * _GOLDEN) & _WORD) >> (64 - self._bits)

    def _get(self, number: int) -> int | None:
        ids, mask = self._ids, len(self._ids) - 1
        slot = self._slot(number)
        while (found := ids[slot]) != _EMPTY:
            if found == number:
                return self._keys[slot]
            slot = (slot + 1) & mask
        return None

    def _put(self, number: int, code: int) -> None:
        """Keep a pair whose id is not in the table yet."""
        if 2 * (self._used + 1) > len(self._ids):
            self._grow()
        ids, mask = self._ids, len(self._ids) - 1
        slot = self._slot(number)
        while ids[slot] != _EMPTY:
            slot = (slot + 1) & mask
        ids[slot] = number
        self._keys[slot] = code
        self._used += 1

    def _grow(self) -> None:
        # Straight from the old arrays into the new: a list of the pairs would cost more, for
        # a moment, than the table it moves (a tuple and two ints each).
        old_ids, old_keys = self._ids, self._keys
        self._bits += 1
        self._ids = array(_ID_TYPE, [_EMPTY]) * (1 << self._bits)
        self._keys = array(_KEY_TYPE, [0]) * (1 << self._bits)
        self._used = 0
        for number, code in zip(old_ids, old_keys, strict=True):
            if number != _EMPTY:
                self._put(number, code)


def _number(text: str) -> int | None:
    """The number ``text`` is, if ``int`` reads it and ``str`` writes it back as it was ("7";
    not "07", nor a full-width digit) and a table slot holds it."""
    if not (text.isascii() and text.isdigit() and (text == "0" or not text.startswith("0"))):
        return None
    number = int(text)
    return number if number <= _LARGEST else None
