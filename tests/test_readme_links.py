"""Every link of README.md and docs/*.md to a heading (`](#x)`, `](docs/F.md#x)`) or a file of the
repository names one that is there, as GitHub makes a heading's anchor: moving a section breaks none;
nor does renaming a file they name in backticks (the tests that prove a promise, say)."""
import re
from pathlib import Path

ROOT = Path(__file__).parent.parent


def anchors(path: Path) -> set[str]:
    """The anchors of a Markdown file's headings (outside fenced code), GitHub's way: lower case,
    punctuation but `-` and `_` dropped, spaces made dashes, a repeated one numbered."""
    found, seen, fenced = set(), {}, False
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
        heading = None if fenced else re.match(r"#{1,6} (.*)", line)
        if heading:
            slug = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower()).replace(" ", "-")
            found.add(f"{slug}-{seen[slug]}" if slug in seen else slug)
            seen[slug] = seen.get(slug, 0) + 1
    return found


def broken_links(path: Path) -> list[str]:
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", path.read_text()):
        if re.match(r"[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        dest = (path.parent / file) if file else path
        if not dest.exists():
            broken.append(f"{target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target}: no such heading in {dest.name}")
    return broken


def test_readme_and_docs_links_resolve():
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    assert len(files) > 1
    assert {f.name: broken_links(f) for f in files} == {f.name: [] for f in files}


def test_a_broken_link_is_found(tmp_path):
    (tmp_path / "a.md").write_text("# Top `x`\n## Top x\n[ok](#top-x) [ok](#top-x-1) [no](#top-y) [f](b.md)\n")
    assert broken_links(tmp_path / "a.md") == ["#top-y: no such heading in a.md", "b.md: no such file"]


def missing_files(path: Path) -> list[str]:
    """The repository's files a Markdown file names in backticks (`tests/test_x.py`, a glob of them)
    that are not there: a test renamed or a script moved leaves the README pointing at nothing."""
    named = re.findall(r"`((?:tests|contrib|scripts|rabtui|benchmarks|docs|screenshots)/[^`\s]*)`",
                       path.read_text())
    return sorted({n for n in named if n != "tests/test_x.py" and not list(ROOT.glob(n))})


def test_the_files_the_readme_and_docs_name_are_there():
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    assert {f.name: missing_files(f) for f in files} == {f.name: [] for f in files}


def test_a_missing_file_is_found(tmp_path):
    (tmp_path / "a.md").write_text("`tests/test_readme_links.py` `tests/test_readme_l*.py` `tests/test_gone.py`\n")
    assert missing_files(tmp_path / "a.md") == ["tests/test_gone.py"]
