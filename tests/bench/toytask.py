"""A millisecond-fast toy task for harness tests: numpy only, with knobs to fail, crash, wait or
leave its process id for a test to kill.

Source: a 5-d linear regression; target: the same weights plus a small shift, with ``budget``
examples. ``fine-tune`` starts from the source weights (shared as an artifact), ``scratch`` from
zero, ``zero-shot`` is the source model untouched. Lower mse is better.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from bench.api import MethodSpec, RunContext, RunResult, TaskSpec

TASKS = [
    TaskSpec(
        id="toy/Linear-v0",
        entry_point="toytask:ToyTask",
        summary="Toy linear regression for harness tests.",
        source="500 examples of y = w.x",
        target="budget examples of y = (w + shift).x",
        metric="mse",
        higher_is_better=False,
        budgets=(4, 8),
        default_budget=4,
        budget_unit="examples",
        methods=("scratch", "zero-shot", "fine-tune", "ridge-oracle"),
        suites=("toy",),
        options={"steps": 30, "sleep": 0.0, "fail": "", "crash": "", "shift": 0.2, "chatter": False, "pid_dir": "",
                 "build_sleep": 0.0},
        seconds_per_run={"scratch": 0.01, "fine-tune": 0.02},
        paired_seeds=True,  # a seed draws the target data; the test set is fixed
        hub_check="toytask:hub_check",
    )
]
METHODS = [MethodSpec("ridge-oracle", "reference", "Least squares on 1,000 target examples.")]


def hub_check(options: dict) -> list[tuple[str, str | None]]:
    """The toy's "pinned source weights", checked in the saved hub metadata ``bench check-real`` is pointed at."""
    from tasks.hub import default_hub

    info = default_hub().info("model", "toy/linear-source", "main")
    return [(f"model {info.repo}@{info.sha[:7]}",
             None if info.has("*.safetensors") else "no safetensors weights; save them with safetensors")]


def _data(rng: np.random.Generator, w: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    x = rng.normal(size=(n, len(w)))
    return x, x @ w + rng.normal(0, 0.1, n)


def _fit(w: np.ndarray, x: np.ndarray, y: np.ndarray, steps: int) -> np.ndarray:
    for _ in range(steps):
        w = w - 0.1 * 2 * x.T @ (x @ w - y) / len(y)
    return w


class ToyTask:
    def __init__(self, spec: TaskSpec, options: dict) -> None:
        self.options = options
        truth = np.random.default_rng(1234).normal(size=5)
        self.source_w, self.target_w = truth, truth + options["shift"]

    def run(self, method: str, ctx: RunContext) -> RunResult:
        o = self.options
        if o["chatter"]:  # like a simulator's banner, below Python's sys.stdout
            os.write(1, b"argv[0]=\n")
            print("a stray print")
        if o["pid_dir"]:  # where a test finds the process running this run, to kill it
            (Path(o["pid_dir"]) / f"{method}-{ctx.seed}-{os.getpid()}.pid").write_text(str(os.getpid()))
        if o["sleep"]:
            time.sleep(o["sleep"])
        if method in o["fail"].split(","):
            raise RuntimeError(f"asked to fail in {method}")
        if method in o["crash"].split(","):
            os._exit(3)
        rng = np.random.default_rng(ctx.seed)
        w = np.zeros(5)
        if method in ("fine-tune", "zero-shot"):
            with ctx.phase("source_train"):
                def build(d: Path) -> None:
                    if o["build_sleep"]:  # room for a kill to land mid-build
                        np.save(d / "partial.npy", np.zeros(1))
                        time.sleep(o["build_sleep"])
                    x, y = _data(np.random.default_rng(ctx.seed), self.source_w, 500)
                    np.save(d / "w.npy", _fit(np.zeros(5), x, y, 200))

                path = ctx.artifacts.get_or_build("toy-source", {"seed": ctx.seed, "v": 0}, build)
                w = np.load(path / "w.npy")
        with ctx.phase("target_train"):
            if method == "ridge-oracle":
                x, y = _data(rng, self.target_w, 1000)
                w = np.linalg.lstsq(x, y, rcond=None)[0]
            elif method != "zero-shot":
                x, y = _data(rng, self.target_w, ctx.budget)
                w = _fit(w, x, y, o["steps"])
        with ctx.phase("eval"):
            x, y = _data(np.random.default_rng(99), self.target_w, 2000)
            err = (x @ w - y) ** 2
        return RunResult(
            metrics={"mse": float(err.mean())},
            breakdowns={"mse": {"first half": float(err[:1000].mean()), "second half": float(err[1000:].mean())}},
            curves={"target_mse": [(0.0, 1.0), (float(o["steps"]), float(err.mean()))]},
            trainable_params=5, total_params=5, train_samples=ctx.budget * o["steps"],
        )
