"""Tests of vision/SynthDigits-v0: data, renderer, reduction, and every method end to end.

Runs use tiny options (a few hundred source images, a handful of steps) so the whole file takes
seconds; what is checked is the plumbing and the guarantees (determinism, caching, splits),
not the scores, which the measurement script in the task's notes covers.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench.api import RunContext, RunResult, TaskSpec
from bench.artifacts import ArtifactCache
from bench.errors import UsageError
from tasks.vision.specs import METHODS, TASKS

ROOT = Path(__file__).resolve().parents[3]
SPEC: TaskSpec = TASKS[0]
TEST_SPLIT_DIGEST = "759e1e5a00a7a71e"
"""First 16 hex digits of the SHA-256 of the test rows' indices in ``load_digits()``."""
TINY = dict(SPEC.smoke_options)
"""A few hundred source images and a handful of steps: every code path, in seconds."""


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }


def _ctx(method: str, cache: Path, seed: int = 0, budget: int = 2, **over: Any) -> RunContext:
    return RunContext(
        task=SPEC,
        method=method,
        seed=seed,
        budget=budget,
        device="cpu",
        options={**SPEC.options, **TINY, **over},
        artifacts=ArtifactCache(cache),
    )


def _run(method: str, cache: Path, **kw: Any) -> tuple[RunResult, RunContext]:
    from tasks.vision.digits import SynthDigitsTask

    ctx = _ctx(method, cache, **kw)
    return SynthDigitsTask(SPEC, {}).run(method, ctx), ctx


# --- specs ---------------------------------------------------------------------------------------
def test_specs_import_nothing_heavy() -> None:
    code = (
        "import sys, tasks.vision.specs\n"
        "heavy = ('torch', 'sklearn', 'PIL', 'scipy', 'matplotlib')\n"
        "assert not [m for m in heavy if m in sys.modules], sys.modules.keys() & set(heavy)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env=_env())


def test_spec_is_consistent() -> None:
    assert SPEC.id == "vision/SynthDigits-v0"
    assert SPEC.metric == "accuracy" and SPEC.higher_is_better
    assert set(SPEC.methods) == {"scratch", "zero-shot", "fine-tune", "linear-probe"}
    assert set(SPEC.seconds_per_run) == set(SPEC.methods)
    assert not SPEC.needs_network and "quick" in SPEC.suites
    assert "Alpaydin" in (SPEC.citation or "")
    assert {m.name for m in METHODS} >= {"partial-fine-tune", "gradual-unfreeze", "pixel-logreg"}  # lora is shared
    json.dumps(dict(SPEC.options))  # options must be plain JSON values


# --- data ----------------------------------------------------------------------------------------
def test_downsample_counts_on_pixels_per_4x4_block() -> None:
    from tasks.vision.digits import downsample_optdigits

    bitmap = np.zeros((32, 32), dtype=bool)
    bitmap[0:4, 0:4] = True  # a full block -> 16
    bitmap[4, 4:7] = True  # three pixels in block (1, 1) -> 3
    bitmap[31, 31] = True  # one pixel in the last block -> 1
    bitmap[3, 4] = True  # block (0, 1), not (0, 0) -> 1
    expected = np.zeros((8, 8), dtype=np.uint8)
    expected[0, 0], expected[1, 1], expected[7, 7], expected[0, 1] = 16, 3, 1, 1
    out = downsample_optdigits(bitmap[None])
    assert out.shape == (1, 8, 8) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[0], expected)
    with pytest.raises(ValueError):
        downsample_optdigits(np.zeros((1, 28, 28)))


def test_fonts_are_real_digit_fonts() -> None:
    from tasks.vision.digits import digit_fonts

    fonts = digit_fonts()
    assert "DejaVuSans.ttf" in fonts and len(fonts) >= 10
    # Symbol fonts map '0'..'9' to other glyphs and must be left out.
    assert not {"cmsy10.ttf", "cmex10.ttf", "LastResortHE-Regular.ttf"} & set(fonts)


