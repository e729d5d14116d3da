"""Growable columns of numbers, kept in chunks of a fixed size.

A study's columns grow a batch of trials at a time. A single ``array.array`` grows by reallocating
itself about 6% larger, and each move can leave a hole its whole size in the process's heap: a
100k-trial study's peak memory grew by some 80 bytes a trial that way. A chunk never moves once full.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable

import numpy as np

CHUNK = 1 << 13  # values a chunk: 64 KiB of float64
_DTYPES = {code: np.dtype(f"{'f' if code == 'd' else 'i'}{array(code).itemsize}") for code in "dbhiq"}
_INT_CODES = ("b", "h", "i", "q")  # the integer typecodes, narrowest first
_LIMITS = {code: (int(np.iinfo(_DTYPES[code]).min), int(np.iinfo(_DTYPES[code]).max)) for code in _INT_CODES}


class Column:
    """A growable column of one ``array`` typecode (``'d'`` or an int one), read as Python numbers.

    >>> column = Column("q")
    >>> column.extend(range(3))
    >>> len(column), column[2], column.to_numpy().tolist()
    (3, 2, [0, 1, 2])
    """

    def __init__(self, typecode: str) -> None:
        self.typecode = typecode
        self._chunks: list[array] = []
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def __getitem__(self, i: int) -> float | int:
        if not 0 <= i < self._size:
            raise IndexError(i)
        return self._chunks[i // CHUNK][i % CHUNK]

    def extend(self, values: Iterable[float | int]) -> None:
        """Append ``values`` (all or none: a value the typecode cannot hold raises, as ``array`` does)."""
        new = array(self.typecode, values)
        start = 0
        while start < len(new):
            if not self._chunks or len(self._chunks[-1]) == CHUNK:
                self._chunks.append(array(self.typecode))
            chunk = self._chunks[-1]
            stop = start + CHUNK - len(chunk)
            chunk.extend(new[start:stop])
            start = stop
        self._size += len(new)

    def to_numpy(self) -> np.ndarray:
        """The column as a new numpy array."""
        dtype = _DTYPES[self.typecode]
        if not self._chunks:
            return np.empty(0, dtype=dtype)
        return np.concatenate([np.frombuffer(chunk, dtype=dtype) for chunk in self._chunks])

    def tolist(self) -> list[float | int]:
        return [value for chunk in self._chunks for value in chunk]


class IntColumn(Column):
    """A :class:`Column` of ints, each kept in the narrowest typecode that holds every value so far
    (a grid's candidate positions: one byte each), widened when a value needs it.

    >>> column = IntColumn()
    >>> column.extend([1, -2]); column.typecode
    'b'
    >>> column.extend([300]); column.typecode, column.tolist()
    ('h', [1, -2, 300])
    """

    def __init__(self) -> None:
        super().__init__("b")

    def extend(self, values: Iterable[float | int]) -> None:
        values = list(values)
        if values:
            low, high = min(values), max(values)
            wide = next((code for code in _INT_CODES[_INT_CODES.index(self.typecode):]
                         if _LIMITS[code][0] <= low and high <= _LIMITS[code][1]), "q")  # else: OverflowError
            if wide != self.typecode:
                self._chunks = [array(wide, chunk) for chunk in self._chunks]
                self.typecode = wide
        super().extend(values)
