"""The house plan (minigan/floors.py) holds: every module is listed, no import goes up a floor or in a
circle, and the README's "Where things are" table and the modules' "Floor N" docstrings agree with it.

A unit is a top-level module (``minigan/backend.py`` -> "backend"), a package (``minigan/gan/`` -> "gan")
or the package itself (``minigan/__init__.py`` -> "__init__"). Every ``import minigan...`` and
``from minigan... import ...`` counts, at module level or inside a function; ``from minigan import x``
imports unit x when there is one, else the package's front door (``__version__``).
"""

import ast
import re
from collections import defaultdict
from pathlib import Path

from minigan import floors

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "minigan"
README = ROOT / "README.md"
FLOOR_CLAIM = re.compile(r"^Floor (\d+'*)[ :]")


# -- reading the package ---------------------------------------------------------------------------
def units_on_disk(package=PACKAGE):
    """The top-level units of the package: modules, and folders holding Python files."""
    units = set()
    for entry in package.iterdir():
        if entry.suffix == ".py":
            units.add(entry.stem)
        elif entry.is_dir() and entry.name != "__pycache__" and any(entry.rglob("*.py")):
            units.add(entry.name)
    return units


def unit_of(path, package=PACKAGE):
    """The unit a source file belongs to."""
    parts = path.relative_to(package).parts
    return Path(parts[0]).stem if len(parts) == 1 else parts[0]


