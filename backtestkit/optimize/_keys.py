"""The keys of a study's trials, kept compactly, and the lookup from a key to its latest trial.

A key is a tuple with one element per parameter: a candidate's position (an int) for a listed
parameter, the value itself for a scikit-optimize dimension. :class:`Keys` keeps them a column per
element, in the narrowest int type that holds every element so far (a list once one is not an int).
It finds a key's latest trial through a dict of the latest keys and, when every column is of ints,
sorted int32 (or int64) codes of the earlier ones, into which the dict is merged as it grows. A
100k-trial grid study then holds about 10 bytes a trial for its keys (a byte per element, a code and
a trial number), against some 150 for a tuple and a dict entry each.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from backtestkit.optimize._columns import IntColumn

#: The key of a combination: one candidate position per listed parameter, or the value itself for a
#: scikit-optimize dimension. Keys order the heatmap and break ties between equal values.
Key = tuple[Any, ...]

#: The dict of latest keys is merged into the codes when it holds this many, or a sixteenth of the
#: trials if more: each merge sorts every trial's code once, so merges cost O(n log n) in all.
MERGE_AT = 2048
_MAX_CODES = 2**62  # codes are int64: a grid of more combinations than this keeps every key in the dict


class Keys:
    """The keys of trials ``0, 1, ...`` in order, and each distinct key's latest trial.

    >>> keys = Keys(2)
    >>> keys.extend([(0, 1), (1, 0), (0, 1)])
    >>> keys[2], len(keys), keys.latest().tolist(), keys.find((1, 0)), keys.find((5, 5))
    ((0, 1), 3, [2, 1], 1, None)
    """

    def __init__(self, width: int, merge_at: int = MERGE_AT) -> None:
        self._merge_at = merge_at
        self._columns: list[IntColumn | list[Any]] = [IntColumn() for _ in range(width)]
        self._size = 0
        self._coded = True  # False once a key cannot be coded: then every key is in the dict
        self._recent: dict[Key, int] = {}  # key -> latest trial, for keys added since the last merge
        self._codes = np.empty(0, dtype=np.int64)  # sorted codes of the keys merged
        self._numbers = np.empty(0, dtype=np.int64)  # each code's latest trial
        self._lows: list[int] = []  # each column's smallest element and the codes' place values
        self._spans: list[int] = []
        self._strides: list[int] = []

    def __len__(self) -> int:
        return self._size

    def __getitem__(self, number: int) -> Key:
        if not 0 <= number < self._size:
            raise IndexError(number)
        return tuple(column[number] for column in self._columns)

    def columns_at(self, numbers: np.ndarray, block: int = 1024) -> Iterator[list[list[Any]]]:
        """The keys of trials ``numbers`` (an int array), ``block`` of them at a time: a list per key
        element (for reading many keys)."""
        columns = [column.to_numpy() if type(column) is IntColumn else column for column in self._columns]
        for start in range(0, len(numbers), block):
            part = numbers[start:start + block]
            yield [column[part].tolist() if type(column) is np.ndarray else [column[n] for n in part.tolist()]
                   for column in columns]

    def extend(self, keys: Sequence[Key]) -> None:
        """Add the keys of the next trials."""
        for j, column in enumerate(self._columns):
            values = [key[j] for key in keys]
            if type(column) is IntColumn:
                if all(type(value) is int for value in values):
                    try:
                        column.extend(values)
                        continue
                    except OverflowError:  # beyond int64: the column becomes a list
                        pass
                column = self._columns[j] = column.tolist()
            column.extend(values)
        self._recent.update(zip(keys, range(self._size, self._size + len(keys)), strict=True))
        self._size += len(keys)
        if len(self._recent) >= max(self._merge_at, self._size // 16):
            self._merge()

    def find(self, key: Key) -> int | None:
        """The number of ``key``'s latest trial, or None."""
        number = self._recent.get(key)
        if number is not None or not len(self._codes):
            return number
        code = self._code(key)
        if code is None:
            return None
        # the code as the codes' own type: a Python int would make numpy convert every code, each call
        i = int(np.searchsorted(self._codes, self._codes.dtype.type(code)))
        return int(self._numbers[i]) if i < len(self._codes) and self._codes[i] == code else None

    def latest(self) -> np.ndarray:
        """The latest trial of each distinct key, in key order (an array of ints)."""
        self._merge()
        if self._coded:
            return self._numbers
        ordered = sorted(self._recent.items(), key=operator.itemgetter(0))
        return np.array([number for _, number in ordered], dtype=np.int64)

    def _code(self, key: Key) -> int | None:
        """``key``'s code, or None when it has an element no stored key has at its place."""
        code = 0
        for value, low, span, stride in zip(key, self._lows, self._spans, self._strides, strict=True):
            try:
                offset = operator.index(value) - low
            except TypeError:
                return None
            if not 0 <= offset < span:
                return None
            code += offset * stride
        return code

    def _merge(self) -> None:
        """Code every trial's key and keep each code's latest trial, emptying the dict; when the keys
        cannot be coded (an element that is not an int, or too many combinations), every key goes to
        the dict instead, for good."""
        if not self._recent or not self._coded:
            return
        if all(type(column) is IntColumn for column in self._columns):
            lows, spans = [], []
            for column in self._columns:
                values = column.to_numpy()
                lows.append(int(values.min()))
                spans.append(int(values.max()) - lows[-1] + 1)
            if math.prod(spans) < _MAX_CODES:
                strides = [math.prod(spans[j + 1:]) for j in range(len(spans))]
                self._codes = self._numbers = np.empty(0, dtype=np.int32)  # the old ones go first
                self._code_all(lows, strides)
                self._lows, self._spans, self._strides = lows, spans, strides
                self._recent.clear()
                return
        earlier = {self[number]: number for number in self._numbers.tolist()}
        self._recent = {**earlier, **self._recent}
        self._codes = self._numbers = np.empty(0, dtype=np.int64)
        self._coded = False

    def _code_all(self, lows: list[int], strides: list[int]) -> None:
        """Every trial's code, sorted, and each code's latest trial (one int64 column at a time: at the
        merge of a big study, the temporary arrays are most of its memory)."""
        codes = np.zeros(self._size, dtype=np.int64)
        for column, low, stride in zip(self._columns, lows, strides, strict=True):
            values = column.to_numpy().astype(np.int64)  # type: ignore[union-attr]
            values -= low
            values *= stride
            codes += values
            del values  # before the next column's, and the sort's, arrays are made
        order = np.argsort(codes, kind="stable")  # equal codes in trial order: the last is latest
        codes = codes[order]
        last = np.ones(len(codes), dtype=bool)
        last[:-1] = codes[1:] != codes[:-1]
        self._codes, self._numbers = _narrow(codes[last]), _narrow(order[last])
        self._numbers.flags.writeable = False  # latest() hands it out


def _narrow(values: np.ndarray) -> np.ndarray:
    """Non-negative int64s as int32 when they all fit: half the memory, for the codes of most grids."""
    return values.astype(np.int32) if not len(values) or values.max() <= np.iinfo(np.int32).max else values
