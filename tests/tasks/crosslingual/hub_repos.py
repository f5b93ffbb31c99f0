"""What the hub repositories crosslingual/XNLI-v0 pins hold, as :class:`tasks.hub.RepoInfo`: the
metadata ``bench check-real`` reads, saved under ``hub_metadata/`` for the offline tests.

Regenerate the JSON files with ``python tests/tasks/crosslingual/hub_repos.py`` after editing this
module (a test checks that they agree). With network access, compare against the hub itself:
``python -m bench check-real --task crosslingual/XNLI-v0`` (without ``TRANSFERBENCH_HUB_METADATA``).

File lists are those of the pinned commits: the files the check reads, and every other weight
format beside them (a safetensors file next to pickles is the case that matters); the models'
``onnx/`` exports and XNLI's ``all_languages/train`` shards are left out. Sources: the pins'
provenance in :mod:`tasks.crosslingual.xnli`; code that downloads ``tokenizer.json``,
``tokenizer_config.json`` and ``sentencepiece.bpe.model`` from XLM-R base at its pin, and
``<lang>/test-00000-of-00001.parquet`` and ``all_languages/test-00000-of-00001.parquet`` from
``facebook/xnli`` at its pin; DeBERTa-v3's ``tokenizer_config.json`` (``{"do_lower_case": false,
"vocab_type": "spm"}``) and ``spm.model``. Cards are the YAML headers' ``configs`` and
``dataset_info`` (features, split sizes) as ``card_data.to_dict()`` gives them.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tasks.crosslingual.xnli import CLASSES, MODELS, MULTI_NLI_DATASET, XNLI_DATASET, XNLI_LANGUAGES
from tasks.hub import RepoInfo, SavedHub

__all__ = ["DIRECTORY", "MDEBERTA_MAIN", "REPOS", "mnli_card", "save", "xnli_card"]

DIRECTORY = Path(__file__).resolve().parent / "hub_metadata"
"""Where the saved metadata lives (``SavedHub`` layout): point ``TRANSFERBENCH_HUB_METADATA`` at it."""

MDEBERTA_MAIN = "a0484667b22365f84929a935b5e50a51f71f159d"
"""``microsoft/mdeberta-v3-base``'s main branch: pickle weights only."""

_LABEL = {"name": "label", "dtype": {"class_label": {"names": {str(i): c for i, c in enumerate(CLASSES)}}}}


def _model(repo: str, revision: str, files: tuple[str, ...], license: str) -> RepoInfo:
    return RepoInfo("model", repo, revision, revision, tuple(sorted((".gitattributes", "README.md", *files))),
                    {"license": license})


def xnli_card() -> dict:
    """``facebook/xnli``'s card: one configuration per language (``<lang>/<split>-*``) plus ``all_languages``."""
    configs = [{"config_name": c, "data_files": [{"split": s, "path": f"{c}/{s}-*"}
                                                 for s in ("train", "test", "validation")]}
               for c in ("all_languages", *sorted(XNLI_LANGUAGES))]
    splits = [{"name": "train", "num_examples": 392702}, {"name": "test", "num_examples": 5010},
              {"name": "validation", "num_examples": 2490}]
    info = [{"config_name": "all_languages", "features": [
        {"name": "premise", "dtype": {"translation": {"languages": sorted(XNLI_LANGUAGES)}}},
        {"name": "hypothesis", "dtype": {"translation_variable_languages": {
            "languages": sorted(XNLI_LANGUAGES), "num_languages": len(XNLI_LANGUAGES)}}}, _LABEL], "splits": splits}]
    info += [{"config_name": lang, "features": [{"name": "premise", "dtype": "string"},
                                                {"name": "hypothesis", "dtype": "string"}, _LABEL], "splits": splits}
             for lang in sorted(XNLI_LANGUAGES)]
    return {"language": sorted(XNLI_LANGUAGES), "paperswithcode_id": "xnli",
            "pretty_name": "Cross-lingual Natural Language Inference", "configs": configs, "dataset_info": info}


