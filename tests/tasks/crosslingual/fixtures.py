"""Tiny XNLI real-tier inputs built offline: ``save_pretrained`` encoders with real tokenizers, and
local copies of ``facebook/xnli`` and ``nyu-mll/multi_nli`` with their layouts and schemas.

Plain functions, so that any test can build them in its own temporary directory. Nothing is
downloaded and nothing is mocked: real ``transformers`` models and tokenizers, real parquet files,
read back through the code a user with internet runs (``load_xnli(..., data_dir=...)``,
``AutoModel``/``AutoTokenizer.from_pretrained(dir)``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["KINDS", "NEGATION", "SENTENCES", "make_hub_cache", "make_spm_only_deberta_dir", "make_tiny_encoder_dir",
           "make_tiny_xnli_dir"]

KINDS = ("xlm-roberta", "bert", "deberta-v2")
"""Encoder families :func:`make_tiny_encoder_dir` builds: XLM-R, mBERT-like, mDeBERTa-like."""

SENTENCES: dict[str, tuple[str, ...]] = {
    "en": ("The cat sleeps.", "The sun is hot.", "I read a book.", "We eat bread.", "The train is late.",
           "She drinks water."),
    "fr": ("Le chat dort.", "Le soleil est chaud.", "Je lis un livre.", "Nous mangeons du pain.",
           "Le train est en retard.", "Elle boit de l'eau."),
    "es": ("El gato duerme.", "El sol está caliente.", "Leo un libro.", "Comemos pan.", "El tren llega tarde.",
           "Ella bebe agua."),
    "de": ("Die Katze schläft.", "Die Sonne ist heiß.", "Ich lese ein Buch.", "Wir essen Brot.",
           "Der Zug ist spät.", "Sie trinkt Wasser."),
    "el": ("Η γάτα κοιμάται.", "Ο ήλιος είναι ζεστός.", "Διαβάζω ένα βιβλίο.", "Τρώμε ψωμί.", "Το τρένο αργεί.",
           "Εκείνη πίνει νερό."),
    "bg": ("Котката спи.", "Слънцето е горещо.", "Чета книга.", "Ядем хляб.", "Влакът закъснява.", "Тя пие вода."),
    "ru": ("Кошка спит.", "Солнце горячее.", "Я читаю книгу.", "Мы едим хлеб.", "Поезд опаздывает.",
           "Она пьёт воду."),
    "tr": ("Kedi uyuyor.", "Güneş sıcak.", "Bir kitap okuyorum.", "Ekmek yiyoruz.", "Tren gecikti.",
           "O su içiyor."),
    "ar": ("القطة نائمة.", "الشمس حارة.", "أقرأ كتابا.", "نأكل الخبز.", "القطار متأخر.", "هي تشرب الماء."),
    "vi": ("Con mèo đang ngủ.", "Mặt trời nóng.", "Tôi đọc một cuốn sách.", "Chúng tôi ăn bánh mì.",
           "Tàu hỏa đến muộn.", "Cô ấy uống nước."),
    "th": ("แมวกำลังนอน", "ดวงอาทิตย์ร้อน", "ฉันอ่านหนังสือ", "เรากินขนมปัง", "รถไฟมาสาย", "เธอดื่มน้ำ"),
    "zh": ("猫在睡觉。", "太阳很热。", "我在读书。", "我们吃面包。", "火车晚点了。", "她在喝水。"),
    "hi": ("बिल्ली सो रही है।", "सूरज गर्म है।", "मैं एक किताब पढ़ता हूँ।", "हम रोटी खाते हैं।", "ट्रेन देर से है।",
           "वह पानी पीती है।"),
    "sw": ("Paka analala.", "Jua ni kali.", "Ninasoma kitabu.", "Tunakula mkate.", "Treni imechelewa.",
           "Anakunywa maji."),
    "ur": ("بلی سو رہی ہے۔", "سورج گرم ہے۔", "میں ایک کتاب پڑھتا ہوں۔", "ہم روٹی کھاتے ہیں۔", "ٹرین لیٹ ہے۔",
           "وہ پانی پیتی ہے۔"),
}
"""Six short parallel sentences in each XNLI language: the tokenizers' training text and the datasets' content."""

NEGATION: dict[str, str] = {"en": "not", "fr": "pas", "es": "no", "de": "nicht", "el": "όχι", "bg": "не", "ru": "не",
                            "tr": "değil", "ar": "لا", "vi": "không", "th": "ไม่", "zh": "不", "hi": "नहीं",
                            "sw": "si", "ur": "نہیں"}
"""A negation word per language: a contradiction's hypothesis is the negated premise sentence."""

_CLASSES = ("entailment", "neutral", "contradiction")


