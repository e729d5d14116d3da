"""The user guide is checked like code: every ```python block in doc/*.md and README.md runs, every
public name has its signature in doc/api.md, and every link between the pages leads somewhere.

The blocks of one page run in order, in one namespace (a later block may use an earlier block's
names), in an empty working directory. A block right after a ``<!-- no-run -->`` line is skipped: only
for code that cannot run here (a user's own file), so there may be at most ``MAX_NO_RUN`` of them.
"""

from __future__ import annotations

import importlib
import inspect
import re
import warnings
import webbrowser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "doc"
PAGES = sorted(DOC.glob("*.md")) + [ROOT / "README.md"]
GUIDE = [
    "getting-started.md",
    "strategies.md",
    "optimisation.md",
    "validation.md",
    "migrating.md",
    "api.md",
    "execution.md",
    "differences.md",
    "stats.md",
]
NO_RUN = "<!-- no-run -->"
MAX_NO_RUN = 2
# Warnings a page's code may emit, by path: (category, start of the message).
EXPECTED_WARNINGS: dict[str, list[tuple[type[Warning], str]]] = {}
PUBLIC_MODULES = ["backtestkit", "backtestkit.lib", "backtestkit.datasets", "backtestkit.optimize",
                  "backtestkit.test", "backtestkit.validation",
                  "backtestkit.objectives"]


def relative(page: Path) -> str:
    """A page's path from the repository's root, as the tests name it: 'doc/stats.md'."""
    return page.relative_to(ROOT).as_posix()


def python_blocks(text: str) -> list[tuple[int, str, bool]]:
    """The ```python blocks of a Markdown text: (line of the block's first code line, code, skipped?)."""
    blocks, lines = [], text.splitlines()
    previous, i = "", 0
    while i < len(lines):
        line = lines[i]
        if line.strip() == "```python":
            start = i + 1
            end = next(j for j in range(start, len(lines)) if lines[j].strip() == "```")
            blocks.append((start + 1, "\n".join(lines[start:end]) + "\n", previous == NO_RUN))
            i = end
        if line.strip():
            previous = line.strip()
        i += 1
    return blocks


def test_python_blocks_are_found_with_their_line_and_marker():
    text = "intro\n\n```python\nx = 1\n```\n\n<!-- no-run -->\n```python\ny = read('mine.csv')\n```\n"
    assert python_blocks(text) == [(4, "x = 1\n", False), (9, "y = read('mine.csv')\n", True)]


def test_the_guide_has_every_page_and_the_index_links_them():
    assert {page.name for page in DOC.glob("*.md")} >= set(GUIDE) | {"README.md"}
    index = (DOC / "README.md").read_text(encoding="utf-8")
    assert [name for name in GUIDE if f"]({name})" not in index] == []


