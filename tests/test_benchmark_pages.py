"""benchmarks/RESULTS.md is the pages of benchmarks/results/ put together, and a benchmark writing
its page keeps what was written by hand below the page's notes line."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import results_file  # noqa: E402
import run_all  # noqa: E402


def test_results_md_is_the_pages_put_together():
    assert (ROOT / "benchmarks" / "RESULTS.md").read_text() == run_all.assembled(), (
        "benchmarks/RESULTS.md differs from the pages of benchmarks/results/: edit the pages, then run"
        " `python benchmarks/run_all.py --assemble-only`")


def test_every_page_has_its_place():
    pages = {p.stem for p in (ROOT / "benchmarks" / "results").glob("*.md")}
    assert pages <= set(run_all.ORDER), pages - set(run_all.ORDER)


def test_tables_made_again_keep_the_notes(tmp_path):
    page = tmp_path / "area.md"
    results_file.write_kept(page, "# Area\n\n| a |\n|---|\n| 1 |\n")
    assert page.read_text() == "# Area\n\n| a |\n|---|\n| 1 |\n"
    page.write_text(page.read_text() + f"\n{results_file.NOTES}\n\nWhy 1 is slow.\n")
    results_file.write_kept(page, "# Area\n\n| a |\n|---|\n| 2 |")
    assert page.read_text() == f"# Area\n\n| a |\n|---|\n| 2 |\n\n{results_file.NOTES}\n\nWhy 1 is slow.\n"


def test_the_benchmarks_name_only_what_rabtui_has():
    """Every name a benchmark imports from rabtui exists (a function moved took night_year.py down)."""
    import ast
    import importlib

    missing = []
    for script in sorted((ROOT / "benchmarks").glob("*.py")):
        for node in ast.walk(ast.parse(script.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("rabtui"):
                module = importlib.import_module(node.module)
                missing += [f"{script.name}: {node.module}.{a.name}" for a in node.names
                            if not hasattr(module, a.name) and importlib.util.find_spec(f"{node.module}.{a.name}") is None]
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.startswith("rabtui"):
                        importlib.import_module(a.name)
    assert not missing, missing
