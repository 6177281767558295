"""The live file count of a backup (items rsync has considered, of those to consider) from a real
backup's progress events to the command line's progress line."""

from __future__ import annotations

import io

from rabtui import fmt
from rabtui.events import PROGRESS
from tests.trees import Lab, write_files

FILES = 240


def _backup(tmp_path) -> Lab:
    lab = Lab(tmp_path)
    cfg = lab.local()
    write_files(lab.src / "data", {f"d{i % 6}/f{i:04d}": i for i in range(FILES)})
    result = lab.backup(cfg)
    assert result.status == "completed", result.reason
    return lab


def test_progress_events_carry_the_file_count(tmp_path):
    lab = _backup(tmp_path)
    progress = [e.data for e in lab.events if e.kind == PROGRESS]
    assert progress and all(p["files_total"] for p in progress)
    assert all(0 <= p["files_done"] <= p["files_total"] for p in progress)
    last = progress[-1]
    # every file, the 6 directories and the top one: all considered at the end
    assert last["files_done"] == last["files_total"] == FILES + 7 and not last["files_more"]
    assert fmt.files(last) == f"{FILES + 7:,} of {FILES + 7:,} files"


def test_cli_progress_line_shows_the_file_count(tmp_path, capsys):
    from rich.console import Console

    from rabtui.cli.progress import RichDisplay, RichSourcesDisplay

    lab = _backup(tmp_path)
    last = [e for e in lab.events if e.kind == PROGRESS][-1]
    for display, emit in ((RichDisplay(), None), (RichSourcesDisplay(), "loc")):
        with display:
            (display.emit_for(emit) if emit else display.emit)(last)
            console = Console(file=io.StringIO(), width=200, record=True)
            console.print(display.progress.make_tasks_table(display.progress.tasks))
        line = console.export_text()
        assert f"{FILES + 7} of {FILES + 7} files" in line, line
    capsys.readouterr()


def test_counts_of_one_are_singular():
    assert [fmt.count(n, "disc") for n in (0, 1, 2)] == ["0 discs", "1 disc", "2 discs"]
    assert (fmt.count(1, "medium"), fmt.count(3, "medium"), fmt.count(2, "archive entry"),
            fmt.count(2, "more directory")) == ("1 medium", "3 media", "2 archive entries", "2 more directories")
    assert fmt.files({"files_done": 0, "files_total": 1}) == "0 of 1 file"
    assert fmt.files({"files_done": 1, "files_total": 1, "files_more": True}) == "1 of 1+ files"
