"""The results directory as files on disk: every run once, whatever else lies there."""

from __future__ import annotations

import json
import shutil

from record_factory import make_record

from bench.store import ResultStore


def _store_with_runs(tmp_path, n=3):
    store = ResultStore(tmp_path / "results")
    paths = [store.write(make_record(task="toy/Linear-v0", method="fine-tune", role="transfer", seed=i, score=0.5 + i))
             for i in range(n)]
    return store, paths


def test_a_copied_subtree_counts_each_run_once_and_names_the_copies(tmp_path):
    store, paths = _store_with_runs(tmp_path)
    shutil.copytree(store.root / "toy", store.root / "toy-copy")
    loaded = store.load()
    assert sorted(r.seed for r in loaded.records) == [0, 1, 2]
    assert len(loaded.problems) == 3 and all("toy-copy" in p.split(": the same run")[0] for p in loaded.problems)
    assert all(f"as {p}" in " ".join(loaded.problems) for p in paths)  # the copy at the run's own path is kept


def test_a_record_whose_config_was_edited_is_skipped(tmp_path):
    store, paths = _store_with_runs(tmp_path, n=1)
    data = json.loads(paths[0].read_text())
    data["config"]["options"] = {"steps": 999}  # now its hash names another run
    paths[0].write_text(json.dumps(data))
    loaded = store.load()
    assert loaded.records == []
    assert loaded.problems == [f"skipped {paths[0]}: its config_hash does not match its config (edited by hand?)"]


def test_deep_nesting_a_nan_metric_and_a_nul_in_the_task_id_are_reported_and_skipped(tmp_path):
    store, paths = _store_with_runs(tmp_path, n=1)
    (store.root / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    nan = json.loads(paths[0].read_text())
    nan["metrics"]["score"] = float("nan")
    (store.root / "nan.json").write_text(json.dumps(nan))  # json.dumps writes NaN, as a careless tool would
    nul = json.loads(paths[0].read_text())
    nul["task"] = "toy/Lin\u0000ear-v0"
    (store.root / "nul.json").write_text(json.dumps(nul))
    loaded = store.load()
    assert [r.seed for r in loaded.records] == [0]
    why = {p.split(": ", 1)[0].removeprefix("skipped "): p.split(": ", 1)[1] for p in loaded.problems}
    assert why[str(store.root / "deep.json")] == "not a transferbench record (JSON nested too deeply)"
    assert "non-finite metric(s) score" in why[str(store.root / "nan.json")]
    assert "is not 'family/Name-v0'" in why[str(store.root / "nul.json")]


def test_records_are_written_with_the_umasks_mode_not_mkstemps(tmp_path):
    import os

    before = os.umask(0o022)
    try:
        store, paths = _store_with_runs(tmp_path, n=1)
        assert paths[0].stat().st_mode & 0o777 == 0o644
        os.umask(0o007)
        again = store.write(make_record(task="toy/Linear-v0", method="scratch", seed=5))
        assert again.stat().st_mode & 0o777 == 0o660
    finally:
        os.umask(before)
