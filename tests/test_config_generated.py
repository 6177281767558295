"""Generated configuration files (the model's keys with values of any TOML type, unknown keys and
tables, and TOML broken by a cut or an inserted character) read by `check-config`, `sources list
--json` and `status --json`: each exits 0 or 2, says why in a `rabtui:` line when it is 2, and never
ends in a traceback. Commands run in process, as the operator's would run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import tomli_w
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from rabtui.cli import main
from rabtui.config import keys as K
from rabtui.config.model import Config

TABLES = {f.name: f.spec for f in K.subtables(Config)}
# a device is mounted by commands that use the medium; `status` only looks, but none is named here
NOT_GENERATED = {"device", "apprise_urls"}

texts = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
scalars = st.one_of(
    texts, st.sampled_from(["", "..", "a/b", "/", "~", "cd-700", "images:iso", "0 2 * * *", "standard", "archive"]),
    st.integers(), st.sampled_from([0, -1, 2**63, 2**64, 10**30]),
    st.floats(), st.booleans(), st.dates(), st.datetimes(), st.times(),
)
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                        st.dictionaries(texts, inner, max_size=2)), max_leaves=6)


def _keys(cls: type) -> list[str]:
    return [f.name for f in K.keys(cls) if f.name not in NOT_GENERATED]


def _table(cls: type) -> st.SearchStrategy[dict]:
    return st.dictionaries(st.one_of(st.sampled_from(_keys(cls)), texts), values, max_size=4)


def _base() -> dict:
    """A configuration every command accepts: what the changes below start from."""
    return {"rabtui": {"state_dir": "state", "max_parallel": 2},
            "checkpoint": {"disc": "cd-700", "drive": "images:iso"},
            "retention": {"keep_all_days": 1}, "notify": {},
            "media": [{"id": "m", "path": "media"}],
            "sources": [{"id": "s", "directories": [{"path": "/srv", "kind": "archive"}]},
                        {"id": "t", "host": "h", "directories": [{"path": "/etc"}]}]}


# the tables a change is made in: (how to find it in the document, its model class)
PLACES = [(("rabtui",), TABLES["rabtui"].cls), (("checkpoint",), TABLES["checkpoint"].cls),
          (("retention",), TABLES["retention"].cls), (("notify",), TABLES["notify"].cls),
          (("media", 0), TABLES["media"].cls), (("sources", 0), TABLES["sources"].cls),
          (("sources", 1), TABLES["sources"].cls),
          (("sources", 1, "directories", 0), K.subtables(TABLES["sources"].cls)[0].spec.cls)]


@st.composite
def _change(draw):
    """One key of one table given a value of any type, or taken out; or a whole table replaced."""
    where, cls = draw(st.sampled_from(PLACES))
    if draw(st.integers(0, 9)) == 0:
        return where, None, draw(_table(cls))
    return where, draw(st.one_of(st.sampled_from(_keys(cls)), texts)), draw(st.one_of(st.none(), values))


def _changed(doc: dict, changes: list) -> dict:
    for where, name, value in changes:
        parent, table = None, doc
        for part in where:      # a change before may have replaced the way to it
            parent, table = table, table[part] if isinstance(table, (dict, list)) and part in _indices(table) else None
        if not isinstance(table, dict):
            continue
        if name is None:
            parent[where[-1]] = value
        elif value is None:
            table.pop(name, None)
        else:
            table[name] = value
    return doc


def _indices(table: dict | list):
    return table if isinstance(table, dict) else range(len(table))


documents = st.one_of(
    st.lists(_change(), min_size=1, max_size=3).map(lambda changes: _changed(_base(), changes)),
    st.fixed_dictionaries(
        {"rabtui": _table(TABLES["rabtui"].cls)},
        optional={"checkpoint": _table(TABLES["checkpoint"].cls), "media": st.lists(_table(TABLES["media"].cls), max_size=2),
                  "sources": st.lists(_table(TABLES["sources"].cls), max_size=2), "extra": values}),
)


def _text(doc: dict, cut: int | None, inserted: str) -> str:
    if isinstance(doc.get("rabtui"), dict):
        doc["rabtui"]["state_dir"] = "state"      # `status` makes its database there: never elsewhere
    text = tomli_w.dumps(doc)
    if cut is not None:
        at = cut % (len(text) + 1)
        text = text[:at] + inserted + text[at + 1:]
    return text


COMMANDS = [["check-config"], ["sources", "list", "--json"], ["status", "--json"]]


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("generated")
    for name in ("media", "iso"):
        (folder / name).mkdir()
    return folder


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(doc=documents, cut=st.one_of(st.none(), st.none(), st.none(), st.integers(0, 10_000)),
       inserted=st.sampled_from(["", "[", "]", '"', "=", "\n", "\x00", "\ufeff", "#", "\\", "'''"]),
       command=st.sampled_from(COMMANDS))
def test_a_generated_config_exits_0_or_2_with_a_message_never_a_traceback(folder, capsys, doc, cut, inserted, command):
    path = folder / "rabtui.toml"
    path.write_text(_text(doc, cut, inserted), encoding="utf-8")
    os.chmod(path, 0o600)
    code = main(["--config", str(path), *command])
    err = capsys.readouterr().err
    event(f"exit {code}")
    assert code in (0, 2), (code, err)
    assert "Traceback" not in err
    if code == 2:
        assert err.startswith("rabtui: ") or "\nrabtui: " in err, err


def test_the_generated_documents_reach_the_model(folder, capsys):
    """A document of known keys of the right types is accepted: the generator is not all noise."""
    path = folder / "known.toml"
    path.write_text(_text(_base(), None, ""))
    path.chmod(0o600)
    assert main(["--config", str(path), "check-config"]) == 0, capsys.readouterr().err