def _corpus() -> list[str]:
    return [s for lang in SENTENCES for s in (*SENTENCES[lang], NEGATION[lang])]


def _unigram_vocab(specials: Sequence[str], pre_tokenizer: object, vocab_size: int) -> list[tuple[str, float]]:
    """A SentencePiece-like Unigram vocabulary learned on :data:`SENTENCES`, ``specials`` first (score 0)."""
    from tokenizers import Tokenizer, models, trainers

    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizer
    trainer = trainers.UnigramTrainer(vocab_size=vocab_size, special_tokens=list(specials), unk_token=specials[-1],
                                      show_progress=False)
    tok.train_from_iterator(_corpus(), trainer=trainer)
    learned = [(str(p), float(s)) for p, s in json.loads(tok.to_str())["model"]["vocab"]]
    pieces = [(p, s) for p, s in learned if p not in specials]
    return [(p, 0.0) for p in specials] + pieces


def make_tiny_encoder_dir(path: Path, kind: str = "xlm-roberta", seed: int = 0) -> Path:
    """A tiny randomly initialized ``kind`` encoder and its fast tokenizer, ``save_pretrained`` into ``path``.

    ``xlm-roberta``: XLM-R's architecture and special tokens (``<s>`` 0, ``<pad>`` 1, ``</s>`` 2,
    ``<unk>`` 3, ``<mask>`` last) over a Unigram (SentencePiece-like) vocabulary; ``bert``: an
    mBERT-like cased WordPiece model; ``deberta-v2``: an mDeBERTa-like model (relative attention,
    ``[PAD]`` 0, ``[CLS]`` 1, ``[SEP]`` 2, ``[UNK]`` 3, Unigram vocabulary). Vocabularies are learned
    with ``tokenizers`` on :data:`SENTENCES` (all 15 languages), so the fixture datasets tokenize
    without unknown tokens. Width 32, two layers, 128 positions. Saved as the masked-LM model, as
    the hub checkpoints are, so loading a classifier initializes only its head. ``seed`` draws the
    weights. Loads offline with ``AutoModel``/``AutoModelForSequenceClassification`` and ``AutoTokenizer``.
    """
    import torch
    import transformers as tf
    from tokenizers import pre_tokenizers

    small = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}
    if kind == "xlm-roberta":
        pre = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(),
                                       pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")])
        vocab = _unigram_vocab(("<s>", "<pad>", "</s>", "<unk>"), pre, 400) + [("<mask>", 0.0)]
        tokenizer = tf.XLMRobertaTokenizer(vocab=vocab, model_max_length=128)
        config = tf.XLMRobertaConfig(vocab_size=len(vocab), max_position_embeddings=130, type_vocab_size=1,
                                     pad_token_id=1, bos_token_id=0, eos_token_id=2, **small)
        make = tf.XLMRobertaForMaskedLM
    elif kind == "bert":
        from tokenizers import Tokenizer, models, normalizers, trainers

        specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        wp = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        wp.normalizer = normalizers.BertNormalizer(lowercase=False, strip_accents=False, handle_chinese_chars=True)
        wp.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        wp.train_from_iterator(_corpus(), trainer=trainers.WordPieceTrainer(vocab_size=500, special_tokens=specials,
                                                                            show_progress=False))
        tokenizer = tf.BertTokenizerFast(vocab=wp.get_vocab(), do_lower_case=False, model_max_length=128)
        config = tf.BertConfig(vocab_size=wp.get_vocab_size(), max_position_embeddings=128, pad_token_id=0, **small)
        make = tf.BertForMaskedLM
    elif kind == "deberta-v2":
        pre = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
        vocab = _unigram_vocab(("[PAD]", "[CLS]", "[SEP]", "[UNK]"), pre, 400) + [("[MASK]", 0.0)]
        tokenizer = tf.DebertaV2TokenizerFast(vocab=vocab, do_lower_case=False, model_max_length=128)
        config = tf.DebertaV2Config(vocab_size=len(vocab), max_position_embeddings=128, pad_token_id=0,
                                    relative_attention=True, position_buckets=16, max_relative_positions=-1,
                                    pos_att_type=["p2c", "c2p"], position_biased_input=False, norm_rel_ebd="layer_norm",
                                    share_att_key=True, type_vocab_size=0, **small)
        make = tf.DebertaV2ForMaskedLM
    else:
        raise ValueError(f"kind={kind!r}; accepted: {', '.join(KINDS)}")
    torch.manual_seed(seed)
    model = make(config)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def make_spm_only_deberta_dir(path: Path, seed: int = 0) -> Path:
    """A tiny mDeBERTa-like encoder saved the way ``microsoft/mdeberta-v3-base`` ships its tokenizer:
    a SentencePiece model ``spm.model`` and ``tokenizer_config.json`` ``{"do_lower_case": false,
    "vocab_type": "spm"}`` beside ``config.json``, and no ``tokenizer.json``.

    transformers then has to build the tokenizer from ``spm.model``, which takes the sentencepiece
    (and protobuf) packages. The SentencePiece model is trained here with sentencepiece's own
    trainer on :data:`SENTENCES` (Unigram, as DeBERTa-v3's), with DeBERTa's ids: ``[PAD]`` 0,
    ``[CLS]`` 1, ``[SEP]`` 2, ``[UNK]`` 3; ``[MASK]`` is added after the pieces, as in the real
    vocabulary. The model is the ``deberta-v2`` kind of :func:`make_tiny_encoder_dir`; ``seed`` draws its weights.
    """
    import io

    import sentencepiece as spm
    import torch
    import transformers as tf

    proto = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(_corpus()), model_writer=proto, vocab_size=300,
                                   model_type="unigram", character_coverage=1.0, hard_vocab_limit=False,
                                   pad_id=0, bos_id=1, eos_id=2, unk_id=3, pad_piece="[PAD]", bos_piece="[CLS]",
                                   eos_piece="[SEP]", unk_piece="[UNK]", num_threads=1, minloglevel=2)
    pieces = spm.SentencePieceProcessor(model_proto=proto.getvalue()).get_piece_size()
    config = tf.DebertaV2Config(vocab_size=pieces + 1, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                intermediate_size=64, max_position_embeddings=128, pad_token_id=0,
                                relative_attention=True, position_buckets=16, max_relative_positions=-1,
                                pos_att_type="p2c|c2p", position_biased_input=False, norm_rel_ebd="layer_norm",
                                share_att_key=True, type_vocab_size=0)
    torch.manual_seed(seed)
    path.mkdir(parents=True, exist_ok=True)
    tf.DebertaV2ForMaskedLM(config).save_pretrained(path)
    (path / "spm.model").write_bytes(proto.getvalue())
    (path / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": False, "vocab_type": "spm"}))
    return path


def make_hub_cache(hub_cache: Path, repo: str, commit: str, files: Path, refs: Sequence[str] = ()) -> Path:
    """``files`` (a ``save_pretrained`` directory) as the snapshot of hub model ``repo`` at ``commit``
    in a huggingface_hub cache (``$HF_HOME/hub``): ``models--<org>--<name>/snapshots/<commit>/``,
    and ``refs/<name>`` files naming that commit for each branch in ``refs``. With
    ``HF_HUB_OFFLINE=1``, transformers loads ``repo`` at ``commit`` (or at a branch in ``refs``)
    from it exactly as after a download. Files are copied, not the cache's blob symlinks, which
    reading does not need."""
    import shutil

    root = hub_cache / f"models--{repo.replace('/', '--')}"
    shutil.copytree(files, root / "snapshots" / commit)
    for ref in refs:
        (root / "refs").mkdir(parents=True, exist_ok=True)
        (root / "refs" / ref).write_text(commit)
    return root


def _pairs(lang: str, plan: np.ndarray) -> tuple[list[str], list[str]]:
    """Premises and hypotheses in ``lang`` for ``plan`` rows (label, a, b, c): the premise is
    sentences a and b; entailment restates a, neutral states c (in neither), contradiction negates a."""
    s, neg = SENTENCES[lang], NEGATION[lang]
    premises, hypotheses = [], []
    for label, a, b, c in plan:
        premises.append(f"{s[a]} {s[b]}")
        hypotheses.append(s[a] if label == 0 else s[c] if label == 1 else f"{neg} {s[a]}")
    return premises, hypotheses


def _plan(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` rows (label, a, b, c): labels cycling through the classes in a shuffled order, three distinct sentences."""
    labels = rng.permutation(np.arange(n) % 3)
    picks = np.stack([rng.choice(6, size=3, replace=False) for _ in range(n)]) if n else np.zeros((0, 3), int)
    return np.column_stack([labels, picks]).astype(np.int64)


def _xnli_readme(languages: Sequence[str]) -> str:
    """``facebook/xnli``'s dataset card YAML, restricted to ``languages``: one config per language
    whose ``data_files`` are ``<lang>/<split>-*``, and its features."""
    lines = ["---", "configs:"]
    for lang in languages:
        lines += [f"- config_name: {lang}", "  data_files:"]
        lines += [f"  - split: {split}\n    path: {lang}/{split}-*" for split in ("train", "test", "validation")]
    lines.append("dataset_info:")
    for lang in languages:
        lines += [f"- config_name: {lang}", "  features:", "  - name: premise", "    dtype: string",
                  "  - name: hypothesis", "    dtype: string", "  - name: label", "    dtype:", "      class_label:",
                  "        names:", *(f"          '{i}': {name}" for i, name in enumerate(_CLASSES))]
    return "\n".join([*lines, "---", "", "# XNLI (tiny local copy for tests)", ""])


_MNLI_README = """---
configs:
- config_name: default
  data_files:
  - split: train
    path: data/train-*
  - split: validation_matched
    path: data/validation_matched-*
  - split: validation_mismatched
    path: data/validation_mismatched-*
---

# MultiNLI (tiny local copy for tests)
"""


def make_tiny_xnli_dir(path: Path, languages: Sequence[str] = ("en", "fr", "de"), per_split: int = 12,
                       seed: int = 0) -> Path:
    """Tiny copies of ``facebook/xnli`` (in ``path``) and ``nyu-mll/multi_nli`` (in ``path/multi_nli``).

    XNLI's layout and schema: ``<lang>/{train,validation,test}-00000-of-00001.parquet`` for each of
    ``languages`` plus a README whose YAML declares one config per language, columns ``premise``,
    ``hypothesis`` (strings) and ``label`` (``ClassLabel`` entailment, neutral, contradiction).
    MultiNLI's: ``multi_nli/data/{train,validation_matched,validation_mismatched}-00000-of-00001.parquet``
    with its ten columns (``promptID``, ``pairID``, the two sentences, their parses, ``genre``,
    ``label``). ``per_split`` pairs per split and language. As in the real data, every split is
    parallel across languages (the same pairs and labels, translated), and MultiNLI's training set
    holds the English training pairs. Pairs are built from :data:`SENTENCES` (see ``_pairs``).
    """
    import datasets

    bars = not datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()  # one bar per parquet file written
    try:
        _write_copies(path, languages, per_split, seed)
    finally:
        if bars:
            datasets.enable_progress_bars()
    return path


def _write_copies(path: Path, languages: Sequence[str], per_split: int, seed: int) -> None:
    from datasets import ClassLabel, Dataset, Features, Value

    unknown = sorted(set(languages) - set(SENTENCES))
    if unknown:
        raise ValueError(f"no fixture sentences for {', '.join(unknown)}; languages: {', '.join(SENTENCES)}")
    rng = np.random.default_rng(seed)
    plans = {split: _plan(rng, per_split) for split in ("train", "validation", "test")}
    label = ClassLabel(names=list(_CLASSES))
    xnli = Features({"premise": Value("string"), "hypothesis": Value("string"), "label": label})
    path.mkdir(parents=True, exist_ok=True)
    for lang in languages:
        (path / lang).mkdir(exist_ok=True)
        for split, plan in plans.items():
            premises, hypotheses = _pairs(lang, plan)
            rows = {"premise": premises, "hypothesis": hypotheses, "label": plan[:, 0].tolist()}
            Dataset.from_dict(rows, features=xnli).to_parquet(str(path / lang / f"{split}-00000-of-00001.parquet"))
    (path / "README.md").write_text(_xnli_readme(languages), encoding="utf-8")

    strings = ("pairID", "premise", "premise_binary_parse", "premise_parse", "hypothesis", "hypothesis_binary_parse",
               "hypothesis_parse", "genre")
    mnli = Features({"promptID": Value("int32"), **{k: Value("string") for k in strings}, "label": label})
    data = path / "multi_nli" / "data"
    data.mkdir(parents=True, exist_ok=True)
    mnli_plans = {"train": plans["train"], "validation_matched": plans["validation"],
                  "validation_mismatched": _plan(rng, per_split)}
    for split, plan in mnli_plans.items():
        premises, hypotheses = _pairs("en", plan)
        n = len(plan)
        rows = {"promptID": list(range(n)), "pairID": [f"{i}{'enc'[int(c)]}" for i, c in enumerate(plan[:, 0])],
                "premise": premises, "premise_binary_parse": [f"( {p} )" for p in premises],
                "premise_parse": [f"(ROOT {p})" for p in premises], "hypothesis": hypotheses,
                "hypothesis_binary_parse": [f"( {h} )" for h in hypotheses],
                "hypothesis_parse": [f"(ROOT {h})" for h in hypotheses],
                "genre": ["fiction" if i % 2 else "government" for i in range(n)], "label": plan[:, 0].tolist()}
        Dataset.from_dict(rows, features=mnli).to_parquet(str(data / f"{split}-00000-of-00001.parquet"))
    (path / "multi_nli" / "README.md").write_text(_MNLI_README, encoding="utf-8")
