"""Sources: test a source over the real test sshd; an unknown host key opens a dialog with its SHA256
fingerprint; trusting it writes rabtui's known_hosts and the test then succeeds."""

from __future__ import annotations

import pytest

from rabtui.tui.app import make_app
from rabtui.tui.dialogs.common import ConfirmDialog
from rabtui.tui.screens.sources import SourcesScreen
from tests.trees import ssh_source_lines
from tests.tui.conftest import ready, run, texts, wait_for


@pytest.fixture
def web1(tmp_path, write_config, sshd):
    """The config of one source, `web1`, on the test sshd, whose host key is not known yet."""
    return write_config(f'[rabtui]\nstate_dir = "{tmp_path}/state"\n' + ssh_source_lines(sshd, "web1")
                        + '[[sources.directories]]\npath = "/etc"\n')


async def _asked_to_trust(app, pilot) -> None:
    """`t` on web1 in Sources, up to the dialog that asks whether to trust its host key."""
    await pilot.press("2")
    await wait_for(pilot, lambda: ready(app, SourcesScreen) and "web1" in texts(app, "#sources-list"))
    await pilot.press("t")
    await wait_for(pilot, lambda: ready(app, ConfirmDialog), what="host key dialog")


def test_unknown_host_key_dialog_and_trust(tmp_path, web1, sshd):
    async def go():
        app = make_app(web1, poll_interval=0)
        async with app.run_test(size=(80, 24)) as pilot:
            await _asked_to_trust(app, pilot)
            shown = str(app.screen.query_one("#confirm-text").render())
            assert sshd.fingerprint() in shown and "not known" in shown
            await pilot.press("y")
            await wait_for(pilot, lambda: any("logged in as" in n.message for n in app._notifications),
                           what="whoami after trusting")
            assert any(sshd.user in n.message for n in app._notifications)

    run(go())
    assert f"[{sshd.host}]:{sshd.port}" in (tmp_path / "state" / "known_hosts").read_text()


def test_refusing_the_key_writes_nothing(tmp_path, web1):
    async def go():
        app = make_app(web1, poll_interval=0)
        async with app.run_test(size=(80, 24)) as pilot:
            await _asked_to_trust(app, pilot)
            answers = []      # the dialog's answer, once the screen's callback has run with it
            result = app.screen._result_callbacks[-1]
            callback = result.callback
            result.callback = lambda ok: (callback(ok), answers.append(ok))
            await pilot.press("n")
            await wait_for(pilot, lambda: answers, what="the answer handled")
            assert answers == [False]
            assert isinstance(app.screen, SourcesScreen)
            testing = [w for w in app.workers if w.group == "test"]   # a trust would have started here
            if testing:
                await app.workers.wait_for_complete(testing)

    run(go())
    assert not (tmp_path / "state" / "known_hosts").exists()


def test_t_while_the_host_key_trusted_is_checked_says_so_and_starts_no_test_beside_it(web1, monkeypatch):
    """The key trusted in the dialog is looked at again (scan) and written: `t` meanwhile started a
    second login beside that check, where `t` on a source under test says so."""
    from rabtui.actions import sources as source_actions
    from tests.tui.test_config_file_hangs import Hang

    scan, whoami = Hang(source_actions.scan_host_key, most=20), Hang(source_actions.whoami)
    monkeypatch.setattr(source_actions, "scan_host_key", scan)
    monkeypatch.setattr(source_actions, "whoami", whoami)

    async def go():
        app = make_app(web1, poll_interval=0)
        async with app.run_test(size=(80, 24)) as pilot:
            await _asked_to_trust(app, pilot)
            scan.armed.set()
            whoami.armed.set()      # counts the logins from here on
            await pilot.press("y")
            await wait_for(pilot, scan.held.is_set, what="the key looked at again")
            await wait_for(pilot, lambda: ready(app, SourcesScreen), what="back on Sources")
            await pilot.press("t")
            await wait_for(pilot, lambda: any("still checking the host key of web1" in n.message
                                              for n in app._notifications), timeout=5, what="t refused")
            assert whoami.calls == 0
            whoami.release.set()
            scan.release.set()
            await wait_for(pilot, lambda: any("logged in as" in n.message for n in app._notifications),
                           what="the test after trusting")
            assert whoami.calls == 1

    try:
        run(go())
    finally:
        scan.release.set()
        whoami.release.set()
