"""The shared encoder code on tiny saved checkpoints: what every method's numbers rest on."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from fixtures import NEGATION, SENTENCES, make_spm_only_deberta_dir, make_tiny_encoder_dir

from tasks.common import one_torch_thread
from tasks.crosslingual.data import Examples
from tasks.crosslingual.encoder import TextClassifier, Vocabulary, batches, encode, evaluate, load_encoder, train
from tasks.crosslingual.xnli import XNLI_LANGUAGES

ROOT = Path(__file__).resolve().parents[3]

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


def _nli_pairs() -> Examples:
    """18 English NLI pairs that a tiny encoder learns in 100 steps: entailment restates the premise's
    first sentence, neutral states another one, contradiction negates it."""
    en, premises, hypotheses = SENTENCES["en"], [], []
    for i in range(6):
        premises += [f"{en[i]} {en[(i + 1) % 6]}"] * 3
        hypotheses += [en[i], en[(i + 3) % 6], f"{NEGATION['en']} {en[i]}"]
    return Examples(tuple(premises), np.arange(18) % 3, tuple(hypotheses))


@pytest.mark.parametrize("against", [False, True], ids=["validation-agrees", "validation-disagrees"])
def test_model_selection_ends_with_the_best_validation_step(against, tmp_path):
    """Validation on the training pairs gets better as training goes on; validation on the same pairs
    labelled against what training teaches gets worse. Either way the model ends with the weights of
    the best-scoring evaluation (the earliest of equal ones), and scores that afterwards."""
    folder = make_tiny_encoder_dir(tmp_path / "m")
    torch.manual_seed(0)
    encoder, tok = load_encoder(str(folder))
    model = TextClassifier(encoder, 3)
    pairs = _nli_pairs()
    data = encode(tok, pairs, 64, str(folder))
    labels = (pairs.labels + 1) % 3 if against else pairs.labels
    dev = encode(tok, Examples(pairs.text_a, labels, pairs.text_b), 64, str(folder))
    seen: list[dict[str, torch.Tensor]] = []

    def score() -> float:
        seen.append({n: p.detach().clone() for n, p in model.named_parameters()})
        pred, _ = evaluate(model, dev, batch_size=64, pad_id=tok.pad_token_id, device="cpu")
        return float(np.mean(pred == dev.labels))

    with one_torch_thread():  # as the task trains; and a thread count the machine's other work cannot starve
        stats = train(model, [{"params": list(model.parameters())}], data, steps=95, batch_size=6, lr=3e-3,
                      pad_id=tok.pad_token_id, device="cpu", rng=np.random.default_rng(0), weight_decay=0.0,
                      warmup=0.0, select_every=10, score=score)
    steps, scores = zip(*stats.curve, strict=True)
    assert steps == (*range(10, 91, 10), 95)  # every 10 steps and the last
    best = scores.index(max(scores))
    assert stats.selected_step == steps[best] and stats.selected_score == scores[best]
    if against:
        assert scores[-1] < stats.selected_score  # the last step is not the one kept
    else:
        assert best > 0 and stats.selected_score > scores[0]  # not simply the first evaluation
    for n, p in model.named_parameters():
        torch.testing.assert_close(p, seen[best][n], rtol=0, atol=0)
    pred, _ = evaluate(model, dev, batch_size=64, pad_id=tok.pad_token_id, device="cpu")
    assert float(np.mean(pred == dev.labels)) == stats.selected_score
    with pytest.raises(ValueError, match="select_every=10 needs a score function"):
        train(model, [{"params": list(model.parameters())}], data, steps=2, batch_size=6, lr=1e-3,
              pad_id=tok.pad_token_id, device="cpu", rng=np.random.default_rng(0), select_every=10)


def test_a_checkpoint_with_only_a_sentencepiece_model_loads_like_mdeberta(tmp_path):
    """microsoft/mdeberta-v3-base ships spm.model and no tokenizer.json: transformers builds the
    tokenizer from it (with sentencepiece), it cuts text into the pieces SentencePiece itself does
    (NFKC included: Thai SARA AM, full-width letters), and every step the task takes works on it."""
    import sentencepiece

    folder = make_spm_only_deberta_dir(tmp_path / "mdeberta")
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors", "spm.model",
                                                        "tokenizer_config.json"]
    encoder, tok = load_encoder(str(folder))
    assert type(tok).__name__ == "DebertaV2Tokenizer" and encoder.config.model_type == "deberta-v2"
    ids = tok("Le chat dort.", "Die Katze schläft.")["input_ids"]
    assert ids[0] == tok.cls_token_id == 1 and ids.count(tok.sep_token_id) == 2 and ids[-1] == 2
    assert tok.pad_token_id == 0 and tok.unk_token_id == 3 and tok.mask_token_id == encoder.config.vocab_size - 1
    spm = sentencepiece.SentencePieceProcessor(model_file=str(folder / "spm.model"))
    for text in [*(" ".join(SENTENCES[lang]) for lang in XNLI_LANGUAGES), "  Ｔｈｅ   ｃａｔ  sleeps. "]:
        assert tok(text, add_special_tokens=False)["input_ids"] == spm.encode(text), text
    assert "\u0e33" in " ".join(SENTENCES["th"]) and tok.unk_token_id not in tok(" ".join(SENTENCES["th"]))["input_ids"]
    model = TextClassifier(encoder, 3).eval()
    data = encode(tok, _examples(), 64, str(folder))
    vocab = Vocabulary.of(tok, [data], encoder.config.vocab_size)
    vocab.apply(model)
    pred, _ = evaluate(model, vocab.map(data), batch_size=4, pad_id=vocab.pad_id(tok), device="cpu")
    assert pred.shape == (len(TEXTS),)


@pytest.mark.slow  # a fresh interpreter importing torch and transformers
def test_without_sentencepiece_the_error_says_what_to_install(tmp_path):
    folder = make_spm_only_deberta_dir(tmp_path / "mdeberta")
    script = textwrap.dedent(f"""
        import sys
        sys.modules["sentencepiece"] = None  # as in an environment without the package
        from tasks.crosslingual.encoder import load_encoder
        try:
            load_encoder({str(folder)!r})
        except ImportError as exc:
            print(exc)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == (f"{folder}: its tokenizer is a SentencePiece model without tokenizer.json, which "
                                   "transformers reads with sentencepiece: pip install sentencepiece")
