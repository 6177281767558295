"""`demo --fresh` removes a sandbox only when it holds nothing but what a sandbox holds: a folder of
other files into which a sandbox's config was copied (it begins as one) was removed whole."""

from __future__ import annotations

from rabtui import demo
from rabtui.cli import main


def test_fresh_never_removes_a_folder_of_other_files_that_holds_a_sandboxs_config(tmp_path, capsys):
    home = tmp_path / "home"
    home.mkdir()
    (home / "rabtui.toml").write_text(demo.CONFIG)      # copied from a sandbox, to start from
    for name in ("thesis.tex", "notes", "a", "b"):
        (home / name).write_text("years of work\n")
    assert main(["demo", "--fresh", "--dir", str(home), "--no-open"]) == 2
    assert capsys.readouterr().err == (f"rabtui: {home} holds files that are not the sandbox's (a, b, notes and 1"
                                       " more): --fresh removes nothing there\n"
                                       "  move them away, or give --dir another folder\n")
    assert sorted(p.name for p in home.iterdir()) == ["a", "b", "notes", "rabtui.toml", "thesis.tex"]


def test_what_a_sandbox_holds_is_its_own(tmp_path):
    for name in (*demo.OWN, "rabtui.toml.conflict-20261207-041500", ".rabtui.toml.abcd1234.tmp"):
        (tmp_path / name).mkdir()
    assert demo.not_its_own(tmp_path) == []
