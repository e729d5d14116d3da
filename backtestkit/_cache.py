"""Indicators shared across the runs of an optimisation: ``I(SMA, Close, 10)`` computed once per process.

Inside a search, every combination's ``init()`` asks for indicators again, most of them the same
(SMA(Close, 10) is the same for every n2). While :func:`sharing` is on, ``Strategy.I`` looks the
call up here, keyed on the function and the content of its arguments, and a hit hands out a fresh
copy of the stored values. Only calls whose outcome depends on the key alone are shared:

* the function is a numpy ufunc, or a Python function whose code (nested functions included) writes
  no global, nonlocal, attribute or item, reads no random or clock source, passes no ``out=`` or
  ``inplace=``, and whose globals are modules, classes, functions that pass the same test, or
  immutable constants, whose values join the key (a global that changes gives another key);
* every argument (and closure cell, and default) is a number, string, None, a tuple of those, or a
  numpy array, compared by content.

Anything else is computed as usual, every time. ``backtestkit.set_indicator_cache(False)`` turns
sharing off.
"""

from __future__ import annotations

import builtins
import dis
import functools
import hashlib
import types
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

#: Bytes of indicator values kept per process; the least recently used go first.
MAX_BYTES = 128 * 2**20
_WRITES = {"STORE_GLOBAL", "DELETE_GLOBAL", "STORE_ATTR", "DELETE_ATTR", "STORE_SUBSCR", "DELETE_SUBSCR",
           "STORE_SLICE", "YIELD_VALUE", "IMPORT_NAME", "IMPORT_FROM"}
# Attribute names that draw random numbers, read a clock or change an object in place.
_IMPURE_NAMES = {
    "random", "rand", "randn", "randint", "normal", "uniform", "integers", "choice", "shuffle",
    "permutation", "default_rng", "seed", "now", "today", "time", "perf_counter", "monotonic", "urandom",
    "getrandbits", "sort", "fill", "put", "resize", "setflags", "itemset", "partition", "append", "extend",
    "insert", "pop", "popitem", "remove", "clear", "update", "setdefault", "add", "discard", "write",
    "__setitem__", "__setattr__", "__delitem__", "__iadd__",
}
_IMPURE_KEYWORDS = {"out", "inplace"}
_IMPURE_MODULES = {"random", "time", "os", "sys", "secrets", "uuid", "datetime"}
_PURE_BUILTINS = {
    abs, all, any, bool, complex, dict, divmod, enumerate, filter, float, frozenset, int, isinstance, len,
    list, map, max, min, pow, range, reversed, round, set, slice, sorted, str, sum, tuple, type, zip,
}
_CONSTANTS = (int, float, complex, str, bytes, bool, type(None), np.generic)


class _NotShareable(Exception):
    """Raised while making a key, by something that cannot be compared by content."""

_DISPATCHER = type(np.cumsum)  # numpy's functions (np.cumsum, np.convolve, ...); numpy.random's are methods


