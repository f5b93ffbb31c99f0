"""The cross-lingual task end to end on a tiny saved encoder and a local copy with XNLI's schema."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from fixtures import make_hub_cache, make_spm_only_deberta_dir, make_tiny_encoder_dir, make_tiny_xnli_dir

from bench.runner import execute
from bench.testing import smoke_job
from tasks.crosslingual.specs import XNLI
from tasks.crosslingual.task import few_shot, training_pool

LANGS = ("en", "fr", "de")


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    root = tmp_path_factory.mktemp("xl")
    return {"model": str(make_tiny_encoder_dir(root / "model")),
            "data_dir": str(make_tiny_xnli_dir(root / "xnli", LANGS, per_split=24)),
            "languages": ",".join(LANGS)}


def _run(method, local, tmp_path, **options):
    job = smoke_job(XNLI, method, tmp_path)
    job = dataclasses.replace(job, budget=16, options={**job.options, **local, **options})
    record = execute(job)
    assert record.status == "ok", record.error
    return record


@pytest.mark.parametrize("method", XNLI.methods)
def test_every_method_scores_every_language(method, local, tmp_path):
    r = _run(method, local, tmp_path)
    per_lang = r.breakdowns["accuracy"]
    assert list(per_lang) == list(LANGS)
    assert r.metrics["accuracy"] == pytest.approx(np.mean(list(per_lang.values())))
    assert r.metrics["transfer_gap"] == pytest.approx(per_lang["en"] - np.mean([per_lang["fr"], per_lang["de"]]))
    assert 0 < r.cost.trainable_params <= r.cost.total_params
    if method == "lora":
        assert r.metrics["trainable_fraction"] < 0.5
    if method == "linear-probe":
        assert [a["name"] for a in r.artifacts] == ["frozen-features"]


def test_zero_shot_and_few_shot_share_the_english_model(local, tmp_path):
    zero = _run("zero-shot", local, tmp_path)
    few = _run("few-shot-target", local, tmp_path)
    assert [(a["name"], a["hit"]) for a in zero.artifacts] == [("english-finetuned", False)]
    assert [(a["name"], a["hit"]) for a in few.artifacts] == [("english-finetuned", True)]
    assert few.extra["few_shot_examples"] == 2 * 2  # k=2 per target language, two targets


def test_scratch_is_random_init_of_the_same_architecture(local, tmp_path):
    scratch, zero = _run("scratch", local, tmp_path), _run("zero-shot", local, tmp_path, freeze_embeddings=True)
    assert scratch.cost.total_params == zero.cost.total_params
    assert scratch.cost.trainable_params == scratch.cost.total_params  # embeddings train too
    assert zero.cost.trainable_params < zero.cost.total_params  # frozen word embeddings


def test_pools_are_nested_and_few_shot_balanced():
    a, b = training_pool(100, 10, 0), training_pool(100, 20, 0)
    assert list(b[:10]) == list(a)
    with pytest.raises(ValueError, match="exceeds"):
        training_pool(5, 10, 0)
    labels = np.array([0, 1, 2] * 10)
    assert sorted(np.bincount(labels[few_shot(labels, 6, 0, 0)]).tolist()) == [2, 2, 2]


@pytest.mark.slow
def test_bench_run_xnli_with_a_local_model_end_to_end(local, tmp_path):
    """``python -m bench run --task crosslingual/XNLI-v0 --model <dir>``, offline, with the per-language table."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    data = make_tiny_xnli_dir(tmp_path / "xnli", LANGS, per_split=100)
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_HOME=str(tmp_path / "hf"),
               PYTHONPATH=str(root))
    base = [sys.executable, "-m", "bench", "run", "--task", "crosslingual/XNLI-v0", "--model", local["model"],
            "--set", f"options.data_dir={data}", "--set", f"options.languages={local['languages']}",
            "--set", "options.epochs=1", "--set", "options.min_steps=3", "--set", "options.batch_size=8",
            "--set", "options.few_shot_k=2", "--set", "options.few_shot_steps=2", "--set", "options.probe_steps=5",
            "--method", "zero-shot,translate-train", "--seeds", "2", "--budget", "1000", "--workers", "1",
            "--results-dir", str(tmp_path / "results"),
            "--no-progress"]
    proc = subprocess.run(base, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert proc.returncode == 1 and "exceeds the 100" in proc.stdout + proc.stderr  # beyond the pool: recorded
    base[base.index("1000")] = "100"
    proc = subprocess.run(base + ["--format", "json"], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    board = json.loads(proc.stdout)
    table = next(t for t in board["per_target"] if t["budget"] == 100)
    assert table["targets"] == list(LANGS) and set(table["gaps"]["zero-shot"]) == {"fr", "de", "mean"}
    assert "LOAD REPORT" not in proc.stderr
    text = subprocess.run(base[:3] + ["leaderboard", "--results-dir", str(tmp_path / "results")],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600).stdout
    assert "Per target: accuracy" in text and "Transfer gap: en minus each target" in text


def test_an_mdeberta_layout_checkpoint_runs_with_model_selection(local, tmp_path):
    """An encoder shipped as microsoft/mdeberta-v3-base is (spm.model, no tokenizer.json) fine-tunes and
    is tested; with select_every, the record keeps each validation score and the step kept."""
    model = str(make_spm_only_deberta_dir(tmp_path / "mdeberta"))
    r = _run("zero-shot", {**local, "model": model}, tmp_path, select_every=2, min_steps=5)
    curve = r.curves["validation_accuracy"]
    assert [x for x, _ in curve] == [2.0, 4.0, 5.0]  # every 2 steps and the last
    best = max(y for _, y in curve)
    assert r.extra["selected_dev_accuracy"] == best
    assert r.extra["selected_step"] == next(x for x, y in curve if y == best)
    assert r.extra["encoder"] == model and "revision" not in r.extra  # a local directory has no hub commit


def test_selection_off_keeps_the_last_step_and_records_none(local, tmp_path):
    r = _run("translate-train", local, tmp_path, select_every=0)
    assert r.curves == {} and "selected_step" not in r.extra


def test_an_unpinned_hub_model_is_refused_before_anything_loads(local, tmp_path):
    job = smoke_job(XNLI, "zero-shot", tmp_path)
    job = dataclasses.replace(job, budget=16, options={**job.options, **local, "model": "org/unpinned-encoder"})
    record = execute(job)
    assert record.status != "ok"
    assert ("model 'org/unpinned-encoder' is neither a local directory nor a pinned hub model" in record.error
            and "--set options.revision=<commit>" in record.error)


@pytest.mark.slow
def test_a_pinned_hub_model_loads_at_its_pin_and_a_branch_at_its_commit(local, tmp_path):
    """Offline, from a hub cache holding a tiny XLM-R as FacebookAI/xlm-roberta-base at its pin and a
    tiny mBERT-like encoder at another commit that main points to: an empty revision loads the pin,
    revision=main the commit main names (each vocabulary size shows which was loaded), and each
    record names the commit."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    from transformers import AutoConfig

    from tasks.crosslingual.xnli import MODELS

    repo, pin, head = "FacebookAI/xlm-roberta-base", str(MODELS["FacebookAI/xlm-roberta-base"]), "1" * 40
    make_hub_cache(tmp_path / "hf" / "hub", repo, pin, Path(local["model"]))
    make_hub_cache(tmp_path / "hf" / "hub", repo, head, make_tiny_encoder_dir(tmp_path / "bert", "bert"), refs=["main"])
    script = f"""
import dataclasses, json
from bench.runner import execute
from bench.testing import smoke_job
from tasks.crosslingual.specs import XNLI
for revision in ("", "main"):
    job = smoke_job(XNLI, "zero-shot", {str(tmp_path / "results")!r})
    options = {{**job.options, "data_dir": {local["data_dir"]!r}, "languages": "en,fr", "revision": revision}}
    r = execute(dataclasses.replace(job, budget=16, options=options))
    print(json.dumps([r.status, r.error, r.extra.get("encoder"), r.extra.get("revision"), r.extra.get("vocab_full")]))
"""
    root = Path(__file__).resolve().parents[3]
    env = dict(os.environ, HF_HOME=str(tmp_path / "hf"), HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1",
               PYTHONPATH=str(root))
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("[")]
    sizes = [AutoConfig.from_pretrained(d).vocab_size for d in (local["model"], tmp_path / "bert")]
    assert sizes[0] != sizes[1]
    assert runs == [["ok", None, f"{repo}@{pin}", pin, sizes[0]], ["ok", None, f"{repo}@{head}", head, sizes[1]]]

