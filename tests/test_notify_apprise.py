"""Apprise notifications, end to end: real apprise posting (json://, form://) to a real HTTP server on
127.0.0.1, driven through rabtui's own commands (run-due with a failing backup, check with a health
change) under a frozen clock. The notification type follows the event's level, the body carries the
message and the whole JSON event, a URL that cannot be reached is one warning line (never a traceback,
never a different exit code), and a paused source sends nothing through apprise either."""

from __future__ import annotations

import json
import shlex
import socket
import sys
import threading
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest

from rabtui import fmt
from rabtui.ops import notify
from rabtui.cli import main
from tests.trees import Lab, write_files

# apprise 2.x imports imghdr, which Python 3.11 marks deprecated: not rabtui's to fix
pytestmark = pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning")

HOST = socket.gethostname()
T0 = datetime(2026, 8, 10, 3, 0)


class Hook:
    """A local HTTP server that records every request; paths under /broken answer 500."""

    def __init__(self):
        self.requests: list[dict] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                ctype = self.headers.get("Content-Type", "")
                body = json.loads(raw) if "json" in ctype else {k: v[0] for k, v in parse_qs(raw.decode()).items()}
                hook.requests.append({"path": self.path, "content_type": ctype, "body": body})
                self.send_response(500 if self.path.startswith("/broken") else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, scheme: str = "json", path: str = "/hook") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def received(self, path: str = "/hook") -> list[dict]:
        return [r["body"] for r in self.requests if r["path"] == path]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook():
    server = Hook()
    yield server
    server.stop()


@pytest.fixture
def dead_port():
    """A port bound on 127.0.0.1 that nothing listens on: a connection to it is refused."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    yield sock.getsockname()[1]
    sock.close()


def _with_apprise(lab: Lab, urls: list[str]) -> None:
    text = lab.config_path.read_text()
    notify_table = "[notify]\napprise_urls = [" + ", ".join(json.dumps(u) for u in urls) + "]\n\n"
    lab.config_path.write_text(text.replace("[[media]]", notify_table + "[[media]]", 1))


def _failing_lab(tmp_path, urls: list[str], extra: str = "") -> Lab:
    """One scheduled source whose pre-backup command fails: run-due's backup fails."""
    lab = Lab(tmp_path, media_count=1)
    lab.local([("data", "standard")], extra='schedule = "*/5 * * * *"\npre_backup_commands = ["exit 7"]\n' + extra)
    _with_apprise(lab, urls)
    return lab


def _split_body(message: str) -> tuple[str, dict]:
    """The body is the event's message, a blank line, then the event as JSON."""
    text, _, event = message.partition("\n\n")
    return text, json.loads(event)


def _run_due(lab: Lab, now: str) -> int:
    return main(["--config", str(lab.config_path), "run-due", "--now", now])


def _apprise_warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("rabtui: warning:") and "apprise" in line]


def test_failed_backup_from_run_due_reaches_apprise(tmp_path, hook, capsys):
    lab = _failing_lab(tmp_path, [hook.url("json"), hook.url("form", "/form")])
    assert _run_due(lab, "2026-10-01T10:07") == 1
    out, err = capsys.readouterr()
    assert "loc: failed" in out and not _apprise_warnings(err) and "Traceback" not in err

    failed = [b for b in hook.received() if b["title"].startswith("rabtui backup failed")]
    assert len(failed) == 1
    got = failed[0]
    assert got["type"] == "failure"
    assert got["title"] == f"rabtui backup failed: loc on {HOST}"
    text, event = _split_body(got["message"])
    assert text.startswith("backup of loc failed") and "exit 7" in text
    assert (event["kind"], event["level"], event["source"], event["host"]) == ("backup_failed", "failed", "loc", HOST)
    assert event["message"] == text and event["time"] == "2026-10-01T10:07:00"
    assert event["data"]["exit_code"] == 1 and event["data"]["medium"] == "m1"

    # form:// carries the same notification as form fields
    form = [b for b in hook.received("/form") if b["title"] == got["title"]]
    assert len(form) == 1 and form[0]["type"] == "failure" and form[0]["message"] == got["message"]



