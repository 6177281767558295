"""Browse with the media rotated away (issue 18 item 1, the UI's part), on the demo sandbox's real
backups: a version found with `/` whose only copy at hand is a verified checkpoint (ISO files of an
`images:` drive written by a real burn) is restored from its discs by a detached job, which asks
for a disc that is not in the drive through the database; a backup whose medium is not mounted
says so instead of "not in this backup"."""

from __future__ import annotations

import threading
from pathlib import Path

from rabtui import config as configmod
from rabtui.checkpoint import prepare, run as cprun
from rabtui.events import READY, ScriptedPrompter
from rabtui.state.store import Store
from rabtui.tui.app import make_app
from rabtui.tui.dialogs.question import QuestionDialog
from rabtui.tui.dialogs.restore import RestoreDialog, RestoreRequest
from tests.tui.conftest import browse, browse_backups, find_by_name, ready, run, texts, wait_for
from tests.tui.test_browse_restore import _last_job, _wait_job


def _away(path: Path) -> Path:
    away = path.with_name(path.name + "-in-the-drawer")
    path.rename(away)
    return away


def _burn_everything(cfg, store) -> int:
    """A checkpoint of every directory of the demo, burnt and verified onto ISO files."""
    number = prepare.record(cfg, store, prepare.compute(cfg, store, asked={"*"}), drive=cfg.checkpoint.drive)
    res = cprun.burn_checkpoint(cfg, store, number, emit=lambda e: None, cancel=threading.Event(),
                                prompter=ScriptedPrompter(lambda q: READY))
    assert res.status == "completed", res.message
    return number


def test_request_from_a_checkpoint_gives_checkpoint_not_backup():
    req = RestoreRequest("web1", b"etc/x", None, "/tmp/r", checkpoint=4)
    assert req.args() == ["restore", "web1", "/etc/x", "--checkpoint", "4", "--to", "/tmp/r"]
    assert "from checkpoint 4 to /tmp/r" in req.title()


def test_found_version_only_on_a_verified_checkpoint_is_restored_from_its_discs(demo_config, tmp_path):
    cfg = configmod.load(demo_config, check_media=False)
    store = Store(cfg.state_dir)
    number = _burn_everything(cfg, store)
    photo = sorted((demo_config.parent / "source" / "photos").rglob("IMG_00007*"))[0]
    rel = str(photo).lstrip("/").encode()
    disc = store.one("SELECT d.volid, d.image FROM disc_files f JOIN discs d ON d.number=f.number AND d.disc=f.disc"
                     " WHERE f.number=? AND f.path=?", (number, rel))
    iso = Path(disc["image"] or demo_config.parent / "iso" / f"{disc['volid']}.iso")
    assert iso.is_file()
    for m in cfg.media:   # every medium in the drawer: the discs are the only copy at hand
        _away(Path(m.path))
    iso_away = _away(iso)   # and the disc is not in the drive either: the job asks for it

    async def go():
        app = make_app(demo_config, poll_interval=0.2)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await find_by_name(app, pilot, await browse(app, pilot), photo.name)
            assert [bytes(r["path"]) for r in screen.keys] == [rel]
            assert f"checkpoint {number}" in texts(app, "#browse")

            await pilot.press("r")
            await wait_for(pilot, lambda: ready(app, RestoreDialog), what="restore dialog")
            assert app.screen.checkpoint == number
            what = texts(app, "#restore-what Static")
            assert f"checkpoint {number} on {disc['volid']}" in what and "backup" not in what
            before = _last_job(store)
            app.screen.query_one("#restore-to").value = str(tmp_path / "found")
            await pilot.press("ctrl+s")

            # the job asks for the disc through the database; the UI shows the question
            await wait_for(pilot, lambda: ready(app, QuestionDialog), timeout=60, what="the disc asked for")
            prompt = app.screen.prompt
            assert prompt["kind"] == "insert_disc" and disc["volid"] in prompt["text"]
            iso_away.rename(iso)   # the disc is put in the drive
            await pilot.press("1")
            assert prompt["choices"][0] == READY
            job = await _wait_job(pilot, store, before)
            assert job["status"] == "completed", job
            assert f"checkpoint {number}" in job["title"] and "--checkpoint" in job["argv"]

    run(go())
    assert (tmp_path / "found" / rel.decode()).read_bytes() == photo.read_bytes()


def test_a_backup_whose_medium_is_not_mounted_says_so(demo_config):
    cfg = configmod.load(demo_config, check_media=False)
    docs = str(demo_config.parent / "source" / "documents").lstrip("/").encode()

    async def go():
        app = make_app(demo_config, poll_interval=0)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await browse_backups(app, pilot)
            newest = screen.keys[0]
            medium = cfg.medium(newest["medium"])
            _away(Path(medium.path))
            screen.open_backup(newest, docs)
            await wait_for(pilot, lambda: app._notifications and not screen.loading, what="the listing refused")
            said = " ".join(n.message for n in app._notifications)
            assert f"medium {medium.id} is not there (not mounted?) at {medium.path}" in said
            assert "newest copy at hand" in said
            assert "is not in this backup" not in said
            await wait_for(pilot, lambda: screen.level == "backups", what="back at the backups")

    run(go())
