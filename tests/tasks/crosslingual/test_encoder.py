"""The shared encoder code on tiny saved checkpoints: what every method's numbers rest on."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fixtures import make_tiny_encoder_dir

from tasks.crosslingual.data import Examples
from tasks.crosslingual.encoder import TextClassifier, Vocabulary, batches, encode, evaluate, load_encoder

TEXTS = ("The cat sleeps.", "Der Hund schläft nicht im Garten.", "Il pleut.", "Эта книга очень интересная.",
         "我喜欢喝茶。", "A much longer English sentence about nothing in particular, with commas.")


@pytest.fixture(scope="module", params=["xlm-roberta", "bert", "deberta-v2"])
def saved(request, tmp_path_factory):
    return str(make_tiny_encoder_dir(tmp_path_factory.mktemp(request.param) / "m", kind=request.param))


def _examples() -> Examples:
    return Examples(TEXTS, np.arange(len(TEXTS)) % 3, tuple(reversed(TEXTS)))


def test_vocabulary_pruning_leaves_every_prediction_exactly_as_it_was(saved):
    torch.manual_seed(0)
    encoder, tok = load_encoder(saved)
    model = TextClassifier(encoder, 3).eval()
    data = encode(tok, _examples(), 64, saved)
    full = model.encoder.get_input_embeddings().num_embeddings
    before = [model(**_inputs(data, i, tok.pad_token_id)) for i in range(len(data))]

    vocab = Vocabulary.of(tok, [data], full)
    vocab.apply(model)
    small = vocab.map(data)
    after = [model(**_inputs(small, i, vocab.pad_id(tok))) for i in range(len(small))]

    assert len(vocab.kept) < full
    assert vocab.pad_id(tok) == tok.pad_token_id  # RoBERTa-style position ids count from the pad id
    assert model.encoder.get_input_embeddings().num_embeddings == len(vocab.kept)
    for b, a in zip(before, after, strict=True):
        torch.testing.assert_close(a, b)


def _inputs(data, i, pad_id):
    ids = torch.tensor(np.concatenate([data.ids[i], [pad_id, pad_id]]))[None]  # padding must not change anything
    mask = (torch.arange(ids.shape[1]) < len(data.ids[i])).long()[None]
    out = {"input_ids": ids, "attention_mask": mask}
    if data.type_ids is not None:
        out["token_type_ids"] = torch.tensor(np.concatenate([data.type_ids[i], [0, 0]]))[None]
    with torch.no_grad():
        return out


def test_dynamic_padding_predicts_what_padding_to_the_maximum_predicts(saved):
    torch.manual_seed(0)
    encoder, tok = load_encoder(saved)
    model = TextClassifier(encoder, 3, pooling="mean")
    data = encode(tok, _examples(), 64, saved)
    dynamic, _ = evaluate(model, data, batch_size=4, pad_id=tok.pad_token_id, device="cpu")
    padded, _ = evaluate(model, data, batch_size=4, pad_id=tok.pad_token_id, device="cpu", pad_to=64)
    np.testing.assert_array_equal(dynamic, padded)


def test_num_layers_builds_only_the_first_layers(saved):
    encoder, _ = load_encoder(saved, num_layers=1)
    assert encoder.config.num_hidden_layers == 1
    assert sum(1 for n, _ in encoder.named_modules() if n.count(".") == 2 and ".layer." in n) == 1
    with pytest.raises(ValueError, match="num_layers=9; accepted: 1 to 2"):
        load_encoder(saved, num_layers=9)


def test_training_batches_cover_each_example_once_and_group_lengths():
    lengths = np.random.default_rng(0).integers(3, 60, size=1000)
    out = batches(lengths, 32, np.random.default_rng(1))
    assert sorted(np.concatenate(out).tolist()) == list(range(1000))
    spread = np.mean([np.ptp(lengths[b]) for b in out])
    assert spread < 0.25 * np.ptp(lengths)
