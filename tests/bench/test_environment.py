"""`bench show REF --requirements`: a record's environment, back as an install that reproduces it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from bench.environment import lock, main, requirements
from bench.record import Provenance
from tests.bench.record_factory import make_record
from tests.conftest import ROOT, bench_cli


def _with_provenance(**kw):
    base = dict(harness_version="0.1.0", python="3.11.7", hardware={"platform": "Linux-x86_64"},
                packages={"numpy": "2.4.6", "torch": "2.13.0+cpu", "transferbench": "0.1.0", "pip": "26.0",
                          "scipy": "1.17.1"},
                git_revision="a" * 40, git_dirty=False)
    return make_record().model_copy(update={"provenance": Provenance(**{**base, **kw})})


def test_every_recorded_package_is_pinned_exactly_but_transferbench_and_pip():
    text = requirements(_with_provenance())
    pins = [Requirement(line) for line in text.splitlines() if line and not line.startswith("#")]
    assert {r.name: str(r.specifier) for r in pins} == {
        "numpy": "==2.4.6", "scipy": "==1.17.1", "torch": "==2.13.0+cpu"}
    assert "git checkout " + "a" * 40 + " && pip install --no-deps -e ." in text
    assert "Python 3.11.7" in text
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in text  # where the +cpu build lives


def test_a_dirty_run_and_a_run_without_git_say_what_no_pin_can():
    assert "uncommitted changes" in requirements(_with_provenance(git_dirty=True))
    text = requirements(_with_provenance(git_revision=None, git_dirty=None))
    assert "pip install --no-deps transferbench==0.1.0" in text and "git checkout" not in text


def test_the_lock_drops_build_labels_so_that_any_build_of_the_release_satisfies_it(tmp_path):
    text = lock({"torch": "2.13.0+cpu", "numpy": "2.4.6", "transferbench": "0.1.0", "pip": "26.0"})
    assert [line for line in text.splitlines() if not line.startswith("#")] == ["numpy==2.4.6", "torch==2.13.0"]
    out = tmp_path / "constraints.txt"
    assert main([str(out)]) == 0
    pinned = {Requirement(line).name for line in out.read_text().splitlines() if not line.startswith("#")}
    assert {"numpy", "torch", "pydantic"} <= pinned and "transferbench" not in pinned


def test_the_committed_lock_pins_every_dependency_transferbench_declares():
    """A dependency added to pyproject.toml without refreshing the lock would install unpinned."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = [*project["dependencies"], *project["optional-dependencies"]["test"]]
    locked = {Requirement(line).name.lower().replace("_", "-"): line
              for line in (ROOT / "constraints.txt").read_text().splitlines() if line and not line.startswith("#")}
    for dep in map(Requirement, declared):
        name = dep.name.lower().replace("_", "-")
        assert name in locked, f"{dep.name} is declared in pyproject.toml but not pinned in constraints.txt"
        assert dep.specifier.contains(locked[name].split("==", 1)[1]), f"{locked[name]} is outside {dep}"


def test_the_cli_prints_the_pins_of_this_environment(tmp_path, capsys):
    from bench import hardware
    from bench.cli import main

    record = _with_provenance(packages=hardware.packages())
    path = tmp_path / "record.json"
    path.write_text(record.to_json())
    assert main(["show", str(path), "--requirements"]) == 0
    out = capsys.readouterr().out
    pins = {Requirement(line).name for line in out.splitlines() if line and not line.startswith("#")}
    assert pins == set(hardware.packages()) - {"transferbench", "pip"}
    assert {"numpy", "pydantic", "torch"} <= pins


SYNTH_DIGITS_FAST = ("--task", "vision/SynthDigits-v0", "--method", "fine-tune", "--seeds", "1", "--budget", "1",
                     "--set", "options.source_images=300", "--set", "options.source_epochs=1",
                     "--set", "options.width=8", "--set", "options.target_steps=20", "--no-progress")


def _records(results: Path) -> dict[str, dict]:
    return {r["config_hash"]: r for r in (json.loads(p.read_text()) for p in results.rglob("seed-*.json"))}


@pytest.mark.slow
def test_the_pins_install_into_a_fresh_venv_and_reproduce_the_metrics(tmp_path):
    """A SynthDigits run, its pins installed into a new venv, the same run there: the same metrics."""
    bench_cli("run", *SYNTH_DIGITS_FAST, "--results-dir", "first", cwd=tmp_path, check=True, timeout=600)
    first = _records(tmp_path / "first")
    assert sorted(r["method"] for r in first.values()) == ["fine-tune", "scratch"]
    assert all(r["status"] == "ok" for r in first.values())
    fine_tune = next(r for r in first.values() if r["method"] == "fine-tune")
    pins = bench_cli("show", fine_tune["config_hash"][:12], "--requirements", "--results-dir", "first",
                     cwd=tmp_path, check=True).stdout
    (tmp_path / "requirements.txt").write_text(pins)

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    for args in (["-r", str(tmp_path / "requirements.txt")], ["--no-deps", "--no-build-isolation", "-e", str(ROOT)]):
        proc = subprocess.run([python, "-m", "pip", "install", "-q", *args], env=env, capture_output=True,
                              text=True, timeout=1800)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    again = subprocess.run([python, "-m", "bench", "run", *SYNTH_DIGITS_FAST, "--workers", "1", "--results-dir",
                            "second"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    second = _records(tmp_path / "second")
    assert {h: r["metrics"] for h, r in second.items()} == {h: r["metrics"] for h, r in first.items()}
    without_pip = [{k: v for k, v in r["provenance"]["packages"].items() if k != "pip"}
                   for r in (fine_tune, second[fine_tune["config_hash"]])]
    assert without_pip[0] == without_pip[1]