def anchors(text: str) -> set[str]:
    """The anchors GitHub gives a page's headings: '## Sizes, cash and margin' -> 'sizes-cash-and-margin'."""
    prose = re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)  # '# ...' in code is no heading
    headings = re.findall(r"^#+ (.+)$", prose, flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


def test_anchors_are_githubs():
    text = "# Title\n## Sizes, cash and margin\n```python\n# a comment\n```\n### `Backtest.run(**params)`\n"
    assert anchors(text) == {
        "title",
        "sizes-cash-and-margin",
        "backtestrunparams",
    }


@pytest.mark.parametrize("page", PAGES, ids=relative)
def test_links_between_pages_lead_somewhere(page):
    links = re.findall(r"\]\(([^)#\s]*)(?:#([^)\s]*))?\)", page.read_text(encoding="utf-8"))
    broken = []
    for target, anchor in links:
        if "://" in target or target.startswith("mailto:"):
            continue
        path = page.parent / target if target else page
        if not path.exists():
            broken.append(target)
        elif anchor and path.suffix == ".md" and anchor not in anchors(path.read_text(encoding="utf-8")):
            broken.append(f"{target}#{anchor}")
    assert broken == []


def test_no_run_blocks_are_rare():
    skipped = [
        (page.name, line)
        for page in PAGES
        for line, _, skip in python_blocks(page.read_text(encoding="utf-8"))
        if skip
    ]
    assert len(skipped) <= MAX_NO_RUN, skipped


def run_blocks(blocks: list[tuple[int, str, bool]], name: str, expected: list[tuple[type, str]]) -> None:
    """Run a page's blocks in order in one namespace, as one script; fail on an error or an unexpected
    warning."""
    namespace = {"__name__": "__main__"}  # what a reader's script runs as (guards included)
    for line, code, skip in blocks:
        if skip:
            continue
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            exec(compile(code, f"{name}:{line}", "exec"), namespace)
        unexpected = {
            f"{w.category.__name__}: {w.message}"
            for w in caught
            if not any(
                issubclass(w.category, category) and str(w.message).startswith(start)
                for category, start in expected
            )
        }
        assert sorted(unexpected)[:3] == [], f"the block at {name}:{line} warns"


def test_blocks_share_a_namespace_and_fail_on_errors_and_warnings():
    run_blocks([(1, "x = 2\n", False), (5, "assert x == 2\n", False), (9, "x = 1 / 0\n", True)], "ok.md", [])
    with pytest.raises(NameError):
        run_blocks([(1, "print(undefined)\n", False)], "bad.md", [])
    warn = "import warnings\nwarnings.warn('careful', UserWarning)\n"
    with pytest.raises(AssertionError, match="the block at warns.md:3 warns"):
        run_blocks([(3, warn, False)], "warns.md", [])
    run_blocks([(3, warn, False)], "warns.md", [(UserWarning, "care")])


@pytest.mark.parametrize("page", PAGES, ids=relative)
def test_code_blocks_run(page, tmp_path, monkeypatch):
    name = relative(page)

    def no_browser(*args, **kwargs):
        raise AssertionError(f"{name} opens a web browser: pass open_browser=False")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(webbrowser, "open", no_browser)
    run_blocks(python_blocks(page.read_text(encoding="utf-8")), name, EXPECTED_WARNINGS.get(name, []))


# --- doc/api.md: every public name, with its signature --------------------------------------------


def plain_signature(obj) -> str:
    """The signature without type hints, as api.md writes it: ``(data, strategy, *, cash=10000, ...)``."""
    signature = inspect.signature(obj)
    parameters = [p.replace(annotation=inspect.Parameter.empty) for p in signature.parameters.values()]
    return str(signature.replace(parameters=parameters, return_annotation=inspect.Signature.empty))


def _members(cls: type) -> list[tuple[str, object]]:
    """The public methods and properties a class defines or overrides (not those of its public bases)."""
    found = []
    for name, value in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(value, property):
            found.append((name, value))
        elif inspect.isfunction(value):
            found.append((name, value))
    return found


def _is_made_for_you(obj: object) -> bool:
    """Classes users never construct: strategies (Backtest does), orders, trades, positions, a study's
    trials, and the exceptions raised at them."""
    from backtestkit import Order, Position, Strategy, Trade
    from backtestkit.optimize import Trial

    return inspect.isclass(obj) and issubclass(obj, (Strategy, Order, Trade, Position, Trial, BaseException))


def api_entries() -> list[str]:
    """What api.md must contain for every public name: ``module.Name(signature)`` or ``module.Name``
    (for constants and for classes users do not construct), then ``Class.member(signature)`` or
    ``Class.property`` for each public member a class defines."""
    entries = []
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            qualified = f"{module_name}.{name}"
            if (inspect.isclass(obj) or inspect.isfunction(obj)) and not _is_made_for_you(obj):
                entries.append(f"{qualified}{plain_signature(obj)}")
            else:
                entries.append(qualified)
            if not inspect.isclass(obj):
                continue
            for member, value in _members(obj):
                if isinstance(value, property):
                    entries.append(f"{name}.{member}")
                else:
                    bound = plain_signature(value).replace("(self, ", "(").replace("(self)", "()")
                    entries.append(f"{name}.{member}{bound}")
    return entries


def test_api_reference_lists_every_public_name_with_its_signature():
    text = (DOC / "api.md").read_text(encoding="utf-8")
    headings = set(re.findall(r"^#{3,4} `([^`]+)`", text, flags=re.MULTILINE))
    missing = [entry for entry in api_entries() if entry not in headings]
    assert missing == []
