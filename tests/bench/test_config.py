"""One validated config: defaults < file < flags < --set."""

from __future__ import annotations

import pytest

from bench.config import build_config, parse_seeds, parse_set
from bench.errors import UsageError


def test_precedence_defaults_file_flags_set(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('seeds = 5\nworkers = 2\n[options]\nlr = 0.5\nsteps = 7\n')
    cfg = build_config(f, {"workers": 3, "seeds": None}, ["options.lr=0.1"])
    assert cfg.seeds == [0, 1, 2, 3, 4] and cfg.workers == 3 and cfg.options == {"lr": 0.1, "steps": 7}
    assert build_config().seeds == [0, 1, 2] and build_config().device == "auto"


def test_seeds():
    assert parse_seeds("3") == [0, 1, 2] and parse_seeds("4,9") == [4, 9]
    for bad in ("x", "0", "-1", "1,1", ""):
        with pytest.raises(UsageError):
            parse_seeds(bad)


def test_set_parsing_types():
    assert parse_set(["options.a=1", "options.b=0.5", "options.c=true", "options.d=hello", "tasks=a/B-v0,c/D-v1"]) == {
        "options": {"a": 1, "b": 0.5, "c": True, "d": "hello"}, "tasks": ["a/B-v0", "c/D-v1"]}


@pytest.mark.parametrize(("item", "match"), [("workers", "not key=value"), ("=3", "not key=value"),
                                             ("wrkers=2", "did you mean 'workers'"), ("options=3", "name the option"),
                                             ("workers.x=1", "has no sub-keys")])
def test_bad_set(item, match):
    with pytest.raises(UsageError, match=match):
        parse_set([item])


def test_bad_values_name_the_key():
    with pytest.raises(UsageError, match="config device='gpu'"):
        build_config(sets=["device=gpu"])
    with pytest.raises(UsageError, match="unknown config key 'colour'"):
        build_config(flags={"colour": 1})