def test_a_mail_shows_the_names_in_its_text_escaped_and_its_event_exact(tmp_path, hook, capsys):
    """A message naming a file "in\\u202efdp.exe" (here: what the failing command printed) reaches a
    mail or a chat with the override escaped, as the terminal shows it (else it reads "inexe.pdf");
    the JSON event below it keeps the message exact."""
    said = "in\u202efdp.exe\u2028next\x1b[31m"
    lab = _failing_lab(tmp_path, [hook.url()])
    lab.config_path.write_text(lab.config_path.read_text().replace(
        'pre_backup_commands = ["exit 7"]', f"pre_backup_commands = [{json.dumps('printf %s ' + shlex.quote(said) + '; exit 7')}]"))
    assert _run_due(lab, "2026-10-01T10:07") == 1
    capsys.readouterr()
    [got] = [b for b in hook.received() if b["title"].startswith("rabtui backup failed")]
    text, event = _split_body(got["message"])
    assert said in event["message"]
    assert "in\\342\\200\\256fdp.exe" in text and "\\033[31m" in text and text == fmt.lines(event["message"])
    assert text.replace("\n", "").isprintable()


def test_health_changes_from_check_map_to_apprise_types(tmp_path, hook, capsys):
    lab = Lab(tmp_path, media_count=1)
    lab.local([("data", "standard")])
    _with_apprise(lab, [hook.url()])
    cfg = lab.load()
    args = ["--config", str(lab.config_path), "check", "--now"]

    # never backed up: a warning, sent as an apprise warning
    assert main(args + [T0.isoformat()]) == 1
    assert "WARNING: source loc" in capsys.readouterr().out
    [warn] = hook.received()
    assert (warn["type"], warn["title"]) == ("warning", f"rabtui health warning: loc on {HOST}")
    text, event = _split_body(warn["message"])
    assert (event["kind"], event["level"], event["data"]["check"], event["data"]["previous"]) == \
        ("health", "warning", "stale:loc", "ok")
    assert "loc" in text and event["message"] == text

    # a backup, then three days without one: critical, sent as a failure
    write_files(lab.src / "data", {"a": b"a"})
    res = lab.backup(cfg, now=T0)
    store = lab.store()
    store.execute("UPDATE backups SET started=? WHERE id=?", (T0.timestamp(), res.backup_id))
    store.execute("UPDATE media SET last_used=?", (T0.timestamp(),))
    store.execute("UPDATE dir_state SET last_checkpoint=1, last_checkpoint_time=?", (T0.timestamp(),))
    assert main(args + [(T0 + timedelta(days=3)).isoformat()]) == 2
    assert "CRITICAL: source loc: newest backup is 3.0 days old" in capsys.readouterr().out
    crit = hook.received()[-1]
    assert (crit["type"], crit["title"]) == ("failure", f"rabtui health critical: loc on {HOST}")
    assert _split_body(crit["message"])[0] == "source loc: newest backup is 3.0 days old"

    # back to normal: a success
    assert main(args + [(T0 + timedelta(hours=5)).isoformat()]) == 0
    ok = hook.received()[-1]
    assert (ok["type"], ok["title"]) == ("success", f"rabtui health ok: loc on {HOST}")
    assert _split_body(ok["message"])[1]["data"]["previous"] == "critical"
    assert len(hook.received()) == 3
    assert not _apprise_warnings(capsys.readouterr().err)


def test_unreachable_url_is_one_warning_line_and_the_others_still_get_it(tmp_path, hook, dead_port, capsys):
    dead = f"json://backup:hunter2@127.0.0.1:{dead_port}/hook"
    lab = _failing_lab(tmp_path, [dead, hook.url("json", "/broken"), "nosuch://token:hunter2@x", hook.url()])
    assert _run_due(lab, "2026-10-01T10:07") == 1          # failed backup: 1, as when all is delivered
    out, err = capsys.readouterr()
    assert "loc: failed" in out and "Traceback" not in err
    delivered = hook.received()
    # the URL after the broken ones still got every event: the failed backup and the health changes
    assert [b["title"] for b in delivered][:1] == [f"rabtui backup failed: loc on {HOST}"]
    assert len(delivered) == len(hook.received("/broken")) >= 2
    # one warning line per event and broken URL, each naming the URL without its secret, and the reason
    warnings = _apprise_warnings(err)
    assert len(warnings) == 3 * len(delivered)
    assert set(warnings) == {
        f"rabtui: warning: apprise could not deliver to json://127.0.0.1:{hook.port}/broken:"
        " Failed to send JSON POST notification: Internal server error., error=500.",
        f"rabtui: warning: apprise could not deliver to json://backup:****@127.0.0.1:{dead_port}/hook:"
        " A Connection error occurred sending JSON notification to 127.0.0.1.",
        "rabtui: warning: apprise URL #3 (nosuch://...) is not one apprise understands",
    }
    assert "hunter2" not in err and "hunter2" not in out


