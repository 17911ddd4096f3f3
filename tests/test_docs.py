"""docs/techniques.md stays true to the code: its quotes, its functions and its flags.

The page quotes code as a line "`path`, `function`:" followed at once by a fenced block. Each
such block must appear verbatim (up to the indentation of the whole block) inside that function
(``Class.method`` for a method) of that file, so the page fails here when the code changes under
it. Every ``--flag`` the page mentions must be an option of ``minigan train``; those of the last
section, on ``minigan ablate``, of ``minigan ablate`` or ``minigan train``.
"""

import ast
import re
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from minigan.cli import main
from minigan.gan import losses

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "techniques.md"
QUOTE_HEADER = re.compile(r"^`(?P<path>[\w./-]+\.py)`, `(?P<name>[\w.]+)`:\s*$")
ABLATE_HEADING = "## Measuring them: `minigan ablate`"
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
HELP_OPTION_COLUMN = re.compile(r"^  (-[^ ].*?)(?: {2,}|$)")  # "  --lr-g FLOAT   G's learning..."


# -- reading the page ------------------------------------------------------------------------------
def read_page(text):
    """(quotes, prose): quotes as (line number, path, name, block) for every "`path`, `name`:" line
    with its fenced block; prose is the page without those quoted blocks (where flags are read)."""
    lines = text.splitlines()
    quotes, prose, i = [], [], 0
    while i < len(lines):
        m = QUOTE_HEADER.match(lines[i])
        if not m:
            prose.append(lines[i])
            i += 1
            continue
        if i + 1 >= len(lines) or not lines[i + 1].startswith("```"):
            raise AssertionError(f"line {i + 1}: {lines[i]!r} is not followed at once by a fenced block")
        end = next((j for j in range(i + 2, len(lines)) if lines[j].startswith("```")), None)
        if end is None:
            raise AssertionError(f"line {i + 2}: the fenced block is never closed")
        quotes.append((i + 1, m["path"], m["name"], "\n".join(lines[i + 2:end])))
        i = end + 1
    return quotes, "\n".join(prose)


QUOTES, PROSE = read_page(PAGE.read_text())


# -- finding code --------------------------------------------------------------------------------
def find_definition(source, dotted):
    """The source lines of function or class ``dotted`` ("f", "Class.method") in a module, or None."""
    body = ast.parse(source).body
    node = None
    for part in dotted.split("."):
        node = next((n for n in body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                     and n.name == part), None)
        if node is None:
            return None
        body = node.body
    return source.splitlines()[node.lineno - 1:node.end_lineno]


def contains_block(lines, block):
    """Whether ``block`` equals some run of consecutive ``lines`` once both lose their common indent."""
    want = textwrap.dedent(block).splitlines()
    if not want:
        return False
    for start in range(len(lines) - len(want) + 1):
        if textwrap.dedent("\n".join(lines[start:start + len(want)])).splitlines() == want:
            return True
    return False


def help_flags(command):
    """The option names (``--x``) listed in ``minigan COMMAND --help``."""
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0, result.output
    flags = set()
    for line in result.output.splitlines():
        m = HELP_OPTION_COLUMN.match(line)
        if m:
            flags.update(FLAG.findall(m.group(1)))
    return flags


# -- the tests -----------------------------------------------------------------------------------
def test_page_quotes_every_technique():
    """The parser found the quotes: at least one per technique (16) and no empty block."""
    assert len(QUOTES) >= 16, f"only {len(QUOTES)} quoted blocks found in {PAGE}"
    assert all(block.strip() for _, _, _, block in QUOTES)


@pytest.mark.parametrize("line, path, name, block", QUOTES,
                         ids=[f"{Path(p).name}:{n}:L{ln}" for ln, p, n, _ in QUOTES])
def test_quote_is_verbatim_in_named_function(line, path, name, block):
    file = ROOT / path
    assert file.is_file(), f"docs line {line}: {path} does not exist"
    definition = find_definition(file.read_text(), name)
    assert definition is not None, f"docs line {line}: {path} has no function or class {name}"
    assert contains_block(definition, block), (
        f"docs line {line}: this block is no longer in {path}, {name}; update docs/techniques.md:\n{block}")


def test_quote_check_catches_a_changed_line():
    """The check above can fail: one changed character, or the wrong function, is caught."""
    _, path, name, block = QUOTES[0]
    source = (ROOT / path).read_text()
    assert contains_block(find_definition(source, name), block)
    assert not contains_block(find_definition(source, name), block.replace("(", "( ", 1))
    other = next(n for _, p, n, b in QUOTES if p == path and n != name and b.strip() != block.strip())
    assert not contains_block(find_definition(source, other), block)
    assert find_definition(source, name + "_renamed") is None


def test_train_flags_exist():
    body = PROSE.split(ABLATE_HEADING)[0]
    mentioned = set(FLAG.findall(body))
    assert len(mentioned) >= 15, f"the scan found only {sorted(mentioned)}"
    missing = mentioned - help_flags("train")
    assert not missing, f"docs/techniques.md mentions options `minigan train --help` lacks: {sorted(missing)}"


def test_ablate_section_flags_exist():
    """The last section's flags are options of ``minigan ablate`` (or of the train runs it makes)."""
    assert ABLATE_HEADING in PROSE, "the page must close with the section on minigan ablate"
    mentioned = set(FLAG.findall(PROSE.split(ABLATE_HEADING)[1]))
    assert {"--with", "--variant"} <= mentioned, f"the scan found only {sorted(mentioned)}"
    missing = mentioned - help_flags("ablate") - help_flags("train")
    assert not missing, f"the ablate section mentions options neither ablate nor train has: {sorted(missing)}"


@pytest.mark.parametrize("name", list(losses.LOSSES))
def test_every_loss_is_documented(name):
    """A newly registered loss needs its entry on the page."""
    assert f"`--loss {name}`" in PROSE, f"docs/techniques.md has no entry for --loss {name}"


def test_contents_links_reach_headings():
    """Every (#anchor) link names a heading, slugged as GitHub does."""
    slugs = {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
             for h in re.findall(r"^#+ (.+)$", PROSE, flags=re.MULTILINE)}
    links = re.findall(r"\]\(#([^)]+)\)", PROSE)
    assert len(links) >= 17
    assert not set(links) - slugs, f"links to no heading: {sorted(set(links) - slugs)}"
