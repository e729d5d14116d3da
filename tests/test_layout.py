"""The public API and the package layout, checked mechanically: exported names, docstrings, what
``import backtestkit`` loads, and the one-way flow of imports between modules."""

from __future__ import annotations

import ast
import importlib
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import backtestkit
import backtestkit.lib

PACKAGE = Path(backtestkit.__file__).resolve().parent
PUBLIC_MODULES = ["backtestkit", "backtestkit.lib", "backtestkit.datasets", "backtestkit.optimize",
                  "backtestkit.test", "backtestkit.validation",
                  "backtestkit.objectives"]

# backtesting.lib (0.6) names backtestkit.lib promises to provide
PROMISED_LIB_NAMES = {
    "crossover", "cross", "barssince", "quantile", "resample_apply", "compute_stats", "random_ohlc_data",
    "SignalStrategy", "TrailingStrategy", "FractionalBacktest", "MultiBacktest", "OHLCV_AGG", "TRADES_AGG",
    "plot_heatmaps",
}

# Imports flow down this list and never back up (nor sideways between different entries of one layer).
# A package (optimize/, plotting/, datasets/, validation/) is one entry: its modules may import each other.
LAYERS = [
    {"_errors", "_typing", "_version"},
    {"_params"},
    {"_settings"},
    {"_ohlcv", "_data", "_fees", "_metrics", "_cache"},
    {"datasets"},
    {"test"},
    {"_orders"},
    {"_broker", "_signal_kernel"},
    {"_strategy"},
    {"_stats", "_trades"},
    {"objectives"},  # Jesse's ratios: read a run's stats, never run one
    {"_signals"},
    {"_engine"},
    {"plotting"},
    {"optimize"},
    {"_objective"},
    {"_goal", "_robust"},
    {"_backtest"},
    {"lib"},
    {"validation"},
    {"cli"},
    {"__main__", "__init__"},  # the front door re-exports from anywhere below it
]
RANK = {name: rank for rank, layer in enumerate(LAYERS) for name in layer}
# search methods and plots never see the engine
ENGINE_ONLY = {"_backtest", "_broker", "_engine", "_signal_kernel", "_signals"}
HEAVY = ("bokeh", "skopt", "joblib", "tqdm", "numba")


# --- exported names and docstrings ---------------------------------------------------------------


def test_front_door_all_is_sorted_and_complete():
    names = backtestkit.__all__
    assert names == sorted(names)
    assert len(set(names)) == len(names)
    assert all(hasattr(backtestkit, name) for name in names)
    assert {"Backtest", "Strategy", "Order", "Trade", "Position", "__version__"} <= set(names)


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_every_exported_name_exists(module):
    imported = importlib.import_module(module)
    missing = [name for name in imported.__all__ if not hasattr(imported, name)]
    assert missing == []
    assert len(set(imported.__all__)) == len(imported.__all__)


def test_lib_provides_the_promised_backtesting_lib_names():
    assert set(backtestkit.lib.__all__) == PROMISED_LIB_NAMES


def _public_callables() -> list[tuple[str, object]]:
    """Every exported function and class, and the public methods of the classes."""
    found = []
    for module in PUBLIC_MODULES:
        imported = importlib.import_module(module)
        for name in imported.__all__:
            obj = getattr(imported, name)
            if not callable(obj):
                continue
            found.append((f"{module}.{name}", obj))
            if inspect.isclass(obj):
                for attr, member in inspect.getmembers(obj, callable):
                    if not attr.startswith("_") and not inspect.isclass(member):
                        found.append((f"{module}.{name}.{attr}", member))
    return found


def _public_properties() -> list[tuple[str, property]]:
    found = []
    for module in PUBLIC_MODULES:
        imported = importlib.import_module(module)
        for name in imported.__all__:
            obj = getattr(imported, name)
            if inspect.isclass(obj):
                for attr in dir(obj):
                    static = inspect.getattr_static(obj, attr)
                    if not attr.startswith("_") and isinstance(static, property):
                        found.append((f"{module}.{name}.{attr}", static))
    return found


def test_every_public_callable_has_a_docstring():
    callables = _public_callables()
    assert len(callables) > 30  # the walk really finds the API
    assert [name for name, obj in callables if not inspect.getdoc(obj)] == []


def test_every_public_property_has_a_docstring():
    properties = _public_properties()
    assert len(properties) > 20  # Order, Trade, Position and Strategy all have some
    assert [name for name, prop in properties if not (prop.fget.__doc__ or "").strip()] == []




# --- what importing costs --------------------------------------------------------------------------


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_importing_loads_no_heavy_dependency_and_warns_nothing(module):
    code = f"import sys, {module}; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# --- one-way imports -------------------------------------------------------------------------------


def _component(path: Path) -> str:
    """The LAYERS entry a file belongs to: its module name, or its subpackage's name."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0]


def _imported_components(tree: ast.Module) -> set[str]:
    """backtestkit components a module imports at run time (TYPE_CHECKING blocks excluded)."""
    for node in list(ast.walk(tree)):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            node.body = []
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("backtestkit."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("backtestkit.")}
    return found


def _import_edges() -> list[tuple[str, str, str]]:
    edges = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = _component(path)
        for target in _imported_components(ast.parse(path.read_text())):
            if target != source:
                edges.append((str(path.relative_to(PACKAGE)), source, target))
    return edges


def test_every_module_has_a_layer():
    assert {_component(p) for p in PACKAGE.rglob("*.py")} <= set(RANK)


def test_imports_flow_one_way():
    edges = _import_edges()
    assert len(edges) > 20  # the walk really sees the imports
    upward = [(file, target) for file, source, target in edges if RANK[target] >= RANK[source]]
    assert upward == []


def test_search_methods_and_plots_never_see_the_engine():
    seen = [(file, target) for file, source, target in _import_edges()
            if source in {"optimize", "plotting"} and target in ENGINE_ONLY]
    assert seen == []
