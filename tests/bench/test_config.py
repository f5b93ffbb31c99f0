"""One validated config: defaults < file < flags < --set."""

from __future__ import annotations

import pytest

from bench.config import build_config, parse_seeds, parse_set, parse_sweep
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


def test_sweeps_from_flags_set_and_file_merge(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('[sweep]\nsteps = [10, 20]\nlr = [0.1, 0.2]\n')
    cfg = build_config(f, {"sweep": parse_sweep(["lr=0.5,1"])}, ["sweep.mode=a,b"])
    assert cfg.sweep == {"steps": [10, 20], "lr": [0.5, 1], "mode": ["a", "b"]}
    assert parse_set(["sweep.transfer_units=0,3,9"]) == {"sweep": {"transfer_units": [0, 3, 9]}}


@pytest.mark.parametrize(("sweep", "match"), [
    (["steps=1,"], "is not NAME=V1,V2"),
    (["=1,2"], "is not NAME=V1,V2"),
    (["steps=1,2", "steps=3"], "'steps' is swept twice"),
])
def test_bad_sweep_flags(sweep, match):
    with pytest.raises(UsageError, match=match):
        parse_sweep(sweep)


@pytest.mark.parametrize(("sets", "match"), [
    (["sweep=1,2"], "name the option and its values"),
    (["sweep.steps="], "name the option and its values"),
    (["sweep.steps=1,1"], "config sweep=.*'steps' repeats a value"),
])
def test_bad_sweep_settings(sets, match):
    with pytest.raises(UsageError, match=match):
        build_config(sets=sets)


def test_a_sweep_in_a_file_must_be_lists(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('[sweep]\nsteps = 3\n')
    with pytest.raises(UsageError, match="config sweep.steps=3"):
        build_config(f)
