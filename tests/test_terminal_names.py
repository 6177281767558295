"""File names that hold terminal controls (ESC[31m, BEL, CR, a newline), Rich markup and bytes that
are not UTF-8: every output meant for a terminal shows them escaped as `ls -b` does (one function,
fmt.name); JSON keeps the exact names."""

from __future__ import annotations

import json
import os
import re
from datetime import datetime, timedelta

import pytest

from rabtui import fmt
from rabtui.cli import main
from tests.trees import Lab, write_files

DIR = b"d\x1b[31mred\x07\r\n[bold]\xe2\x80\xae"       # valid UTF-8: it can be named on the command line
NAME = b"f\x1b[31mx\x07y\rz\n[bold]w\xff\xfe\xe2\x80\xa8.txt"       # and one that is not UTF-8
DIR_SHOWN = "d\\033[31mred\\a\\r\\n[bold]\\342\\200\\256"        # U+202E RIGHT-TO-LEFT OVERRIDE
NAME_SHOWN = "f\\033[31mx\\ay\\rz\\n[bold]w\\377\\376\\342\\200\\250.txt"        # U+2028 LINE SEPARATOR
T0 = datetime(2026, 9, 1, 3, 0)


def test_name_escapes_as_ls_b():
    assert fmt.name(NAME) == NAME_SHOWN
    assert fmt.name(b"back\\slash") == "back\\\\slash"
    assert fmt.name("caf\u00e9 \u65e5\u672c") == "caf\u00e9 \u65e5\u672c"       # printable text is kept
    assert fmt.name(os.fsdecode(b"a\xffb")) == "a\\377b"                         # surrogate-escaped str
    assert fmt.name("rtl\u202eoverride") == "rtl\\342\\200\\256override"
    assert fmt.lines("one\x1b\ntwo") == "one\\033\ntwo"


def _clean(text: str) -> None:
    for ch in ("\x1b", "\x07", "\r", "\udcff", "\u202e", "\u2028"):
        assert ch not in text, (ch, text)


@pytest.fixture
def lab(tmp_path):
    lab = Lab(tmp_path)
    lab.local()
    write_files(lab.src / "data", {b"keep": b"k", DIR + b"/" + NAME: b"first"})
    cfg = lab.load()
    assert lab.backup(cfg, now=T0, medium_id="m1").status == "completed"
    write_files(lab.src / "data", {DIR + b"/" + NAME: b"second!", DIR + b"/new " + NAME: b"n"})
    assert lab.backup(cfg, now=T0 + timedelta(days=1), medium_id="m1").status == "completed"
    return lab


