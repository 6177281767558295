"""The config described once (rabtui/config/model.py): the parser, the starter file of `rabtui init`,
the JSON Schema of `rabtui config schema` and the README's table of keys all follow the model, so a
key of the model is in each of them, and what the schema refuses the parser refuses too."""

from __future__ import annotations

import datetime as dt
import json
import re
import tomllib
from pathlib import Path

import jsonschema
import pytest

from rabtui import config as configmod
from rabtui import demo
from rabtui.cli import main
from rabtui.config import keys as K
from rabtui.config import schema as config_schema
from rabtui.config.model import Config
from rabtui.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent


def every_key(cls: type = Config, prefix: tuple = ()) -> list[tuple[tuple, K.Field]]:
    """(table path, field) of every key of the model, nested arrays of tables included."""
    out = [(prefix, f) for f in K.keys(cls)]
    for sub in K.subtables(cls):
        out += every_key(sub.spec.cls, prefix + ((sub.name, sub.spec.array),))
    return out


def as_json(value):
    """A config as tomllib reads it, with dates as the ISO strings the schema describes."""
    if isinstance(value, dict):
        return {k: as_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_json(v) for v in value]
    return value.isoformat() if isinstance(value, dt.date) else value


@pytest.fixture(scope="module")
def validator():
    schema = config_schema.json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_config_schema_prints_a_draft_2020_12_schema_of_every_key(capsys):
    assert main(["config", "schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    for tables, f in every_key():
        node = schema
        for name, array in tables:
            node = node["properties"][name]
            node = node["items"] if array else node
        assert node["additionalProperties"] is False
        assert node["properties"][f.name]["description"] == f.spec.help
    assert schema["properties"]["sources"]["items"]["required"] == ["id"]
    assert schema["properties"]["checkpoint"]["properties"]["max_discs"] | {"description": ""} == {
        "description": "", "type": "integer", "minimum": 1, "maximum": 64, "default": 64}


def test_the_starter_file_holds_every_key_and_loads(tmp_path, validator, isolated_home):
    path = tmp_path / "rabtui.toml"
    assert main(["--config", str(path), "init"]) == 0
    text = path.read_text()
    cfg = configmod.load(path, check_media=False)
    assert [m.id for m in cfg.media] == ["disk-a", "disk-b"]
    assert [d.kind for d in cfg.source("web1").directories] == ["standard", "archive"]
    validator.validate(as_json(tomllib.loads(text)))
    for tables, f in every_key():
        assert re.search(rf"^(# )?{f.name} = ", text, re.M), f"{f.name} is not in the starter file"
    # the commented keys are valid too: uncommented, the file still loads and keeps to the schema
    opened = re.sub(r"^# (\w+ = )", r"\1", text, flags=re.M).replace("# [notify]", "[notify]")
    path.write_text(opened)
    cfg = configmod.load(path, check_media=False)
    assert cfg.media[0].device == "/dev/sdb1" and cfg.notify.command == "/usr/local/bin/backup-alert"
    assert cfg.source("web1").pause_notifications_until == dt.date(2026, 12, 1)
    validator.validate(as_json(tomllib.loads(opened)))


def test_the_demo_config_and_the_readme_example_keep_to_the_schema(tmp_path, validator):
    data = tomllib.loads(demo.write_config(tmp_path).read_text())
    validator.validate(as_json(data))
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Configuration"):]
    example = re.search(r"```toml\n(.*?)```", section, re.S).group(1)
    validator.validate(as_json(tomllib.loads(example)))
    configmod.parse(tomllib.loads(example), path=tmp_path / "rabtui.toml", text=example, check_media=False)


def test_the_readme_example_passes_check_config(tmp_path, capsys, isolated_home):
    """The README's example config, copied by a newcomer with its state directory and medium made
    theirs, is one `rabtui check-config` accepts (every key there, every value valid)."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Configuration"):]
    example = re.search(r"```toml\n(.*?)```", section, re.S).group(1)
    (tmp_path / "a").mkdir()
    for said, theirs in (('"/var/lib/rabtui"', '"state"'), ('"/srv/rabtui/media/a"', '"a"')):
        assert example.count(said) == 1, said
        example = example.replace(said, theirs)
    path = tmp_path / "rabtui.toml"
    path.write_text(example)
    path.chmod(0o600)
    assert main(["--config", str(path), "check-config"]) == 0, capsys.readouterr().err
    assert "ok (1 source, 2 directories, 1 medium)" in capsys.readouterr().out


def test_the_readme_table_of_keys_is_the_one_the_model_makes():
    readme = (ROOT / "README.md").read_text()
    begin = "<!-- config keys: made by scripts/config_keys.py from rabtui/config/model.py -->\n"
    table = readme[readme.index(begin) + len(begin):readme.index("<!-- end of config keys -->")]
    assert table == config_schema.readme_table(), "run: .venv/bin/python scripts/config_keys.py"
    for tables, f in every_key():
        dotted = "".join(f"{name}{'[]' if array else ''}." for name, array in tables) + f.name
        assert f"| `{dotted}` |" in table


def wrong_values(f: K.Field) -> list:
    """Values of the wrong type for a key, and values outside its range or choices."""
    wrong = {"string": [1, True], "path": [1], "integer": ["1", True, 1.5], "boolean": [1, "yes"],
             "date": [1, True], "strings": ["a", [1]], "string or integer": [True, 1.5]}[f.spec.type]
    if f.spec.minimum is not None:
        wrong.append(f.spec.minimum - 1)
    if f.spec.maximum is not None:
        wrong.append(f.spec.maximum + 1)
    if f.spec.choices:
        wrong.append("none-of-these")
    return wrong


def minimal(tmp_path: Path) -> dict:
    (tmp_path / "m").mkdir(exist_ok=True)
    return {"rabtui": {"state_dir": str(tmp_path / "state")}, "checkpoint": {}, "retention": {}, "notify": {},
            "media": [{"id": "m", "path": str(tmp_path / "m")}],
            "sources": [{"id": "s", "host": "h", "directories": [{"path": "/srv"}]}]}


def test_what_the_schema_refuses_the_parser_refuses_with_the_line_and_key(tmp_path, validator):
    for tables, f in every_key():
        for value in wrong_values(f):
            data = minimal(tmp_path)
            table, keypath = data, ()
            for name, array in tables:
                table, keypath = (table[name][0], keypath + (name, 0)) if array else (table[name], keypath + (name,))
            table[f.name] = value
            assert not validator.is_valid(as_json(data)), (keypath, f.name, value)
            lines = [f"[[{name}]]" if tables[i][1] else f"[{name}]"
                     for i, name in enumerate(".".join(n for n, _ in tables[:i + 1]) for i in range(len(tables)))]
            lines.append(f"{f.name} = 0")
            text = "\n".join(lines) + "\n"
            with pytest.raises(ConfigError) as exc:
                configmod.parse(data, path=tmp_path / "rabtui.toml", text=text, check_media=False)
            message = str(exc.value)
            dotted = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in keypath + (f.name,))
            where = f"{tmp_path / 'rabtui.toml'}:{len(lines)}: {dotted.lstrip('.')}: "
            assert re.match(re.escape(where) + r"(item \d+ )?must ", message), message


def test_a_missing_required_key_is_refused_by_both(tmp_path, validator):
    for tables, f in every_key():
        if not f.spec.required:
            continue
        data = minimal(tmp_path)
        table = data
        for name, array in tables:
            table = table[name][0] if array else table[name]
        del table[f.name]
        assert not validator.is_valid(as_json(data))
        with pytest.raises(ConfigError, match=f"missing required key '{f.name}'"):
            configmod.parse(data, path=tmp_path / "rabtui.toml", check_media=False)


def test_an_empty_identity_file_is_no_key_file(tmp_path):
    text = '[[sources]]\nid = "s"\nhost = "h"\nidentity_file = ""\n'
    cfg = configmod.parse(tomllib.loads(text), path=tmp_path / "rabtui.toml", text=text)
    assert cfg.sources[0].identity_file is None
