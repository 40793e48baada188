"""The documents in the repository stay true to it: cited pages and sections exist, links resolve,
and the README's "Where things live" table lists the tree's folders and their entry points."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
ENTRY_POINTS: dict[str, str] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
    "entry-points"
]["relscope"]

#: ``docs/<page>.md`` or ``docs/<page>.md#<section>`` as cited in code, tests and documents
CITATION = re.compile(r"(?<![\w/.])docs/([\w.-]+\.md)(?:#([\w-]+))?")
#: a Markdown link ``[text](target)``
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """The section anchors of a Markdown page (headings outside code blocks)."""
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    return {slug(m.group(1)) for m in re.finditer(r"^#+ (.+)$", text, flags=re.M)}


def citing_files() -> list[Path]:
    """Every source and document file of the repository that may cite a page."""
    files = [README, *DOCS.glob("*.md")]
    for folder in ("core", "plugins", "tests", "benchmarks", "examples"):
        files += [p for p in (ROOT / folder).rglob("*") if p.suffix in (".py", ".md", ".toml")]
    return [p for p in files if "__pycache__" not in p.parts]


def test_every_cited_page_and_section_exists() -> None:
    cited = []
    for path in citing_files():
        for match in CITATION.finditer(path.read_text(encoding="utf-8")):
            page, section = match.groups()
            cited.append(page)
            where = f"{path.relative_to(ROOT)} cites docs/{match.group(0)[5:]}"
            assert (DOCS / page).is_file(), f"{where}, which does not exist"
            if section is not None:
                assert section in anchors(DOCS / page), f"{where}, which has no such section"
    assert {"lrp-rules.md", "formats.md"} <= set(cited)  # the two pages code and tests rely on


@pytest.mark.parametrize("page", [README, *sorted(DOCS.glob("*.md"))], ids=lambda p: p.name)
def test_relative_links_resolve(page: Path) -> None:
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"^[a-z]+:", target):
            continue
        file, _, section = target.partition("#")
        linked = (page.parent / file).resolve() if file else page
        assert linked.exists(), f"{page.name}: link {target} points at a missing file"
        if section:
            assert section in anchors(linked), f"{page.name}: link {target} has no such section"


def layout_rows() -> dict[str, str]:
    """Folder -> entry-point cell of each row of the README's "Where things live" table."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## Where things live", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`"):
            rows[cells[0].strip("`").rstrip("/")] = cells[2]
    assert rows, "README.md: no rows in the 'Where things live' table"
    return rows


def expand_names(cell: str) -> set[str]:
    """Entry-point names of a cell; ``.x`` after ``relscope.kind.y`` stands for ``relscope.kind.x``."""
    names: set[str] = set()
    prefix = ""
    for token in re.findall(r"`([^`]+)`", cell):
        if token.startswith("relscope.") and token.count(".") >= 2:
            prefix = token.rsplit(".", 1)[0]
            names.add(token)
        elif token.startswith(".") and prefix:
            names.add(prefix + token)
    return names


def test_layout_table_lists_every_package_folder() -> None:
    rows = layout_rows()
    for folder in rows:
        assert (ROOT / folder).is_dir(), f"README.md lists {folder}/, which is not in the tree"
    packages = {
        init.parent.relative_to(ROOT).as_posix()
        for top in ("core", "plugins")
        for init in (ROOT / top).glob("*/__init__.py")
    }
    missing = sorted(packages - set(rows))
    assert not missing, f"README.md 'Where things live' lacks a row for {', '.join(missing)}"


def test_layout_table_covers_every_tracked_top_level_folder() -> None:
    try:
        listed = subprocess.run(
            ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    tops = {name.split("/", 1)[0] for name in listed if "/" in name}
    rows = layout_rows()
    for top in sorted(tops):
        assert any(row == top or row.startswith(top + "/") for row in rows), (
            f"README.md 'Where things live' has no row for {top}/"
        )


def test_layout_table_names_each_plugin_folders_entry_points() -> None:
    rows = layout_rows()
    for folder, cell in rows.items():
        if not folder.startswith("plugins/"):
            continue
        package = "relscope." + folder.replace("/", ".")
        declared = {
            name
            for name, module in ENTRY_POINTS.items()
            if module == package or module.startswith(package + ".")
        }
        assert expand_names(cell) == declared, (
            f"README.md row {folder}/: entry points {sorted(expand_names(cell))}, "
            f"pyproject.toml declares {sorted(declared)}"
        )
