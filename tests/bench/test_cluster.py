"""The grid on real engines: a two-node Ray cluster on the loopback address, and submitit's local executor.

Each engine must give the records the local executor gives (same hashes, same numbers), one
record per run however workers die, and a failed record with the cause once retries run out.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from conftest import bench_cli

from bench.api import Resources
from bench.config import RayConfig, SlurmConfig
from bench.errors import UsageError
from bench.registry import Registry
from bench.runner import Job, SerialExecutor, run_grid
from bench.store import ResultStore

pytest.importorskip("ray")
pytest.importorskip("submitit")


def _spec(toy_site):
    sys.path.insert(0, str(toy_site))
    return Registry.discover().tasks["toy/Linear-v0"]


def _jobs(spec, results: Path, methods=("scratch", "fine-tune"), seeds=(0, 1), **options) -> list[Job]:
    opts = {**spec.options, **options}
    return [Job(spec, m, "scratch" if m == "scratch" else "transfer", s, 4, "cpu", opts, str(results))
            for m in methods for s in seeds]


def _metrics(results: Path) -> dict[tuple[str, int, str], dict[str, float]]:
    loaded = ResultStore(results).load()
    assert not loaded.problems
    return {(r.method, r.seed, r.config_hash): r.metrics for r in loaded.records}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ray_cluster(toy_site):
    """A head and a worker node, each ``ray start --block`` in its own process, one CPU each."""
    ray = pytest.importorskip("ray")
    cli = shutil.which("ray", path=str(Path(sys.executable).parent)) or shutil.which("ray")
    temp = tempfile.mkdtemp(prefix="tbray", dir="/tmp")  # Ray's socket paths must stay short
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(toy_site), os.environ.get("PYTHONPATH", "")]),
               RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="disabled")  # a test cluster that lives for one module
    port = _free_port()
    common = ["--block", "--num-cpus=1", "--num-gpus=0", "--node-ip-address=127.0.0.1", "--disable-usage-stats"]
    head = subprocess.Popen([cli, "start", "--head", f"--port={port}", "--include-dashboard=false",
                             f"--temp-dir={temp}", *common], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    worker = None
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while subprocess.run([cli, "status", f"--address={address}"], env=env, capture_output=True).returncode:
            assert time.monotonic() < deadline and head.poll() is None, "the Ray head did not come up"
            time.sleep(0.5)
        worker = subprocess.Popen([cli, "start", f"--address={address}", *common], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        ray.init(address=address, log_to_driver=False)
        while len([n for n in ray.nodes() if n["Alive"]]) < 2:
            assert time.monotonic() < deadline and worker.poll() is None, "the Ray worker node did not join"
            time.sleep(0.5)
        yield address
    finally:
        ray.shutdown()
        for proc in (worker, head):  # SIGTERM to ``ray start --block`` stops its node's processes
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
        shutil.rmtree(temp, ignore_errors=True)


@pytest.mark.slow
def test_ray_on_two_nodes_gives_the_records_of_the_local_executor(ray_cluster, toy_site, tmp_path):
    import ray

    from bench.cluster import RayExecutor

    assert len([n for n in ray.nodes() if n["Alive"]]) == 2
    spec = _spec(toy_site)
    methods = ("scratch", "fine-tune", "zero-shot")  # fine-tune and zero-shot share each seed's source model
    local = list(run_grid(_jobs(spec, tmp_path / "local", methods), SerialExecutor(), progress=False).ran)
    remote = run_grid(_jobs(spec, tmp_path / "ray", methods), RayExecutor(RayConfig(address=ray_cluster), 2),
                      progress=False)
    assert len(remote.ran) == len(local) == 6 and not remote.failed
    assert _metrics(tmp_path / "ray") == _metrics(tmp_path / "local")
    for seed in (0, 1):  # built once per key, by whichever node asked first; the other read it
        uses = [a for r in remote.ran if r.seed == seed for a in r.artifacts]
        assert sorted(a["hit"] for a in uses) == [False, True]
    again = run_grid(_jobs(spec, tmp_path / "ray", methods), RayExecutor(RayConfig(address=ray_cluster), 2),
                     progress=False)
    assert not again.ran and len(again.skipped) == 6  # resumed: nothing redone


def _kill_first_run(pid_dir: Path, killed: list[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = sorted(pid_dir.glob("*.pid"))
        if found:
            os.kill(int(found[0].read_text()), signal.SIGKILL)
            killed.append(found[0].name)
            return
        time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.parametrize("retries", [1, 0])
def test_a_ray_worker_killed_mid_run_is_retried_or_recorded_failed(ray_cluster, toy_site, tmp_path, retries):
    from bench.cluster import RayExecutor

    spec = _spec(toy_site)
    pid_dir = tmp_path / "pids"
    pid_dir.mkdir()
    jobs = _jobs(spec, tmp_path / "r", sleep=1.5, pid_dir=str(pid_dir))
    killed: list[str] = []
    killer = threading.Thread(target=_kill_first_run, args=(pid_dir, killed))
    killer.start()
    summary = run_grid(jobs, RayExecutor(RayConfig(address=ray_cluster, retries=retries), 2), progress=False)
    killer.join()
    assert len(killed) == 1
    records = ResultStore(tmp_path / "r").load().records
    assert sorted((r.method, r.seed) for r in records) == sorted((j.method, j.seed) for j in jobs)  # one each
    method, seed, _ = killed[0].removesuffix(".pid").rsplit("-", 2)
    victim = next(r for r in records if (r.method, r.seed) == (method, int(seed)))
    if retries:
        assert not summary.failed and victim.status == "ok"
        assert len(list(pid_dir.glob(f"{method}-{seed}-*.pid"))) == 2  # started twice
    else:
        assert [r.method for r in summary.failed] == [method] and victim.status == "failed"
        assert "the worker running it died 1 time(s)" in victim.error
    assert all(r.status == "ok" for r in records if r is not victim)


@pytest.mark.slow
def test_a_driver_killed_mid_grid_resumes_without_duplicates(ray_cluster, toy_site, tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(toy_site), os.environ.get("PYTHONPATH", "")]))
    results, pids = tmp_path / "results", tmp_path / "pids"
    pids.mkdir()
    cmd = [sys.executable, "-m", "bench", "run", "--task", "toy/Linear-v0", "--method", "fine-tune", "--seeds", "3",
           "--executor", "ray", "--ray-address", ray_cluster, "--results-dir", str(results), "--no-progress",
           "--set", "options.sleep=1.5", "--set", f"options.pid_dir={pids}"]
    driver = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not list(results.glob("toy/*/*/*.json")):
        assert time.monotonic() < deadline and driver.poll() is None
        time.sleep(0.05)
    driver.kill()
    driver.wait()
    first = len(ResultStore(results).load().records)
    assert 1 <= first < 6
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr[-2000:]
    records = ResultStore(results).load().records
    assert sorted((r.method, r.seed) for r in records) == sorted((m, s) for m in ("scratch", "fine-tune")
                                                                 for s in range(3))
    assert all(r.status == "ok" for r in records)
    assert f"{first} skipped" in again.stderr


@pytest.mark.slow
def test_ray_refuses_a_run_no_node_can_hold(ray_cluster, toy_site, tmp_path):
    from bench.cluster import RayExecutor

    spec = dataclasses.replace(_spec(toy_site), resources={"scratch": Resources(cpus=1, gpus=1)})
    with pytest.raises(UsageError, match="asks for 1 CPU.s. and 1 GPU.s.; the Ray cluster's largest node has 1"):
        list(RayExecutor(RayConfig(address=ray_cluster), 2).map(_jobs(spec, tmp_path, methods=("scratch",))))


@pytest.mark.slow
def test_submitit_local_executor_end_to_end(toy_site, tmp_path, monkeypatch):
    from bench.cluster import SlurmExecutor

    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(toy_site), os.environ.get("PYTHONPATH", "")]))
    spec = _spec(toy_site)
    run_grid(_jobs(spec, tmp_path / "local"), SerialExecutor(), progress=False)
    slurm = SlurmConfig(cluster="local", time_min=5)
    summary = run_grid(_jobs(spec, tmp_path / "s"), SlurmExecutor(slurm, tmp_path / "s"), progress=False)
    assert len(summary.ran) == 4 and not summary.failed
    assert _metrics(tmp_path / "s") == _metrics(tmp_path / "local")
    assert any((tmp_path / "s" / ".slurm").rglob("*_log.out"))  # submitit's job logs, where the README says
    assert (tmp_path / "s" / ".slurm").stat().st_mode & 0o777 == 0o700  # its job pickles run as code: ours alone


@pytest.mark.slow
def test_submitit_job_that_dies_every_time_is_resubmitted_then_recorded_failed(toy_site, tmp_path, monkeypatch):
    from bench.cluster import SlurmExecutor

    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(toy_site), os.environ.get("PYTHONPATH", "")]))
    spec = _spec(toy_site)
    jobs = _jobs(spec, tmp_path, seeds=(0,), crash="fine-tune")
    summary = run_grid(jobs, SlurmExecutor(SlurmConfig(cluster="local", retries=1), tmp_path), progress=False)
    (failed,) = summary.failed
    assert failed.method == "fine-tune" and "died 2 time(s)" in failed.error
    assert sorted(r.status for r in ResultStore(tmp_path).load().records) == ["failed", "ok"]


def test_a_missing_engine_is_one_line_naming_the_extra(toy_site, tmp_path, monkeypatch):
    from bench.cluster import RayExecutor, SlurmExecutor

    monkeypatch.setitem(sys.modules, "ray", None)
    monkeypatch.setitem(sys.modules, "submitit", None)
    jobs = _jobs(_spec(toy_site), tmp_path)
    with pytest.raises(UsageError, match=r'--executor ray needs ray, .* pip install "transferbench\[ray\]"'):
        list(RayExecutor(RayConfig(), 1).map(jobs))
    with pytest.raises(UsageError, match=r"pip install \"transferbench\[slurm\]\""):
        list(SlurmExecutor(SlurmConfig(), tmp_path).map(jobs))


@pytest.mark.slow
def test_the_cli_names_the_extra_when_the_engine_is_missing(toy_site, tmp_path):
    broken = tmp_path / "site"
    broken.mkdir()
    (broken / "ray.py").write_text('raise ImportError("ray is not installed here")\n')
    proc = bench_cli("run", "--task", "toy/Linear-v0", "--executor", "ray", cwd=tmp_path, sites=(broken, toy_site))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == ('bench: error: --executor ray needs ray, which is not installed: '
                                   'pip install "transferbench[ray]"')


@pytest.mark.slow
def test_slurm_without_slurm_is_one_line_pointing_to_the_local_cluster(toy_site, tmp_path):
    if shutil.which("sbatch"):
        pytest.skip("this machine has Slurm")
    proc = bench_cli("run", "--task", "toy/Linear-v0", "--executor", "slurm", cwd=tmp_path, sites=(toy_site,))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "no Slurm on this machine" in proc.stderr and "--set slurm.cluster=local" in proc.stderr
    ok = bench_cli("run", "--task", "toy/Linear-v0", "--method", "fine-tune", "--seeds", "1", "--executor", "slurm",
                   "--set", "slurm.cluster=local", cwd=tmp_path, sites=(toy_site,))
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert "2 run(s) made, 0 failed" in ok.stderr