def mnli_card() -> dict:
    """``nyu-mll/multi_nli``'s card: one default configuration, ``data/<split>-*``, ten columns."""
    strings = ("pairID", "premise", "premise_binary_parse", "premise_parse", "hypothesis", "hypothesis_binary_parse",
               "hypothesis_parse", "genre")
    features = [{"name": "promptID", "dtype": "int32"}, *({"name": k, "dtype": "string"} for k in strings), _LABEL]
    splits = [{"name": "train", "num_examples": 392702}, {"name": "validation_matched", "num_examples": 9815},
              {"name": "validation_mismatched", "num_examples": 9832}]
    data_files = [{"split": s, "path": f"data/{s}-*"} for s in ("train", "validation_matched", "validation_mismatched")]
    return {"language": ["en"], "pretty_name": "Multi-Genre Natural Language Inference",
            "configs": [{"config_name": "default", "data_files": data_files}],
            "dataset_info": {"features": features, "splits": splits}}


def _xnli() -> RepoInfo:
    files = [f"{lang}/{s}-00000-of-00001.parquet" for lang in XNLI_LANGUAGES for s in ("test", "train", "validation")]
    files += ["all_languages/test-00000-of-00001.parquet", "all_languages/validation-00000-of-00001.parquet"]
    return RepoInfo("dataset", XNLI_DATASET.repo, XNLI_DATASET.revision, XNLI_DATASET.revision,
                    tuple(sorted((".gitattributes", "README.md", *files))), xnli_card())


def _mnli() -> RepoInfo:
    files = [f"data/{s}-00000-of-00001.parquet" for s in ("train", "validation_matched", "validation_mismatched")]
    return RepoInfo("dataset", MULTI_NLI_DATASET.repo, MULTI_NLI_DATASET.revision, MULTI_NLI_DATASET.revision,
                    tuple(sorted((".gitattributes", "README.md", *files))), mnli_card())


_XLMR = ("config.json", "flax_model.msgpack", "model.safetensors", "pytorch_model.bin", "rust_model.ot",
         "sentencepiece.bpe.model", "tf_model.h5", "tokenizer.json")
_MDEBERTA = ("config.json", "generator_config.json", "pytorch_model.bin", "spm.model", "tokenizer_config.json")

REPOS: tuple[tuple[RepoInfo, tuple[str, ...]], ...] = (
    (_model("FacebookAI/xlm-roberta-base", str(MODELS["FacebookAI/xlm-roberta-base"]),
            (*_XLMR, "tokenizer_config.json"), "mit"), ("main",)),
    (_model("FacebookAI/xlm-roberta-large", str(MODELS["FacebookAI/xlm-roberta-large"]), _XLMR, "mit"), ("main",)),
    (_model("google-bert/bert-base-multilingual-cased", str(MODELS["google-bert/bert-base-multilingual-cased"]),
            ("config.json", "flax_model.msgpack", "model.safetensors", "pytorch_model.bin", "tf_model.h5",
             "tokenizer.json", "tokenizer_config.json", "vocab.txt"), "apache-2.0"), ("main",)),
    (_model("microsoft/mdeberta-v3-base", MDEBERTA_MAIN, _MDEBERTA, "mit"), ("main",)),
    (_model("microsoft/mdeberta-v3-base", str(MODELS["microsoft/mdeberta-v3-base"]),
            (*_MDEBERTA, "model.safetensors"), "mit"), ()),
    (_xnli(), ("main",)),
    (_mnli(), ()),
)
"""Each repository at its pin, with the other revision names that resolve to the same commit
(XLM-R's, mBERT's and XNLI's pins are their main branches; mDeBERTa's main is the pickle-only commit
its safetensors pull request was made on)."""


def save(directory: Path = DIRECTORY) -> list[Path]:
    """Write :data:`REPOS` as :class:`~tasks.hub.SavedHub` JSON files under ``directory``."""
    hub = SavedHub(directory)
    return [hub.save(info, aliases=aliases) for info, aliases in REPOS]


if __name__ == "__main__":
    for path in save(Path(sys.argv[1]) if len(sys.argv) > 1 else DIRECTORY):
        print(path)
