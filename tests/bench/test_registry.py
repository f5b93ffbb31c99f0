"""Specs and the registry: validation, look-ups with close matches, duplicates."""

from __future__ import annotations

import pickle

import pytest

from bench.api import MethodSpec, TaskSpec
from bench.errors import UsageError
from bench.methods import METHODS
from bench.registry import Registry


def spec(**kw) -> TaskSpec:
    base = dict(id="fam/Task-v1", entry_point="m:X", summary="s", source="a", target="b", metric="acc",
                budgets=(1, 5), default_budget=5, methods=("scratch", "fine-tune"))
    return TaskSpec(**(base | kw))


def test_spec_fields_and_pickle():
    s = spec(options={"lr": 0.1})
    assert (s.family, s.version) == ("fam", 1)
    assert pickle.loads(pickle.dumps(s)) == s


@pytest.mark.parametrize(("kw", "match"), [
    ({"id": "Task-v1"}, "must look like"), ({"id": "fam/Task"}, "must look like"),
    ({"methods": ("fine-tune",)}, "scratch"), ({"default_budget": 3}, "not in budgets"),
    ({"entry_point": "nocolon"}, "module:attribute"), ({"suites": ()}, "no suite"),
])
def test_invalid_specs(kw, match):
    with pytest.raises(ValueError, match=match):
        spec(**kw)


def test_method_spec_validation():
    with pytest.raises(ValueError, match="role"):
        MethodSpec("x", "winner", "s")  # type: ignore[arg-type]


def test_lookups_and_close_matches():
    reg = Registry.from_specs([spec()], METHODS)
    assert reg.task("fam/Task-v1").metric == "acc"
    with pytest.raises(UsageError, match="did you mean 'fam/Task-v1'"):
        reg.task("fam/Tsak-v1")
    assert reg.suites() == {"quick": ["fam/Task-v1"]}


def test_duplicates_name_both_sources():
    reg = Registry()
    reg._tasks.add("fam/Task-v1", spec(), "pkg-a")
    reg._tasks.add("fam/Task-v1", spec(), "pkg-b")
    with pytest.raises(UsageError, match="registered twice, by pkg-a and by pkg-b"):
        reg.task("fam/Task-v1")


def test_unregistered_methods_are_reported():
    reg = Registry.from_specs([spec(methods=("scratch", "magic"))], METHODS)
    assert any("magic" in p for p in reg.problems) and reg.task_methods(reg.task("fam/Task-v1")) == ["scratch"]


def test_installed_first_party_family_is_discovered():
    reg = Registry.discover()
    assert "vision/SynthDigits-v0" in reg.tasks and reg.method("scratch").role == "scratch"
    assert not [p for p in reg.problems if "transferbench" in p]