def _run(lab, capsys, *argv) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["--config", str(lab.config_path), *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_find_escapes_names_and_json_keeps_them(lab, capsys):
    code, out, err = _run(lab, capsys, "find", "f*")
    assert code == 0, err
    _clean(out)
    assert f"/{DIR_SHOWN}/{NAME_SHOWN}" in out
    code, out, _ = _run(lab, capsys, "find", "f*", "--json")
    paths = [os.fsencode(v["path"]) for v in json.loads(out)]
    assert os.fsencode(str(lab.src / "data")) + b"/" + DIR + b"/" + NAME in paths


def test_diff_escapes_names_and_json_keeps_them(lab, capsys):
    code, out, err = _run(lab, capsys, "diff", "loc")
    assert code == 0, err
    _clean(out)
    assert f"~ {lab.src / 'data'}/{DIR_SHOWN}/{NAME_SHOWN}" in out
    assert f"+ {lab.src / 'data'}/{DIR_SHOWN}/new {NAME_SHOWN}" in out
    code, out, _ = _run(lab, capsys, "diff", "loc", "--json")
    added = [os.fsencode(a["path"]) for a in json.loads(out)["added"]]
    assert added == [os.fsencode(str(lab.src / "data")) + b"/" + DIR + b"/new " + NAME]


def test_restore_and_jobs_follow_escape_names(lab, capsys, tmp_path):
    path = os.fsdecode(os.fsencode(str(lab.src / "data")) + b"/" + DIR)
    code, out, err = _run(lab, capsys, "restore", "loc", path, "--to", str(tmp_path / "out"))
    assert code == 0, err
    _clean(out + err)
    assert DIR_SHOWN in out and DIR_SHOWN in err
    restored = os.fsencode(str(tmp_path / "out")) + os.fsencode(path) + b"/" + NAME
    assert open(restored, "rb").read() == b"second!"
    job = lab.store().one("SELECT id FROM jobs WHERE kind='restore'")["id"]
    code, out, err = _run(lab, capsys, "jobs", "follow", str(job))
    assert code == 0, err
    _clean(out)
    assert DIR_SHOWN in out
    for line in out.splitlines():           # a newline in a name never starts a line of its own
        assert re.match(r"\d\d:\d\d:\d\d |job \d+: ", line), line


def test_status_and_check_escape_names(tmp_path, capsys):
    lab = Lab(tmp_path)
    nasty = lab.src / os.fsdecode(DIR)
    nasty.mkdir(parents=True)
    toml_path = str(nasty).replace("\\", "\\\\").encode("unicode_escape").decode().replace("\\x", "\\u00")
    lab.write(f'[[sources]]\nid = "loc"\n[[sources.directories]]\npath = "{toml_path}"\n')
    assert lab.load().sources[0].directories[0].path == str(nasty)
    store = lab.store()
    now = datetime.now().timestamp()
    title = "restore " + os.fsdecode(DIR)
    store.execute("INSERT INTO jobs(kind, title, status, started, heartbeat, pid) VALUES ('restore', ?, 'running', ?, ?, ?)",
                  (title, now, now, os.getpid()))
    store.execute("INSERT INTO jobs(kind, title, status, started, finished, pid) VALUES ('restore', ?, 'dead', ?, ?, 1)",
                  (title, now, now))
    code, out, err = _run(lab, capsys, "status")
    assert code == 0, err
    _clean(out)
    assert f"{nasty.parent}/{DIR_SHOWN} (standard)" in out       # the checkpoint counter of the directory
    assert f"restore {DIR_SHOWN} (running" in out                 # the running job
    code, out, err = _run(lab, capsys, "check")
    _clean(out + err)
    assert f"(restore {DIR_SHOWN}) died" in out
    code, out, _ = _run(lab, capsys, "status", "--json")
    assert [c["path"] for c in json.loads(out)["checkpoint_counters"]] == [str(nasty)]


def test_check_config_escapes_names(tmp_path, capsys):
    """check-config's notes and warnings name the directories of the config (a medium's, a missing
    source directory's) as every other output does: its terminal controls and line breaks escaped."""
    lab = Lab(tmp_path, media_count=1)
    medium = tmp_path / os.fsdecode(DIR)
    medium.mkdir()
    text = lab.config_path
    missing = lab.src / os.fsdecode(DIR)

    def toml(path) -> str:
        return str(path).replace("\\", "\\\\").encode("unicode_escape").decode().replace("\\x", "\\u00")

    lab.write(f'[[sources]]\nid = "loc"\n[[sources.directories]]\npath = "{toml(missing)}"\n')
    text.write_text(text.read_text().replace(f'path = "{lab.media[0][1]}"', f'path = "{toml(medium)}"'))
    code, out, err = _run(lab, capsys, "check-config")
    assert code == 0, err
    _clean(out + err)
    assert f"medium m1 at {tmp_path}/{DIR_SHOWN} is empty" in err, err
    assert f"directory {lab.src}/{DIR_SHOWN} does not exist" in err, err


def _rendered(widget) -> str:
    """What a DataTable or Static puts on the screen: its cells after markup, as plain text."""
    from rich.text import Text
    from textual.widgets import DataTable

    out = []
    if isinstance(widget, DataTable):
        for r in range(widget.row_count):
            for c in widget.get_row_at(r):
                out.append(c.plain if isinstance(c, Text) else Text.from_markup(str(c)).plain)
    else:
        out.append(str(widget.render()))
    return "\n".join(out)


def test_tui_browse_and_runs_escape_names_and_show_markup_literally(lab):
    from textual.widgets import DataTable, RichLog

    from rabtui.tui.app import make_app
    from rabtui.tui.screens.browse import BrowseScreen
    from tests.tui.conftest import run, wait_for

    store = lab.store()
    newest = dict(store.one("SELECT * FROM backups ORDER BY id DESC LIMIT 1"))
    # a job whose log names the file, and a source directory of the config named like it
    rec = store.execute("INSERT INTO jobs(kind, title, status, started) VALUES ('restore', ?, 'completed', 1)",
                        (f"restore {os.fsdecode(DIR)}",)).lastrowid
    store.add_event(rec, "log", "restoring " + os.fsdecode(DIR + b"/[red]x"))
    rel = os.fsencode(str(lab.src / "data")).lstrip(b"/") + b"/" + DIR

    async def go():
        app = make_app(lab.config_path, poll_interval=0.2)
        async with app.run_test(size=(160, 40)) as pilot:
            await pilot.press("6")
            await wait_for(pilot, lambda: isinstance(app.screen, BrowseScreen))
            screen = app.screen
            screen.source = "loc"
            screen.open_backup(dict(newest, source="loc"), rel)
            await wait_for(pilot, lambda: screen.level == "dir" and not screen.loading and screen.loaded, what="dir")
            shown = _rendered(screen.query_one("#browse", DataTable))
            _clean(shown)
            assert NAME_SHOWN in shown and f"new {NAME_SHOWN}" in shown      # [bold] kept literally
            where = _rendered(screen.query_one("#browse-where"))
            _clean(where)
            assert DIR_SHOWN in where
            app.notify("about " + os.fsdecode(DIR))
            await pilot.pause(0.1)
            toast = list(app._notifications)[-1]
            _clean(toast.message)           # a toast keeps its line breaks, and is never markup
            assert "d\\033[31mred\\a\\r" in toast.message and not toast.markup

            await pilot.press("4")
            await wait_for(pilot, lambda: app.screen.query("#run-log")
                           and "restoring" in "\n".join(str(l.text) for l in app.screen.query_one("#run-log", RichLog).lines),
                           what="the job's log")
            log = "\n".join(str(l.text) for l in app.screen.query_one("#run-log", RichLog).lines)
            _clean(log)
            assert f"{DIR_SHOWN}/[red]x" in log
            jobs = _rendered(app.screen.query_one("#runs-jobs", DataTable))
            _clean(jobs)
            assert f"restore {DIR_SHOWN}" in jobs

    run(go())


# a directory name that a terminal would obey (a window title, a screen cleared, a bidi override)
# and that Textual would read as markup; the config, the state, the media and the source are below it
OUTSIDE = "o\x1b]0;pwned\x07\x1b[2J\u202e[bold]b[@click=app.quit]q"
OUTSIDE_SHOWN = "o\\033]0;pwned\\a\\033[2J\\342\\200\\256[bold]b[@click=app.quit]q"


def _toml(path) -> str:
    return str(path).replace("\\", "\\\\").encode("unicode_escape").decode().replace("\\x", "\\u00")


@pytest.mark.slow      # tens of seconds: handed out first (conftest)
def test_tui_escapes_paths_commands_output_and_errors_of_outside(tmp_path):
    """Every screen, its header and its toasts show the config's paths (its own, the state's, a
    medium's, a source's), a medium's label, a command's output and an error naming a path escaped
    and as text: the terminal gets no ESC of theirs (Textual passes ESC on as it is) and no markup
    of theirs is read (`[@click=app.quit]`)."""
    from rabtui.tui.app import make_app
    from rabtui.tui.screens.checkpoints import CheckpointsScreen
    from tests.tui.conftest import ready, run, settled, texts, wait_for
    from tests.tui.layout import screen_lines

    top = tmp_path / OUTSIDE
    for sub in ("m", "m2", "src"):
        (top / sub).mkdir(parents=True)
    (top / "m2" / ".rabtui-medium").write_text(json.dumps({"id": "x\x1b[2J\u202e[bold]"}))
    out = "printf 'pre\\\\033[2Jout\\\\n'; printf 'err\\\\033]0;t\\\\007\\\\342\\\\200\\\\256x\\\\n' >&2"
    path = top / "rabtui.toml"
    path.write_text(f'[rabtui]\nstate_dir = "{_toml(top / "state")}"\n'
                    f'[[media]]\nid = "m"\npath = "{_toml(top / "m")}"\n'
                    f'[[media]]\nid = "m2"\npath = "{_toml(top / "m2")}"\n'
                    f'[[sources]]\nid = "box"\npre_backup_commands = ["{out}"]\n'
                    f'[[sources.directories]]\npath = "{_toml(top / "src")}"\n'           # empty: nothing to write
                    f'[[sources]]\nid = "web"\nhost = "[bold]h[link=\'https://x.example\']"\n'
                    f'[[sources.directories]]\npath = "/etc"\n')
    path.chmod(0o600)
    assert main(["--config", str(path), "backup", "box"]) == 0       # a job: its log holds the output
    shown_dir = f"{tmp_path}/{OUTSIDE_SHOWN}"

    async def go():
        app = make_app(path, poll_interval=0)
        async with app.run_test(size=(200, 50), notifications=True) as pilot:
            seen = []
            for key in "123456":
                await pilot.press(key)
                await wait_for(pilot, lambda: app.screen.is_mounted and settled(app), what=f"screen {key}")
                seen += screen_lines(app)
            await pilot.press("4")
            await wait_for(pilot, lambda: "pre" in texts(app, "#run-log"), what="the command's output")
            log = texts(app, "#run-log")
            assert "pre\\033[2Jout" in log and "err\\033]0;t\\a\\342\\200\\256x" in log, log
            await pilot.press("5")
            await wait_for(pilot, lambda: ready(app, CheckpointsScreen), what="Checkpoints")
            await pilot.press("p")
            await wait_for(pilot, lambda: "nothing to write" in texts(app, "#cp-plan"), what="the plan refused")
            await wait_for(pilot, lambda: settled(app), what="drawn")
            seen += screen_lines(app)
            for line in seen:
                _clean(line)
            assert f"nothing to write: box:{shown_dir}/src" in texts(app, "#cp-plan")
            assert "[bold]h[link='https://x.example']" in "\n".join(seen)       # the host, as written
            _clean(app.sub_title)
            for toast in app._notifications:
                _clean(toast.message + toast.title)

    run(go())