def test_renderer_makes_optdigits_like_images_deterministically() -> None:
    from tasks.vision.digits import render_digits

    x, y = render_digits(60, 3)
    assert x.shape == (60, 8, 8) and x.dtype == np.uint8
    assert x.max() <= 16 and x.min() >= 0
    assert set(y.tolist()) == set(range(10))
    assert (x.reshape(60, -1).sum(1) > 0).all(), "every image has ink"
    x2, y2 = render_digits(60, 3)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    x3, _ = render_digits(60, 4)
    assert not np.array_equal(x, x3)


def test_target_split_is_fixed_and_disjoint_from_budget_samples() -> None:
    from tasks.vision.digits import POOL_PER_CLASS, sample_budget, target_split

    split = target_split()
    assert len(split.pool_y) == 10 * POOL_PER_CLASS and len(split.test_y) == 1797 - 800
    assert not set(split.pool_index) & set(split.test_index)
    assert np.bincount(split.pool_y).tolist() == [POOL_PER_CLASS] * 10
    # The split never changes: a different split would be a different task version.
    digest = hashlib.sha256(split.test_index.astype(np.int64).tobytes()).hexdigest()[:16]
    target_split.cache_clear()
    again = target_split()
    np.testing.assert_array_equal(split.test_index, again.test_index)
    assert digest == TEST_SPLIT_DIGEST
    for seed in range(3):
        chosen = sample_budget(split.pool_y, 5, seed)
        assert np.bincount(split.pool_y[chosen]).tolist() == [5] * 10
        assert not set(split.pool_index[chosen]) & set(split.test_index)
    # Seeds give different samples; larger budgets contain the smaller ones.
    assert not np.array_equal(sample_budget(split.pool_y, 5, 0), sample_budget(split.pool_y, 5, 1))
    assert set(sample_budget(split.pool_y, 2, 0)) <= set(sample_budget(split.pool_y, 10, 0))
    with pytest.raises(ValueError):
        sample_budget(split.pool_y, POOL_PER_CLASS + 1, 0)


# --- the task end to end -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[RunResult, RunContext]]:
    cache = tmp_path_factory.mktemp("artifacts")
    return {m: _run(m, cache) for m in SPEC.methods}


def test_every_method_scores_in_range(results: dict[str, tuple[RunResult, RunContext]]) -> None:
    for method, (res, ctx) in results.items():
        acc = res.metrics["accuracy"]
        assert 0.0 <= acc <= 1.0, method
        assert set(res.breakdowns["accuracy"]) == {f"digit {d}" for d in range(10)}
        curve = res.curves["target_test_accuracy"]
        assert curve[-1][1] == acc, method
        assert res.extra["n_test"] == 997
        assert sum(ctx.timings.values()) > 0
        if method == "zero-shot":
            assert curve == [(0.0, acc)] and res.train_samples == 0
            assert res.trainable_params == 0
        else:
            steps = [x for x, _ in curve]
            assert steps[0] == 0.0 and steps[-1] == TINY["target_steps"], method
            assert len(steps) == TINY["eval_points"] and steps == sorted(steps), method
            assert res.train_samples == TINY["target_steps"] * TINY["batch_size"]
        if method == "scratch":
            assert "source_accuracy" not in res.metrics
            assert ctx.timings["source_train"] == 0.0
        else:
            assert 0.0 <= res.metrics["source_accuracy"] <= 1.0


def test_trainable_parameters(results: dict[str, tuple[RunResult, RunContext]]) -> None:
    probe, fine = results["linear-probe"][0], results["fine-tune"][0]
    assert probe.total_params == fine.total_params == results["scratch"][0].total_params
    assert fine.trainable_params == fine.total_params
    assert probe.trainable_params is not None and fine.trainable_params is not None
    assert probe.trainable_params < fine.trainable_params
    assert probe.trainable_params == 10 * 128 + 10  # only the new linear head