class IndicatorCache:
    """Indicator values by key, least recently used first out past ``max_bytes``; counts hits and misses."""

    def __init__(self, max_bytes: int = MAX_BYTES) -> None:
        self.max_bytes, self.size, self.hits, self.misses = max_bytes, 0, 0, 0
        self._values: OrderedDict[Any, tuple[np.ndarray, bool]] = OrderedDict()  # values, writeable
        self._digests: OrderedDict[tuple, tuple[Any, Any]] = OrderedDict()  # memo -> (content, digest)

    def values(self, func: Callable[..., Any], args: tuple, kwargs: dict,
               compute: Callable[[], np.ndarray]) -> np.ndarray:
        """``compute()``'s values, from the cache when an equal call was computed before."""
        key = self.key(func, args, kwargs)
        if key is None:
            return compute()
        stored = self._values.get(key)
        if stored is not None:
            self.hits += 1
            self._values.move_to_end(key)
            values = stored[0].copy(order="K")
            values.flags.writeable = stored[1]  # as computed: a pandas result's values are read-only
            return values
        self.misses += 1
        values = compute()
        self._store(key, values)
        return values

    def _store(self, key: Any, values: np.ndarray) -> None:
        if values.dtype.hasobject or values.nbytes > self.max_bytes:
            return
        kept = values.copy(order="K")
        kept.flags.writeable = False
        self._values[key] = (kept, values.flags.writeable)
        self.size += kept.nbytes
        while self.size > self.max_bytes:
            _, (dropped, _) = self._values.popitem(last=False)
            self.size -= dropped.nbytes

    def key(self, func: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
        """A hashable key for ``func(*args, **kwargs)``, or None when the call may not be shared."""
        if _IMPURE_KEYWORDS & set(kwargs):
            return None
        try:
            return (_function_key(func, self, 0), tuple(self._value_key(a) for a in args),
                    tuple((k, self._value_key(v)) for k, v in sorted(kwargs.items())))
        except _NotShareable:
            return None

    def _value_key(self, value: Any) -> Any:
        if isinstance(value, (float, np.floating, np.complexfloating)):
            return (type(value), np.asarray(value).tobytes())  # -0.0 is not 0.0, NaN is NaN
        if isinstance(value, _CONSTANTS):
            return (type(value), value)
        if isinstance(value, tuple):
            return tuple(self._value_key(v) for v in value)
        if isinstance(value, np.ndarray) and not value.dtype.hasobject:
            return (type(value), value.dtype.str, value.shape, self._digest(value), self._labels(value))
        raise _NotShareable

    def _labels(self, array: np.ndarray) -> Any:
        """What a data column or indicator knows besides its values: its name and its index."""
        meta = getattr(array, "_meta", None)
        if meta is None:
            return None
        found = meta()
        name, index = found.get("name"), found.get("index")
        return (self._value_key(name), None if index is None else self._index_digest(index))

    def _index_digest(self, index: Any) -> Any:
        """A hash of an index's labels (and dtype), remembered per index: pandas indexes are immutable."""
        memo = self._digests.get(("index", id(index)))
        if memo is not None and memo[0] is index:  # an index is immutable: the one kept is the same
            return memo[1]
        values = index.asi8 if hasattr(index, "asi8") else index.to_numpy()
        if values.dtype.hasobject:
            raise _NotShareable
        digest = (str(index.dtype), hashlib.blake2b(np.ascontiguousarray(values).view(np.uint8),
                                                    digest_size=16).digest())
        self._remember(("index", id(index)), index, digest)
        return digest

    def _remember(self, memo: tuple, owner: Any, digest: Any) -> None:
        self._digests[memo] = (owner, digest)
        if len(self._digests) > 64:
            self._digests.popitem(last=False)

    def _digest(self, array: np.ndarray) -> bytes:
        """A hash of an array's content. The last one of each stretch of memory is remembered with a
        copy of the content's bytes, which a second look compares with (a comparison is ~10x quicker
        than a hash): the same data column, run after run, is hashed once."""
        flat = np.ascontiguousarray(array).reshape(-1)
        words = flat.view(np.uint64 if flat.dtype.itemsize % 8 == 0 else np.uint8)
        memo = (flat.__array_interface__["data"][0], words.dtype.str, len(words))
        found, content = self._digests.get(memo), words.tobytes()
        if found is not None and found[0] == content:
            self._digests.move_to_end(memo)
            return found[1]
        digest = hashlib.blake2b(content, digest_size=16).digest()
        self._remember(memo, content, digest)
        return digest


def _function_key(func: Any, cache: IndicatorCache, depth: int) -> Any:
    """What a function's result depends on besides its arguments; raises _NotShareable if unknown."""
    if isinstance(func, np.ufunc) or (type(func) is _DISPATCHER and func.__module__ == "numpy"):
        return func
    if isinstance(func, types.BuiltinFunctionType) and (func.__module__ or "").startswith("talib"):
        return func
    if not isinstance(func, types.FunctionType) or depth > 3:
        raise _NotShareable
    code = func.__code__
    if not _pure_code(code):
        raise _NotShareable
    cells = tuple(cache._value_key(cell.cell_contents) for cell in func.__closure__ or ())
    defaults = tuple(cache._value_key(v) for v in func.__defaults__ or ())
    kwdefaults = tuple((k, cache._value_key(v)) for k, v in sorted((func.__kwdefaults__ or {}).items()))
    names = tuple((name, _global_key(func, name, cache, depth)) for name in sorted(_globals_read(code)))
    return (code, cells, defaults, kwdefaults, names)


def _global_key(func: types.FunctionType, name: str, cache: IndicatorCache, depth: int) -> Any:
    """The key of a global (or builtin) a function reads; raises _NotShareable if it may change."""
    if name in func.__globals__:
        value = func.__globals__[name]
    elif getattr(builtins, name, None) in _PURE_BUILTINS:
        return getattr(builtins, name)
    else:
        raise _NotShareable
    if isinstance(value, types.ModuleType) and value.__name__.split(".")[0] not in _IMPURE_MODULES:
        return value
    if isinstance(value, (type, np.ufunc)):
        return value
    if isinstance(value, types.FunctionType):
        return _function_key(value, cache, depth + 1)
    if isinstance(value, (*_CONSTANTS, tuple)):
        return cache._value_key(value)
    raise _NotShareable


@functools.lru_cache(maxsize=256)
def _globals_read(code: types.CodeType) -> frozenset[str]:
    names = {i.argval for i in dis.get_instructions(code) if i.opname == "LOAD_GLOBAL"}
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _globals_read(const)
    return frozenset(names)


@functools.lru_cache(maxsize=256)
def _pure_code(code: types.CodeType) -> bool:
    """No writes outside local variables, no impure attribute, no ``out=``/``inplace=``, no in-place
    operator (``x += y`` changes an array argument); nested code likewise."""
    for ins in dis.get_instructions(code):
        if ins.opname in _WRITES or ins.opname.startswith("INPLACE_"):
            return False
        if ins.opname in ("STORE_DEREF", "DELETE_DEREF") and ins.argval in code.co_freevars:
            return False
        if ins.opname in ("LOAD_ATTR", "LOAD_METHOD") and ins.argval in _IMPURE_NAMES:
            return False
        if ins.opname == "BINARY_OP" and ins.argrepr.endswith("="):  # x += y: in place on an array
            return False
    for const in code.co_consts:
        if isinstance(const, tuple) and _IMPURE_KEYWORDS & {c for c in const if isinstance(c, str)}:
            return False
        if isinstance(const, types.CodeType) and not _pure_code(const):
            return False
    return True


_shared = IndicatorCache()
_active: list[IndicatorCache] = []


@contextmanager
def sharing(enabled: bool = True) -> Iterator[None]:
    """While in this block (and ``enabled``), ``Strategy.I`` shares indicators through the process's cache."""
    if not enabled:
        yield
        return
    _active.append(_shared)
    try:
        yield
    finally:
        _active.pop()


def active() -> IndicatorCache | None:
    """The cache ``Strategy.I`` should use now, if any."""
    return _active[-1] if _active else None
