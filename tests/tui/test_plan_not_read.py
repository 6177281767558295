"""The Checkpoints screen's fill plan says how many paths the backups it takes could not read on
the source (not on the discs), as the plan's summary counts them."""

from __future__ import annotations

from rabtui.tui.planning import from_summary
from rabtui.tui.widgets.discbars import DiscBars


def _summary(**dir_fields) -> dict:
    return {"disc_type": "cd-r", "disc_bytes": 700 << 20, "lower_bound": 1,
            "per_disc": [{"disc": 1, "data_bytes": 1000, "filler_bytes": 0, "reserved_bytes": 10, "free_bytes": 5,
                          "files": 2}],
            "directories": [{"key": "web:/a", **dir_fields}, {"key": "web:/b"}], "filler": []}


def test_the_fill_plan_counts_what_the_backups_could_not_read():
    bars = DiscBars()
    bars._plan, bars._states = from_summary(_summary(unreadable=["x", "y/."], unreadable_unnamed=3), 5), {}
    assert "5 paths the backups could not read on the source are not on the discs" in bars.render_text(78).plain
    bars._plan = from_summary(_summary(), 5)      # none, or a summary written before: nothing said
    assert "could not read" not in bars.render_text(78).plain


def test_what_an_archive_directory_could_not_read_is_not_said_missing():
    """An archive directory's union holds what earlier backups saved of the paths its backup could
    not read: those are on the discs as saved then, not missing (as the plan says)."""
    bars = DiscBars()
    bars._plan, bars._states = from_summary(_summary(kind="archive", unreadable=["x"], unreadable_unnamed=1), 5), {}
    text = bars.render_text(78).plain
    assert "not on the discs" not in text
    assert "2 paths the backups of archive directories could not read on the source are on the discs only as" \
           " an earlier backup saved them" in text
    summary = _summary(kind="archive", unreadable=["x"])
    summary["directories"][1].update(kind="standard", unreadable=["y", "z"])
    bars._plan = from_summary(summary, 5)
    text = bars.render_text(78).plain
    assert "2 paths the backups could not read on the source are not on the discs" in text
    assert "1 path the backups of archive directories could not read" in text


def test_a_file_the_medium_could_not_hold_is_not_said_unread_on_the_source():
    """A file the backup read and could not write on the medium (a name vfat refuses: `unmade`) is
    said so, not counted among those it could not read on the source."""
    bars = DiscBars()
    bars._plan, bars._states = from_summary(_summary(unreadable=["a:b", "x"], unmade=["a:b"]), 5), {}
    text = bars.render_text(78).plain
    assert "1 path the backups could not read on the source is not on the discs" in text
    assert "1 file the backups read on the source could not be written on the medium" in text
    bars._plan = from_summary(_summary(unreadable=["a:b"], unmade=["a:b"]), 5)
    assert "could not read" not in bars.render_text(78).plain