def test_source_model_is_built_once_then_reused(
    results: dict[str, tuple[RunResult, RunContext]],
) -> None:
    uses = {m: ctx.artifacts.used for m, (_, ctx) in results.items()}
    assert uses["scratch"] == []
    hits = [u.hit for m in ("zero-shot", "fine-tune", "linear-probe") for u in uses[m]]
    assert hits == [False, True, True]  # methods ran in this order in the fixture
    assert (
        len({u.key_hash for m in ("zero-shot", "fine-tune", "linear-probe") for u in uses[m]}) == 1
    )


def test_source_key_follows_source_options_only(tmp_path: Path) -> None:
    _, first = _run("zero-shot", tmp_path)
    _, target_only = _run("zero-shot", tmp_path, lr=0.01, target_steps=2)
    _, other_source = _run("zero-shot", tmp_path, source_images=200)
    _, other_seed = _run("zero-shot", tmp_path, seed=1)
    assert [u.hit for u in first.artifacts.used] == [False]
    assert [u.hit for u in target_only.artifacts.used] == [True]
    assert [u.hit for u in other_source.artifacts.used] == [False]
    assert [u.hit for u in other_seed.artifacts.used] == [False]


def test_no_source_holdout_means_no_source_accuracy(tmp_path: Path) -> None:
    res, _ = _run("zero-shot", tmp_path, source_test_images=0)
    assert set(res.metrics) == {"accuracy"}


def test_same_seed_same_metrics(
    tmp_path: Path, results: dict[str, tuple[RunResult, RunContext]]
) -> None:
    for method in ("scratch", "fine-tune", "linear-probe"):
        again, _ = _run(method, tmp_path)  # a fresh cache: the source model is rebuilt too
        first = results[method][0]
        assert again.metrics == first.metrics, method
        assert again.curves == first.curves, method
    other, _ = _run("scratch", tmp_path, seed=1)
    assert other.curves != results["scratch"][0].curves


@pytest.mark.slow
def test_same_seed_same_metrics_in_another_process(
    tmp_path: Path, results: dict[str, tuple[RunResult, RunContext]]
) -> None:
    code = f"""
import json, sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
from test_digits import _run
from pathlib import Path
res, _ = _run("fine-tune", Path({str(tmp_path)!r}))
print(json.dumps(res.metrics))
"""
    out = subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == results["fine-tune"][0].metrics


def test_metrics_do_not_depend_on_the_callers_thread_count(
    tmp_path: Path, results: dict[str, tuple[RunResult, RunContext]]
) -> None:
    """A serial run and one in a worker with a single thread must agree (the source model too)."""
    import torch

    before = torch.get_num_threads()
    other = 1 if before > 1 else 2
    torch.set_num_threads(other)
    try:
        again, _ = _run("fine-tune", tmp_path)
        assert torch.get_num_threads() == other, "the task must restore the caller's setting"
    finally:
        torch.set_num_threads(before)
    assert again.metrics == results["fine-tune"][0].metrics


def test_harness_contract(tmp_path: Path) -> None:
    """The harness's own contract check, through the same ``execute`` as a real run."""
    from bench.testing import check_task

    records = check_task(SPEC, tmp_path)
    assert set(records) == set(SPEC.methods)


def test_unknown_method_and_option_are_refused(tmp_path: Path) -> None:
    from tasks.vision.digits import SynthDigitsTask

    task = SynthDigitsTask(SPEC, {})
    with pytest.raises(ValueError, match="linear-probe"):
        task.run("oracle", _ctx("oracle", tmp_path))
    with pytest.raises(UsageError, match="unknown option of task vision/SynthDigits-v0 'learning_rate'"):
        SynthDigitsTask(SPEC, {"learning_rate": 0.1})
    with pytest.raises(UsageError, match="expected int"):
        SynthDigitsTask(SPEC, {"target_steps": 2.5})
    assert SynthDigitsTask(SPEC, {"target_steps": 7}).options["target_steps"] == 7
