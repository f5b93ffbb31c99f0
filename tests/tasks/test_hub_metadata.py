"""Hub metadata as the real tiers read it: a card's features, labels and splits, saved and read back."""

from __future__ import annotations

import pytest

from tasks.hub import LiveHub, RepoInfo, SavedHub, default_hub, is_commit

SHA = "d0b69a6f999d31ecd5be9b61ea1be3040b66e69d"

# The shape of a multi-configuration dataset card's YAML header, as ``DatasetCardData.to_dict()`` gives it.
CARD = {"dataset_info": [
    {"config_name": "ar", "features": [{"name": "premise", "dtype": "string"},
                                       {"name": "label", "dtype": {"class_label": {"names": {
                                           "0": "entailment", "1": "neutral", "2": "contradiction"}}}}],
     "splits": [{"name": "train", "num_examples": 392702}, {"name": "test", "num_examples": 5010}]},
    {"config_name": "en", "features": [{"name": "hypothesis", "dtype": "string"},
                                       {"name": "label", "dtype": {"class_label": {"names": ["a", "b"]}}}],
     "splits": [{"name": "validation", "num_examples": 2490}]},
]}


def test_a_cards_features_labels_and_splits_per_configuration():
    info = RepoInfo("dataset", "facebook/xnli", SHA, SHA, ("ar/test-00000-of-00001.parquet",), CARD)
    assert set(info.features("ar")) == {"premise", "label"}
    assert info.class_names("label", "ar") == ("entailment", "neutral", "contradiction")
    assert info.class_names("label", "en") == ("a", "b")
    assert info.class_names("premise", "ar") is None
    assert info.splits("ar") == {"train": 392702, "test": 5010}
    assert info.features("de") == {} and info.features() == {}  # no such configuration; no default one
    assert info.has("ar/test-*") and not info.has("ar/train-*") and not info.has("test-*")


def test_a_single_configuration_card_is_its_default():
    card = {"dataset_info": {"features": [{"name": "image", "dtype": "image"}], "splits": [{"name": "train"}]}}
    info = RepoInfo("dataset", "org/set", "main", SHA, (), card)
    assert info.features() == {"image": {"dtype": "image"}} and info.splits() == {"train": 0}


def test_saved_metadata_reads_back_and_names_what_it_has(tmp_path):
    hub = SavedHub(tmp_path)
    info = RepoInfo("dataset", "facebook/xnli", SHA, SHA, ("en/test-00000-of-00001.parquet",), CARD)
    hub.save(info, aliases=["main"])
    assert hub.info("dataset", "facebook/xnli", SHA) == info
    assert hub.info("dataset", "facebook/xnli", "main").sha == SHA
    with pytest.raises(LookupError, match=rf"dataset facebook/xnli: no revision 'v2' .* \(saved: {SHA}, main\)"):
        hub.info("dataset", "facebook/xnli", "v2")
    with pytest.raises(LookupError, match="model facebook/xnli: no revision"):
        hub.info("model", "facebook/xnli", SHA)


def test_the_check_reads_saved_metadata_where_the_environment_names_it(tmp_path, monkeypatch):
    monkeypatch.delenv("TRANSFERBENCH_HUB_METADATA", raising=False)
    assert isinstance(default_hub(), LiveHub)
    monkeypatch.setenv("TRANSFERBENCH_HUB_METADATA", str(tmp_path))
    hub = default_hub()
    assert isinstance(hub, SavedHub) and hub.directory == tmp_path
    assert is_commit(SHA) and not is_commit("main") and not is_commit(SHA[:7]) and not is_commit(None)
