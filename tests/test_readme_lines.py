"""A disc's README.txt names, per configured directory, the backup it was taken from; rebuild-state
reads that back (disc_text.readme_backup) for the directory's own line only: not the line of
another directory whose escaped path reads as this one's path, nor one whose path holds "  =  "."""

from __future__ import annotations

import os
import random

from rabtui.checkpoint import layout, reserve
from rabtui.checkpoint.placement import prefix_of
from rabtui.rebuild import disc_text


NOW, BEFORE, RAW = "now", "before", "raw"
# what README.txt said of its paths: discs written before format characters were escaped, and
# before that, when paths were written as they are
SAID = {NOW: "invisible character (U+202E, U+200B, U+2028, ...) or of what is not",
        BEFORE: "character or of what is not"}
SHOWN = {NOW: layout.escape_path, BEFORE: lambda name: layout.escape_path(name, layout.shown_before),
         RAW: os.fsdecode}


def _readme(*dirs: tuple[str, int], rule: str = NOW) -> bytes:
    """README.txt of one disc holding `dirs` (path, backup id) of source web, as the checkpoint
    writes it, or (`rule`) as one written before did."""
    plan = [{"role": "data", "source": "web", "path": path, "kind": "standard", "backup_id": bid,
             "prefix": os.fsdecode(prefix_of("web", path))} for path, bid in dirs]
    shown = layout._shown
    layout._shown = lambda path: SHOWN[rule](os.fsencode(path))
    try:
        text = layout.readme_text(number=3, created=1.7e9, disc=1, discs=1, disc_type="cd", dirs=plan,
                                  on_disc={d["prefix"]: [1] for d in plan}, filler=[])
    finally:
        layout._shown = shown
    assert SAID[NOW] in text
    if rule != NOW:
        text = text.replace(SAID[NOW], SAID[BEFORE])
    if rule == RAW:
        text = text.replace("In paths (here too):", "In paths:")
    return text.encode("utf-8", "surrogateescape")


def test_a_readme_written_before_still_names_its_backups():
    """Discs written before escaped C0, DEL and C1 only: a configured path holding a newline and a
    U+202E is found there as they wrote it; discs before those wrote it as it is."""
    path = "/srv/in\nvoice\u202efdp"
    for rule, backup in ((BEFORE, 7), (RAW, 8), (NOW, 9)):
        readme = _readme((path, backup), ("/srv/in\\nvoice\\xe2\\x80\\xaefdp", 1), rule=rule)
        assert disc_text.readme_backup(readme, "web", path) == backup, rule


def test_a_path_that_is_the_escaped_form_of_another_is_not_named_by_its_line():
    readme = _readme(("/srv/a\u202e", 7), ("/srv/b\x1b", 8))
    assert disc_text.readme_backup(readme, "web", "/srv/a\u202e") == 7
    assert disc_text.readme_backup(readme, "web", "/srv/b\x1b") == 8
    # typed with backslashes: other directories, not in this checkpoint
    assert disc_text.readme_backup(readme, "web", "/srv/a\\xe2\\x80\\xae") is None
    assert disc_text.readme_backup(readme, "web", "/srv/b\\x1b") is None


def test_a_path_holding_the_line_of_another_does_not_take_its_backup():
    readme = _readme(("/x  =  web:/y", 5), ("/y", 6))
    assert disc_text.readme_backup(readme, "web", "/y") == 6
    assert disc_text.readme_backup(readme, "web", "/x  =  web:/y") == 5
    assert disc_text.readme_backup(_readme(("/x  =  web:/y", 5)), "web", "/y") is None


def test_the_room_kept_for_the_readme_holds_its_escaped_paths():
    """Each directory's line names its prefix and its path escaped: a path of format characters
    near the longest a disc takes is four times its bytes there, twice."""
    r = random.Random(5)
    paths = ["/" + "/".join("".join(r.choice("\u202a\u202e\u2066\u200b\u3000\u2028") for _ in range(85))
                            for _ in range(15)) for _ in range(6)]
    readme = _readme(*((p, 10 ** 18) for p in paths))
    made_by = layout.made_by_line({})
    assert len(readme) <= reserve.readme_bytes(paths, made_by)


def test_the_sums_of_files_joined_from_parts_are_given_only_when_the_plan_recorded_them():
    """A checkpoint planned before its plan recorded the sha256 of each file cut into parts (resumed
    since) says nothing of them (its discs would claim what they lack); one recorded gives those with
    a part on the disc, each line within the room the plan kept (layout.JOINED_ROOM), even of two
    names of 255 bytes that are not UTF-8 (four characters a byte)."""
    def readme(joined):
        return layout.readme_text(number=3, created=1.7e9, disc=2, discs=3, disc_type="cd", dirs=[], on_disc={},
                                  filler=[], joined=joined)
    assert "sha256sum -c" not in readme(None) and "  Each part has its own sha256 in the catalog.\n" in readme(None)
    name = layout.escape_path(b"\xff" * 255)
    joined = [{"path": f"data/web/a/{name}", "sha256": "a" * 64, "discs": [1, 2]},
              {"path": f"data/web/b/{name}", "sha256": "b" * 64, "discs": [2, 3]},
              {"path": "data/web/c", "sha256": "c" * 64, "discs": [3]}]
    lines = layout.joined_lines(joined, 2)
    assert lines == [f"      {'a' * 64}  {name}", f"      {'b' * 64}  {name}"]
    assert sum(len(line.encode()) + 1 for line in lines) <= layout.JOINED_ROOM
    assert "\n".join(lines) in readme(joined) and layout.joined_lines(joined, 4) == ["      (none)"]