def module_name(path, package=PACKAGE):
    """minigan/gan/base.py -> "minigan.gan.base"; a package's __init__.py -> the package's name."""
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(source, name, is_package):
    """(line, dotted name) of every import in ``source``, module ``name``; relative imports resolved.
    ``from a import b`` yields "a.b" (b may be a module or a name in a; the caller decides)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = name.split(".") if is_package else name.split(".")[:-1]
                anchor = package[:len(package) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def unit_imported(dotted, units):
    """The minigan unit a dotted import reaches, or None outside minigan."""
    parts = dotted.split(".")
    if parts[0] != "minigan":
        return None
    return parts[1] if len(parts) > 1 and parts[1] in units else "__init__"


def import_edges(package=PACKAGE):
    """{(importer unit, imported unit): ["file:line", ...]} between different units."""
    units, edges = units_on_disk(package), defaultdict(list)
    for path in sorted(package.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        importer = unit_of(path, package)
        for line, dotted in imported_modules(path.read_text(), module_name(path, package), path.name == "__init__.py"):
            imported = unit_imported(dotted, units)
            if imported is not None and imported != importer:
                edges[importer, imported].append(f"{path.relative_to(package.parent)}:{line}")
    return dict(edges)


# -- the rules -------------------------------------------------------------------------------------
def upward(edges, exceptions=floors.EXCEPTIONS):
    """Messages for each import of a unit on a higher floor (exceptions aside)."""
    found = []
    for (a, b), where in sorted(edges.items()):
        if (a, b) not in exceptions and floors.rank(b) > floors.rank(a):
            found.append(f"{a} (floor {floors.floor_of(a).label}) imports {b} (floor {floors.floor_of(b).label}) "
                         f"at {', '.join(where)}")
    return found


def reaches(edges, start, goal, skip=frozenset()):
    """Whether ``goal`` can be reached from ``start`` along the import edges not in ``skip``."""
    seen, todo = set(), [start]
    while todo:
        unit = todo.pop()
        if unit == goal:
            return True
        if unit not in seen:
            seen.add(unit)
            todo += [b for (a, b) in edges if a == unit and (a, b) not in skip]
    return False


def circles(edges, exceptions=floors.EXCEPTIONS):
    """Messages for each import a -> b that closes a circle (b imports a, directly or not)."""
    return [f"{a} imports {b} at {', '.join(where)}, and {b} leads back to {a}"
            for (a, b), where in sorted(edges.items())
            if (a, b) not in exceptions and reaches(edges, b, a, skip=set(exceptions))]


# -- the tests -------------------------------------------------------------------------------------
def test_every_unit_is_on_exactly_one_floor():
    listed = [unit for floor in floors.FLOORS for unit in floor.units]
    assert len(listed) == len(set(listed)), f"listed twice: {sorted(u for u in listed if listed.count(u) > 1)}"
    on_disk, listed = units_on_disk(), set(listed)
    assert not on_disk - listed, f"minigan/ has units minigan/floors.py does not list: {sorted(on_disk - listed)}"
    assert not listed - on_disk, f"minigan/floors.py lists units minigan/ lacks: {sorted(listed - on_disk)}"
    assert len({floor.label for floor in floors.FLOORS}) == len(floors.FLOORS)


def test_the_import_reader_sees_every_kind_of_import():
    source = ("import minigan.gan.base\nfrom minigan import data, __version__\n"
              "def f():\n    from minigan.judge import load_judge\n    from . import steps\n")
    found = imported_modules(source, "minigan.gan.training", is_package=False)
    assert found == [(1, "minigan.gan.base"), (2, "minigan.data"), (2, "minigan.__version__"),
                     (4, "minigan.judge.load_judge"), (5, "minigan.gan.steps")]
    units = {"gan", "data", "judge"}
    assert [unit_imported(d, units) for _, d in found] == ["gan", "data", "__init__", "judge", "gan"]
    edges = import_edges()
    assert ("gan", "nn") in edges and ("cli", "gan") in edges and ("tensor", "functional") in edges


def test_no_import_goes_up_a_floor():
    assert upward(import_edges()) == []


def test_no_units_import_each_other_in_a_circle():
    assert circles(import_edges()) == []


def test_the_rules_catch_an_upward_import_and_a_circle():
    """The checks above can fail: training importing the judge (as it once did) goes up; two units of
    one floor importing each other make a circle; an exception lets its import through."""
    assert upward({("gan", "judge"): ["minigan/gan/training.py:1"]}) == [
        "gan (floor 6) imports judge (floor 7') at minigan/gan/training.py:1"]
    assert upward({("tensor", "functional"): ["minigan/tensor.py:18"]}) == []
    assert upward({("tensor", "functional"): ["x"]}, exceptions={}) != []
    assert len(circles({("judge", "evaluate"): ["a"], ("evaluate", "judge"): ["b"]})) == 2
    assert circles({("judge", "evaluate"): ["a"]}) == []


def test_each_exception_is_still_needed():
    edges = import_edges()
    for (a, b), reason in floors.EXCEPTIONS.items():
        assert (a, b) in edges, f"the exception {a} -> {b} ({reason}) is no longer used: remove it"
        goes_up = floors.rank(b) > floors.rank(a)
        assert goes_up or reaches(edges, b, a, skip={(a, b)}), (
            f"{a} -> {b} breaks no rule (same floor, no circle): remove the exception")
        assert reason.strip()


def test_floor_claims_in_docstrings_agree():
    """A module docstring that starts "Floor N" names the floor of its unit."""
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        m = FLOOR_CLAIM.match(ast.get_docstring(ast.parse(path.read_text())) or "")
        if m and m.group(1) != floors.floor_of(unit_of(path)).label:
            wrong.append(f"{path.relative_to(ROOT)} says floor {m.group(1)}, "
                         f"minigan/floors.py {floors.floor_of(unit_of(path)).label}")
    assert wrong == []


# -- the README ------------------------------------------------------------------------------------
def readme_table(text):
    """Rows (label, name, paths, what) of the table in the README's "Where things are" section."""
    section = text.split("## Where things are", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")][2:]  # after header and rule
    table = []
    for row in rows:
        floor, where, what = [cell.strip() for cell in row.strip("|").split("|")]
        label, name = floor.split(" ", 1)
        table.append((label, name, re.findall(r"`([^`]+)`", where), what))
    return table


def unit_of_path(path):
    """"minigan/gan/" -> "gan", "minigan/cli.py" -> "cli", "minigan/__init__.py" -> "__init__"."""
    return path.removeprefix("minigan/").rstrip("/").removesuffix(".py")


def test_readme_table_is_the_floors_table():
    table = readme_table(README.read_text())
    assert [(label, name) for label, name, _, _ in table] == [(f.label, f.name) for f in floors.FLOORS]
    for (label, _, paths, what), floor in zip(table, floors.FLOORS):
        ours = [p for p in paths if p.startswith("minigan/")]
        assert sorted(map(unit_of_path, ours)) == sorted(floor.units), f"README floor {label}: {ours}"
        for p in ours:
            assert (ROOT / p).exists(), f"README floor {label} names {p}, which does not exist"
        assert what == floor.summary, f"README floor {label}: write {floor.summary!r}"