def test_failed_notification_never_changes_the_exit_code(tmp_path, dead_port, capsys):
    """Every notification goes to a URL nothing listens on: check still exits with its health's code,
    and run-due with a backup that completes still exits 0."""
    lab = Lab(tmp_path, media_count=1)
    lab.local([("data", "standard")], extra='schedule = "0 2 * * *"')
    write_files(lab.src / "data", {"a": b"a"})
    _with_apprise(lab, [f"json://127.0.0.1:{dead_port}/hook"])
    line = (f"rabtui: warning: apprise could not deliver to json://127.0.0.1:{dead_port}/hook:"
            " A Connection error occurred sending JSON notification to 127.0.0.1.")

    # never backed up: a warning (exit 1), whose notification fails
    assert main(["--config", str(lab.config_path), "check", "--now", "2026-10-01T01:00"]) == 1
    out, err = capsys.readouterr()
    assert "WARNING: source loc: never backed up" in out and "Traceback" not in err
    assert _apprise_warnings(err) == [line]

    # the scheduled backup completes; the health changes it brings (loc back to normal, its first
    # checkpoint due) cannot be sent either, and run-due exits 0 all the same
    assert _run_due(lab, "2026-10-01T03:00") == 0
    out, err = capsys.readouterr()
    assert "loc: completed" in out and "Traceback" not in err
    assert _apprise_warnings(err) == [line, line]
    levels = {r["check_id"].split(":")[0]: r["level"] for r in lab.store().all("SELECT * FROM health")}
    assert levels == {"stale": "ok", "checkpoint": "warning"}


def test_paused_source_sends_nothing_through_apprise(tmp_path, hook, capsys):
    lab = _failing_lab(tmp_path, [hook.url()], extra="pause_notifications_until = 2026-12-01")
    assert _run_due(lab, "2026-10-01T10:07") == 1
    assert "loc: failed" in capsys.readouterr().out
    assert [b for b in hook.received() if _split_body(b["message"])[1]["source"] == "loc"] == []
    # the day the pause ends, the same failure is delivered
    assert _run_due(lab, "2026-12-01T10:07") == 1
    sent = [b for b in hook.received() if _split_body(b["message"])[1]["source"] == "loc"]
    assert [b["title"] for b in sent if b["type"] == "failure"] == [f"rabtui backup failed: loc on {HOST}"]


def test_apprise_urls_without_apprise_installed_is_reported(tmp_path, monkeypatch):
    lab = Lab(tmp_path, media_count=1)
    lab.local()
    _with_apprise(lab, ["json://127.0.0.1:9/hook"])
    monkeypatch.setitem(sys.modules, "apprise", None)       # as if the extra were not installed
    problems = notify.send(lab.load(), notify.make_event("health", "warning", "x", source="loc"))
    assert problems == ["notify.apprise_urls is set but apprise is not installed (pip install 'rabtui[apprise]')"]


def test_check_config_names_an_apprise_url_apprise_does_not_understand(tmp_path, hook, capsys, monkeypatch):
    lab = Lab(tmp_path, media_count=1)
    lab.local()
    _with_apprise(lab, [hook.url("json"), "nosuch://token@example"])
    line = next(n for n, text in enumerate(lab.config_path.read_text().splitlines(), 1) if "apprise_urls" in text)
    assert main(["--config", str(lab.config_path), "check-config"]) == 2
    err = capsys.readouterr().err
    assert f"{lab.config_path}:{line}: notify.apprise_urls: apprise URL #2 (nosuch://...)" in err
    assert "token" not in err and not hook.requests          # checked, never sent

    lab.config_path.write_text(lab.config_path.read_text().replace(', "nosuch://token@example"', ""))
    assert main(["--config", str(lab.config_path), "check-config"]) == 0, capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "apprise", None)
    assert main(["--config", str(lab.config_path), "check-config"]) == 2
    assert "apprise is not installed" in capsys.readouterr().err


def test_apprise_urls_of_a_config_others_can_change_are_not_sent_to(tmp_path, hook, capsys):
    """Whoever can change the config could name their own URL and read every failure, host and
    path in it (or make rabtui post to a server inside the network): like notify.command, the
    URLs of such a file are not sent to, and the refusal is said."""
    lab = _failing_lab(tmp_path, [hook.url()])
    cfg = lab.load()
    event = {"kind": "backup_failed", "level": "failed", "message": "m", "source": "loc"}
    lab.config_path.chmod(0o666)
    problems = notify.deliver(cfg, event)
    assert hook.received() == []
    assert any("refusing to send to notify.apprise_urls" in p and "chmod go-w" in p for p in problems)
    assert _run_due(lab, "2026-10-01T10:07") == 1
    assert "its notify.apprise_urls will not be sent to" in capsys.readouterr().err and hook.received() == []
    lab.config_path.chmod(0o600)
    assert notify.deliver(cfg, event) == [] and len(hook.received()) == 1
