#!/usr/bin/env python3
"""Makes the held-out OCR photo set, the OCR bad-input fixtures and the demo photo.

    python3 tests/heldout/ocr/make_photos.py            # everything
    python3 tests/heldout/ocr/make_photos.py --only heldout|bad|demo

Needs Python 3 with Pillow and numpy (nothing else), and the Debian font packages
fonts-dejavu, fonts-liberation, fonts-noto-cjk and fonts-noto-mono:

    apt-get install -y fonts-dejavu fonts-liberation fonts-noto-cjk fonts-noto-mono

It stops with a message naming the package when a font file is missing.

What it writes (paths relative to the repository root):
  tests/heldout/ocr/*.jpg        36 synthetic "phone photos" of error screens, device displays,
                                 dialogs and rating labels of the demo KB's invented products;
  tests/heldout/ocr.toml         their manifest: expected article, exact text, kind, conditions;
  tests/fixtures/ocr/            newspaper.jpg, blank-white.png, black.jpg, noise.png,
                                 upside-down.jpg: inputs that OCR must not answer from;
  www/demo/printer-error.jpg     the end-to-end demo photo (a printer display, not in the set).

How a photo is made: the screen or label is drawn with real fonts (segment displays and the
dot-matrix LCD are drawn segment by segment and dot by dot), set into a device face (bezel,
buttons, printed legends), then "photographed": a 3-D tilt of the face plane projected with a
pinhole camera, a small roll, a background (desk, wall, wood, tiles), a soft shadow, glare and
moire on the screen, defocus or motion blur, uneven light and vignetting, exposure, colour
cast, phone-style sharpening, sensor noise (luminance and chroma) and JPEG compression.

Everything is deterministic: every random number comes from numpy's PCG64 seeded from the
file name, and JPEG/PNG options are explicit, so two runs give byte-identical files (with the
same Pillow/libjpeg/FreeType versions). The photos are a held-out evaluation set: nothing in
them was used to choose the engine's thresholds, and they must not be used for that.
"""

import argparse
import math
import sys
import zlib
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]

# ----------------------------------------------------------------------------- fonts

FONT_FILES = {
    # key: (path, ttc index, Debian package)
    "sans": ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 0, "fonts-dejavu"),
    "sans-bold": ("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", 0, "fonts-dejavu"),
    "sans-cond-bold": ("/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed-Bold.ttf", 0, "fonts-dejavu"),
    "mono-bold": ("/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf", 0, "fonts-dejavu"),
    "lib-sans": ("/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf", 0, "fonts-liberation"),
    "lib-sans-bold": ("/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf", 0, "fonts-liberation"),
    "lib-narrow": ("/usr/share/fonts/truetype/liberation/LiberationSansNarrow-Regular.ttf", 0, "fonts-liberation"),
    "lib-narrow-bold": ("/usr/share/fonts/truetype/liberation/LiberationSansNarrow-Bold.ttf", 0, "fonts-liberation"),
    "lib-serif": ("/usr/share/fonts/truetype/liberation/LiberationSerif-Regular.ttf", 0, "fonts-liberation"),
    "lib-serif-bold": ("/usr/share/fonts/truetype/liberation/LiberationSerif-Bold.ttf", 0, "fonts-liberation"),
    "noto-mono": ("/usr/share/fonts/truetype/noto/NotoMono-Regular.ttf", 0, "fonts-noto-mono"),
    "noto-mono-bold": ("/usr/share/fonts/truetype/noto/NotoSansMono-Bold.ttf", 0, "fonts-noto-mono"),
    # Noto Sans/Serif CJK collections: index 2 is Simplified Chinese (SC).
    "cjk": ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2, "fonts-noto-cjk"),
    "cjk-bold": ("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc", 2, "fonts-noto-cjk"),
}

_font_cache = {}


def check_fonts():
    missing = [(k, p, pkg) for k, (p, _, pkg) in FONT_FILES.items() if not Path(p).is_file()]
    if missing:
        lines = "\n".join(f"  {p} (font '{k}', Debian package {pkg})" for k, p, pkg in missing)
        pkgs = " ".join(sorted({pkg for _, _, pkg in missing}))
        sys.exit(f"make_photos.py: missing font files:\n{lines}\ninstall them with: apt-get install -y {pkgs}")


def font(key, size):
    size = max(6, int(round(size)))
    if (key, size) not in _font_cache:
        path, index, _ = FONT_FILES[key]
        _font_cache[key, size] = ImageFont.truetype(path, size, index=index)
    return _font_cache[key, size]


def text_w(f, s):
    b = f.getbbox(s)
    return b[2] - b[0]


def fit_font(key, size, s, max_w):
    """The largest font of `key` up to `size` whose rendering of s fits in max_w."""
    while size > 8 and text_w(font(key, size), s) > max_w:
        size *= 0.95
    return font(key, size)


# ----------------------------------------------------------------------------- small helpers

def rng_for(name):
    return np.random.default_rng(zlib.crc32(name.encode()))


def u(rng, a, b):
    return float(rng.uniform(a, b))


def lowfreq(rng, w, h, cell, cell_y=None):
    """Smooth noise in [0, 1], shape (h, w), features about `cell` (by `cell_y`) pixels."""
    cy = cell_y or cell
    gw, gh = w // cell + 3, h // cy + 3
    g = (rng.random((gh, gw)) * 255).astype(np.uint8)
    big = Image.fromarray(g).resize((gw * cell, gh * cy), Image.Resampling.BICUBIC)
    ox, oy = int(rng.integers(0, cell)), int(rng.integers(0, cy))
    return np.asarray(big, dtype=np.float32)[oy:oy + h, ox:ox + w] / 255.0


def to_img(a):
    return Image.fromarray(np.clip(a * 255.0 + 0.5, 0, 255).astype(np.uint8))


def to_arr(img):
    return np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0


def plastic(w, h, color, rng, grain=0.025, sheen=0.06, mottle=0.03):
    """A plastic/metal surface: base colour, mottling, fine grain and a soft vertical sheen."""
    c = np.array(color[:3], np.float32) / 255.0
    a = np.ones((h, w, 3), np.float32) * c
    m = lowfreq(rng, w, h, max(40, w // 6))[..., None]
    a = a * (1.0 + mottle * (m - 0.5) * 2)
    g = rng.normal(0, grain, (h, w, 1)).astype(np.float32)
    a = a + g * 0.5
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    a = a + sheen * np.exp(-((y - u(rng, 0.15, 0.4)) ** 2) / 0.02)
    img = to_img(np.clip(a, 0, 1)).convert("RGBA")
    return img


def rounded_mask(w, h, r):
    m = Image.new("L", (w, h), 0)
    ImageDraw.Draw(m).rounded_rectangle((0, 0, w - 1, h - 1), r, fill=255)
    return m


def paste_rounded(dst, src, xy, r):
    dst.paste(src, xy, rounded_mask(src.size[0], src.size[1], r))


def warning_icon(d, cx, cy, s, fill, mark):
    d.polygon([(cx, cy - s * 0.55), (cx + s * 0.6, cy + s * 0.5), (cx - s * 0.6, cy + s * 0.5)], fill=fill)
    d.rectangle((cx - s * 0.06, cy - s * 0.2, cx + s * 0.06, cy + s * 0.22), fill=mark)
    d.ellipse((cx - s * 0.07, cy + s * 0.3, cx + s * 0.07, cy + s * 0.44), fill=mark)


def drop_icon(d, cx, cy, s, fill):
    d.ellipse((cx - s * 0.35, cy - s * 0.05, cx + s * 0.35, cy + s * 0.65), fill=fill)
    d.polygon([(cx, cy - s * 0.55), (cx + s * 0.3, cy + s * 0.1), (cx - s * 0.3, cy + s * 0.1)], fill=fill)


def lock_icon(d, cx, cy, s, fill, bg):
    d.rounded_rectangle((cx - s * 0.4, cy - s * 0.05, cx + s * 0.4, cy + s * 0.55), s * 0.08, fill=fill)
    d.arc((cx - s * 0.27, cy - s * 0.5, cx + s * 0.27, cy + s * 0.1), 180, 360, fill=fill, width=max(2, int(s * 0.11)))
    d.line((cx - s * 0.27, cy - s * 0.2, cx - s * 0.27, cy), fill=fill, width=max(2, int(s * 0.11)))
    d.line((cx + s * 0.27, cy - s * 0.2, cx + s * 0.27, cy), fill=fill, width=max(2, int(s * 0.11)))
    d.ellipse((cx - s * 0.08, cy + s * 0.15, cx + s * 0.08, cy + s * 0.31), fill=bg)


def battery_icon(d, x, y, w, h, level, fill, outline):
    d.rounded_rectangle((x, y, x + w, y + h), h * 0.15, outline=outline, width=max(2, int(h * 0.1)))
    d.rectangle((x + w, y + h * 0.3, x + w + h * 0.15, y + h * 0.7), fill=outline)
    p = max(2, int(h * 0.18))
    d.rectangle((x + p, y + p, x + p + (w - 2 * p) * level, y + h - p), fill=fill)


def wifi_icon(d, cx, cy, s, fill, width=None):
    width = width or max(2, int(s * 0.1))
    for k in (1.0, 0.68, 0.36):
        r = s * 0.5 * k
        d.arc((cx - r, cy - r, cx + r, cy + r), 225, 315, fill=fill, width=width)
    d.ellipse((cx - s * 0.06, cy - s * 0.06, cx + s * 0.06, cy + s * 0.06), fill=fill)


def signal_icon(d, x, y, s, fill):
    for i in range(4):
        hh = s * (0.3 + 0.23 * i)
        d.rectangle((x + i * s * 0.27, y + s - hh, x + i * s * 0.27 + s * 0.18, y + s), fill=fill)


def barcode(d, x, y, w, h, rng, fill):
    xs = x
    while xs < x + w:
        bw = int(rng.integers(1, 4)) * max(1, int(w / 160))
        if rng.random() < 0.55:
            d.rectangle((xs, y, min(x + w, xs + bw - 1), y + h), fill=fill)
        xs += bw


def qr_block(d, x, y, s, rng, fill, bg):
    n = 21
    c = s / n
    grid = rng.random((n, n)) < 0.5
    for fy, fx in ((0, 0), (0, n - 7), (n - 7, 0)):
        grid[fy:fy + 7, fx:fx + 7] = False
    for j in range(n):
        for i in range(n):
            if grid[j, i]:
                d.rectangle((x + i * c, y + j * c, x + (i + 1) * c, y + (j + 1) * c), fill=fill)
    for fy, fx in ((0, 0), (0, n - 7), (n - 7, 0)):
        X, Y = x + fx * c, y + fy * c
        d.rectangle((X, Y, X + 7 * c, Y + 7 * c), fill=fill)
        d.rectangle((X + c, Y + c, X + 6 * c, Y + 6 * c), fill=bg)
        d.rectangle((X + 2 * c, Y + 2 * c, X + 5 * c, Y + 5 * c), fill=fill)


# ----------------------------------------------------------------------------- segment displays

SEG7 = {
    "0": "abcdef", "1": "bc", "2": "abdeg", "3": "abcdg", "4": "bcfg", "5": "acdfg", "6": "acdefg",
    "7": "abc", "8": "abcdefg", "9": "abcdfg", "A": "abcefg", "b": "cdefg", "C": "adef", "d": "bcdeg",
    "E": "adefg", "F": "aefg", "H": "bcefg", "L": "def", "n": "ceg", "o": "cdeg", "P": "abefg",
    "r": "eg", "S": "acdfg", "t": "defg", "U": "bcdef", "-": "g", " ": "",
}


def seg7_polys(x, y, h, slant):
    """The seven segments of a digit cell at (x, y) of height h, as polygons."""
    w = h * 0.56
    t = h * 0.115
    g = t * 0.18
    hh = h / 2

    def hseg(cx, cy):
        L, R = cx - w / 2 + t / 2 + g, cx + w / 2 - t / 2 - g
        return [(L, cy), (L + t / 2, cy - t / 2), (R - t / 2, cy - t / 2), (R, cy), (R - t / 2, cy + t / 2), (L + t / 2, cy + t / 2)]

    def vseg(cx, y0, y1):
        T, B = y0 + t / 2 + g, y1 - t / 2 - g
        return [(cx, T), (cx + t / 2, T + t / 2), (cx + t / 2, B - t / 2), (cx, B), (cx - t / 2, B - t / 2), (cx - t / 2, T + t / 2)]

    cx = x + w / 2
    segs = {
        "a": hseg(cx, y + t / 2), "g": hseg(cx, y + hh), "d": hseg(cx, y + h - t / 2),
        "f": vseg(x + t / 2, y + t / 2, y + hh), "b": vseg(x + w - t / 2, y + t / 2, y + hh),
        "e": vseg(x + t / 2, y + hh, y + h - t / 2), "c": vseg(x + w - t / 2, y + hh, y + h - t / 2),
    }
    # Italic slant: shift x by the height above the baseline.
    return {k: [(px + (y + h - py) * slant, py) for px, py in v] for k, v in segs.items()}, w


def draw_seg7(d, x, y, h, text, on, off, slant=0.08, gap=0.28):
    """Draws text as seven-segment digits; unlit segments in `off` (ghosts) when given."""
    for ch in text:
        polys, w = seg7_polys(x, y, h, slant)
        lit = SEG7[ch]
        for k, p in polys.items():
            if k in lit:
                d.polygon(p, fill=on)
            elif off is not None:
                d.polygon(p, fill=off)
        x += w + h * gap
    return x


def seg7_width(text, h, gap=0.28):
    return len(text) * (h * 0.56 + h * gap) - h * gap


_glyph_cache = {}


def dot_glyph(ch):
    """A 5x8 dot-matrix bitmap of ch, sampled from DejaVu Sans Mono Bold (like an HD44780 LCD)."""
    if ch not in _glyph_cache:
        f = font("mono-bold", 120)
        im = Image.new("L", (100, 160), 0)
        ImageDraw.Draw(im).text((50, 128), ch, font=f, fill=255, anchor="ms")
        b = im.getbbox()
        g = np.zeros((8, 5), bool)
        if b:
            # Cell rows 0..6 hold cap height; keep the glyph's own aspect inside 5x7.
            cap = font("mono-bold", 120).getbbox("H", anchor="ls")
            top = 128 + cap[1]
            cw = max(b[2] - b[0], 1)
            crop = im.crop((b[0], top, b[0] + cw, 128)).resize((5 if cw > 30 else 3, 7), Image.Resampling.BOX)
            a = np.asarray(crop, np.float32) / 255
            bits = a > 0.42
            if bits.shape[1] == 3:
                g[0:7, 1:4] = bits
            else:
                g[0:7, :] = bits
        _glyph_cache[ch] = g
    return _glyph_cache[ch]


def draw_dot_matrix(d, x, y, lines, cols, dot, on, off):
    """Character LCD: `cols` cells per line, each 5x8 dots of pitch `dot`."""
    cw, chh = 6 * dot, 9.5 * dot
    for r, line in enumerate(lines):
        for c in range(cols):
            ch = line[c] if c < len(line) else " "
            g = dot_glyph(ch) if ch != " " else np.zeros((8, 5), bool)
            for j in range(8):
                for i in range(5):
                    px, py = x + c * cw + i * dot, y + r * chh + j * dot
                    d.rectangle((px, py, px + dot * 0.86, py + dot * 0.86), fill=on if g[j, i] else off)
    return cols * cw, len(lines) * chh


# ----------------------------------------------------------------------------- faces
# A builder returns (face RGBA, screen box in face pixels or None, surface kind). The text the
# photo shows is the scene's `text`; builders draw exactly those lines.

@dataclass
class Scene:
    file: str
    kb: str
    expect: str
    kind: str
    text: str
    build: object
    opts: dict = field(default_factory=dict)
    conditions: list = field(default_factory=list)
    size: tuple = (1280, 960)
    bg: str = "desk"
    fill: float = 0.0  # fraction of the frame the face spans (0: chosen from the kind)


def lines_of(s):
    return s.text.split("\n")


def truth(s):
    """The ground-truth text: `|` separates items drawn side by side on one line."""
    return s.text.replace("|", " ")


def face_colour_lcd(s, rng):
    """Printer-style control panel: a small colour LCD with a warning header and message lines."""
    o = s.opts
    L = lines_of(s)
    brand, head, body = (L[0], L[1], L[2:]) if o.get("brand") else (None, L[0], L[1:])
    W, H = 1500, 900
    face = plastic(W, H, o.get("panel", (52, 54, 58)), rng)
    d = ImageDraw.Draw(face)
    sx0, sy0, sx1, sy1 = 250, 170, 1130, 700
    d.rounded_rectangle((sx0 - 26, sy0 - 26, sx1 + 26, sy1 + 26), 30, fill=(20, 21, 23))
    scr = Image.new("RGBA", (sx1 - sx0, sy1 - sy0), o.get("screen", (238, 240, 236)))
    sd = ImageDraw.Draw(scr)
    sw, sh = scr.size
    hb = 130
    sd.rectangle((0, 0, sw, hb), fill=o.get("header", (232, 140, 28)))
    fb = o.get("font_bold", "sans-bold")
    fr = o.get("font", "sans")
    warning_icon(sd, 75, hb / 2, 80, (255, 255, 255), o.get("header", (232, 140, 28)))
    hf = fit_font(fb, 66, head, sw - 160)
    sd.text((135, hb / 2), head, font=hf, fill=(255, 255, 255), anchor="lm")
    size = o.get("body_size", 52)
    bf = font(fr, size)
    for ln in body:
        bf = fit_font(fr, min(size, bf.size), ln, sw - 90)
    y = hb + 70
    for ln in body:
        sd.text((45, y), ln, font=bf, fill=o.get("ink", (30, 32, 36)), anchor="ls")
        y += bf.size * 1.32
    face.paste(scr, (sx0, sy0))
    if brand:
        d.text((sx0 - 20, 100), brand, font=font(o.get("brand_font", "sans-bold"), 54), fill=(200, 202, 205), anchor="ls")
    # Buttons: cancel (x), OK (check), home; icons only.
    for i, by in enumerate((250, 430, 610)):
        cx = 1300
        d.ellipse((cx - 70, by - 70, cx + 70, by + 70), fill=(70, 72, 77), outline=(30, 30, 32), width=4)
        if i == 0:
            d.line((cx - 25, by - 25, cx + 25, by + 25), fill=(220, 80, 60), width=10)
            d.line((cx - 25, by + 25, cx + 25, by - 25), fill=(220, 80, 60), width=10)
        elif i == 1:
            d.line((cx - 30, by, cx - 8, by + 24, cx + 32, by - 24), fill=(120, 210, 120), width=10, joint="curve")
        else:
            d.polygon([(cx, by - 32), (cx + 32, by), (cx + 22, by), (cx + 22, by + 28), (cx - 22, by + 28), (cx - 22, by), (cx - 32, by)], fill=(210, 210, 210))
    d.ellipse((100, 770, 130, 800), fill=(240, 150, 40))  # warning light
    return face, (sx0, sy0, sx1, sy1), "screen"


def face_dot_matrix(s, rng):
    o = s.opts
    L = lines_of(s)
    cols = 16
    dot = 14
    W, H = 1500, 760
    face = plastic(W, H, o.get("panel", (205, 203, 196)), rng, sheen=0.05)
    d = ImageDraw.Draw(face)
    lw, lh = cols * 6 * dot + 80, 2 * 9.5 * dot + 70
    x0, y0 = (W - lw) / 2, 200
    d.rounded_rectangle((x0 - 40, y0 - 40, x0 + lw + 40, y0 + lh + 40), 20, fill=(60, 62, 60))
    d.rectangle((x0, y0, x0 + lw, y0 + lh), fill=o.get("back", (150, 190, 40)))
    draw_dot_matrix(d, x0 + 40, y0 + 38, L, cols, dot, o.get("on", (30, 45, 20)), o.get("off", (140, 178, 42)))
    for i in range(4):
        cx = 330 + i * 280
        d.rounded_rectangle((cx - 90, 560, cx + 90, 650), 40, fill=(150, 148, 142), outline=(110, 108, 104), width=3)
    return face, (x0, y0, x0 + lw, y0 + lh), "screen"


def face_seg_panel(s, rng):
    """Appliance panel: a segment display, icons, printed button legends under round buttons."""
    o = s.opts
    L = lines_of(s)
    i = 0
    brand = None
    if o.get("brand"):
        brand, i = L[0], 1
    code = L[i]
    legends = L[i + 1].split("|") if len(L) > i + 1 else []
    legend_text = o.get("legends", legends)
    W, H = o.get("face_size", (1600, 820))
    face = plastic(W, H, o.get("panel", (236, 236, 232)), rng, sheen=o.get("sheen", 0.05))
    d = ImageDraw.Draw(face)
    dh = o.get("digit_h", 200)
    dw = seg7_width(code, dh)
    win_w, win_h = max(dw + 200, o.get("win_w", 560)), dh + 140
    wx0 = o.get("win_x", (W - win_w) / 2)
    wy0 = o.get("win_y", 170)
    d.rounded_rectangle((wx0 - 18, wy0 - 18, wx0 + win_w + 18, wy0 + win_h + 18), 24, fill=o.get("frame", (150, 150, 150)))
    d.rectangle((wx0, wy0, wx0 + win_w, wy0 + win_h), fill=o.get("back", (20, 20, 22)))
    draw_seg7(d, wx0 + (win_w - dw) / 2, wy0 + 70, dh, code, o.get("on", (255, 40, 30)), o.get("off"), o.get("slant", 0.08))
    for ic in o.get("icons", []):
        kind, fx, fy = ic
        cx, cy = wx0 + fx * win_w, wy0 + fy * win_h
        col = o.get("icon_on", o.get("on", (255, 40, 30)))
        if kind == "lock":
            lock_icon(d, cx, cy, 46, col, o.get("back", (20, 20, 22)))
        elif kind == "drop":
            drop_icon(d, cx, cy, 44, (250, 150, 30))
        elif kind == "dim-drop":
            drop_icon(d, cx, cy, 44, o.get("off") or (40, 40, 40))
    if brand:
        bf = font(o.get("brand_font", "sans-bold"), o.get("brand_size", 58))
        d.text((o.get("brand_x", 90), o.get("brand_y", 110)), brand, font=bf, fill=o.get("brand_ink", (90, 92, 96)), anchor="ls")
    n = len(legend_text)
    if n:
        lf_key = o.get("legend_font", "sans-bold")
        span = o.get("legend_span", (200, W - 200))
        by = wy0 + win_h + 150
        for k, lg in enumerate(legend_text):
            cx = span[0] + (span[1] - span[0]) * (k + 0.5) / n
            r = 58
            d.ellipse((cx - r, by - r, cx + r, by + r), fill=o.get("button", (215, 215, 210)), outline=o.get("button_edge", (170, 170, 166)), width=5)
            lf = fit_font(lf_key, o.get("legend_size", 44), lg, (span[1] - span[0]) / n - 20)
            d.text((cx, by + r + 30), lg, font=lf, fill=o.get("legend_ink", (70, 72, 76)), anchor="mt")
    return face, (wx0, wy0, wx0 + win_w, wy0 + win_h), "screen"


def desktop_wallpaper(w, h, rng, c1, c2):
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    x = np.linspace(0, 1, w, dtype=np.float32)[None, :, None]
    a = np.array(c1, np.float32) / 255 * (1 - y) + np.array(c2, np.float32) / 255 * y
    blob = lowfreq(rng, w, h, max(60, w // 4))[..., None]
    a = a * (0.8 + 0.4 * blob) + 0.05 * np.sin(x * 6 + y * 3)
    return to_img(np.clip(a, 0, 1)).convert("RGBA")


def screen_in_bezel(scr, rng, style):
    """Puts a screen image in a laptop lid, monitor or TV frame."""
    sw, sh = scr.size
    if style == "laptop":
        bz, bot = 46, 70
        W, H = sw + 2 * bz, sh + bz + bot + 120
        face = Image.new("RGBA", (W, H), (0, 0, 0, 0))
        lid = plastic(W, sh + bz + bot, (22, 22, 24), rng, grain=0.01, sheen=0.02)
        paste_rounded(face, lid, (0, 0), 30)
        deck = plastic(W + 0, 120, (170, 172, 176), rng, grain=0.015)
        face.paste(deck, (0, sh + bz + bot))
        ImageDraw.Draw(face).ellipse((W / 2 - 6, bz / 2 - 6, W / 2 + 6, bz / 2 + 6), fill=(40, 40, 44))
        face.paste(scr, (bz, bz))
        return face, (bz, bz, bz + sw, bz + sh)
    if style == "monitor":
        bz = 30
        W, H = sw + 2 * bz, sh + 2 * bz + 26
        face = plastic(W, H, (28, 28, 30), rng, grain=0.01, sheen=0.02)
        face.paste(scr, (bz, bz))
        return face, (bz, bz, bz + sw, bz + sh)
    if style == "tv":
        bz, bot = 22, 74
        W, H = sw + 2 * bz, sh + bz + bot
        face = plastic(W, H, (14, 14, 15), rng, grain=0.008, sheen=0.015)
        face.paste(scr, (bz, bz))
        d = ImageDraw.Draw(face)
        d.text((W / 2, sh + bz + bot / 2 + 4), "Vista", font=font("sans", 40), fill=(150, 150, 152), anchor="mm")
        return face, (bz, bz, bz + sw, bz + sh)
    raise ValueError(style)


def face_desktop_window(s, rng):
    """A desktop OS dialog window (title bar, heading, body, buttons) on a laptop or monitor."""
    o = s.opts
    L = lines_of(s)
    title, head = L[0], L[1]
    nbtn = o.get("buttons", 1)
    body = L[2:len(L) - 1] if nbtn else L[2:]
    btns = L[-1].split("|") if nbtn else []
    sw, sh = 1600, 1000
    scr = desktop_wallpaper(sw, sh, rng, o.get("wall1", (30, 80, 140)), o.get("wall2", (10, 30, 60)))
    d = ImageDraw.Draw(scr)
    d.rectangle((0, sh - 60, sw, sh), fill=(24, 26, 30))
    for k in range(6):
        d.rounded_rectangle((640 + k * 60, sh - 48, 680 + k * 60, sh - 12), 6, fill=(80 + 20 * k, 120, 170))
    fr, fb = o.get("font", "sans"), o.get("font_bold", "sans-bold")
    ww, wh = 980, 250 + 64 * len(body) + (110 if nbtn else 20)
    wx, wy = (sw - ww) / 2 + o.get("dx", 0), (sh - 60 - wh) / 2
    d.rounded_rectangle((wx + 12, wy + 16, wx + ww + 12, wy + wh + 16), 14, fill=(0, 0, 0, 90))
    d.rounded_rectangle((wx, wy, wx + ww, wy + wh), 12, fill=o.get("win", (250, 250, 250)))
    d.rounded_rectangle((wx, wy, wx + ww, wy + 64), 12, fill=o.get("titlebar", (236, 238, 242)))
    d.rectangle((wx, wy + 40, wx + ww, wy + 64), fill=o.get("titlebar", (236, 238, 242)))
    d.text((wx + 30, wy + 32), title, font=font(fr, 30), fill=(40, 40, 44), anchor="lm")
    for k, ch in enumerate("x"):
        d.line((wx + ww - 48, wy + 20, wx + ww - 24, wy + 44), fill=(60, 60, 60), width=3)
        d.line((wx + ww - 48, wy + 44, wx + ww - 24, wy + 20), fill=(60, 60, 60), width=3)
    icol = o.get("icon", (215, 60, 50))
    if o.get("icon_kind", "warn") == "warn":
        warning_icon(d, wx + 90, wy + 150, 90, (240, 170, 30), (40, 30, 10))
    else:
        d.ellipse((wx + 45, wy + 105, wx + 135, wy + 195), fill=icol)
        d.line((wx + 70, wy + 130, wx + 110, wy + 170), fill=(255, 255, 255), width=9)
        d.line((wx + 70, wy + 170, wx + 110, wy + 130), fill=(255, 255, 255), width=9)
    hf = fit_font(fb, 50, head, ww - 220)
    d.text((wx + 170, wy + 170), head, font=hf, fill=(25, 25, 28), anchor="ls")
    bf = font(fr, 34)
    for ln in body:
        bf = fit_font(fr, min(34, bf.size), ln, ww - 210)
    y = wy + 245
    for ln in body:
        d.text((wx + 170, y), ln, font=bf, fill=(60, 62, 66), anchor="ls")
        y += 64
    bx = wx + ww - 40
    for k, b in enumerate(reversed(btns)):
        tw = text_w(font(fr, 32), b) + 80
        primary = k == 0
        d.rounded_rectangle((bx - tw, wy + wh - 90, bx, wy + wh - 30), 8, fill=(0, 100, 200) if primary else (225, 227, 232))
        d.text((bx - tw / 2, wy + wh - 60), b, font=font(fr, 32), fill=(255, 255, 255) if primary else (30, 30, 30), anchor="mm")
        bx -= tw + 24
    face, box = screen_in_bezel(scr, rng, o.get("bezel", "laptop"))
    return face, box, "screen"


def face_desktop_toast(s, rng):
    """A dark notification or battery flyout at the bottom right of a desktop."""
    o = s.opts
    L = lines_of(s)
    sw, sh = 1600, 1000
    scr = desktop_wallpaper(sw, sh, rng, o.get("wall1", (120, 60, 110)), o.get("wall2", (20, 20, 50)))
    d = ImageDraw.Draw(scr)
    d.rectangle((0, sh - 60, sw, sh), fill=(22, 22, 26))
    for k in range(5):
        d.rounded_rectangle((660 + k * 60, sh - 48, 700 + k * 60, sh - 12), 6, fill=(90, 90 + 25 * k, 160))
    fr, fb = o.get("font", "sans"), o.get("font_bold", "sans-bold")
    tw, th = 760, 120 + 70 * (len(L) - 1)
    tx, ty = sw - tw - 30, sh - 60 - th - 30
    d.rounded_rectangle((tx, ty, tx + tw, ty + th), 16, fill=o.get("card", (40, 42, 48)))
    if o.get("style") == "battery":
        big, rest = L[0], L[1:]
        battery_icon(d, tx + 40, ty + 45, 90, 44, 0.87, (120, 220, 120), (230, 230, 230))
        d.text((tx + 170, ty + 88), big, font=font(fb, 64), fill=(250, 250, 250), anchor="ls")
        y = ty + 165
        for ln in rest:
            d.text((tx + 40, y), ln, font=fit_font(fr, 36, ln, tw - 80), fill=(225, 225, 230), anchor="ls")
            y += 62
    else:
        app, head, rest = L[0], L[1], L[2:]
        d.rounded_rectangle((tx + 30, ty + 26, tx + 70, ty + 66), 8, fill=(0, 150, 210))
        d.text((tx + 90, ty + 46), app, font=font(fr, 28), fill=(200, 200, 205), anchor="lm")
        d.text((tx + 30, ty + 125), head, font=font(fb, 42), fill=(255, 255, 255), anchor="ls")
        y = ty + 185
        for ln in rest:
            d.text((tx + 30, y), ln, font=fit_font(fr, 34, ln, tw - 60), fill=(220, 220, 225), anchor="ls")
            y += 56
    face, box = screen_in_bezel(scr, rng, o.get("bezel", "laptop"))
    return face, box, "screen"


def face_web_status(s, rng):
    """A router admin page in a browser: address bar, header, status card."""
    o = s.opts
    L = lines_of(s)
    url, product, rest = L[0], L[1], L[2:]
    sw, sh = 1600, 1000
    scr = Image.new("RGBA", (sw, sh), (246, 247, 249))
    d = ImageDraw.Draw(scr)
    d.rectangle((0, 0, sw, 110), fill=(222, 225, 230))
    d.rounded_rectangle((180, 30, sw - 200, 82), 26, fill=(255, 255, 255))
    d.text((230, 56), url, font=font(o.get("font", "sans"), 28), fill=(50, 50, 55), anchor="lm")
    for k in range(3):
        d.ellipse((30 + k * 40, 44, 54 + k * 40, 68), fill=(150, 150, 155))
    d.rectangle((0, 110, sw, 220), fill=o.get("brand_bg", (20, 60, 110)))
    fb = o.get("font_bold", "sans-bold")
    fr = o.get("font", "sans")
    d.text((80, 165), product, font=font(fb, 48), fill=(255, 255, 255), anchor="lm")
    wifi_icon(d, sw - 120, 175, 80, (255, 255, 255))
    cx0, cy0 = 200, 300
    d.rounded_rectangle((cx0, cy0, sw - 200, cy0 + 140 + 80 * len(rest)), 18, fill=(255, 255, 255), outline=(220, 222, 226), width=3)
    d.ellipse((cx0 + 50, cy0 + 60, cx0 + 110, cy0 + 120), fill=(220, 50, 45))
    d.line((cx0 + 65, cy0 + 75, cx0 + 95, cy0 + 105), fill=(255, 255, 255), width=8)
    d.line((cx0 + 65, cy0 + 105, cx0 + 95, cy0 + 75), fill=(255, 255, 255), width=8)
    y = cy0 + 108
    for k, ln in enumerate(rest):
        f = font(fb, 50) if k == 0 else fit_font(fr, 38, ln, sw - 2 * cx0 - 200)
        d.text((cx0 + 150, y), ln, font=f, fill=(200, 40, 35) if k == 0 else (60, 62, 68), anchor="ls")
        y += 90 if k == 0 else 68
    face, box = screen_in_bezel(scr, rng, o.get("bezel", "monitor"))
    return face, box, "screen"


def face_bios(s, rng):
    o = s.opts
    sw, sh = 1600, 1000
    scr = Image.new("RGBA", (sw, sh), (0, 0, 0))
    d = ImageDraw.Draw(scr)
    f = font(o.get("font", "noto-mono"), o.get("size", 40))
    y = 120
    for ln in lines_of(s):
        d.text((90, y), ln, font=f, fill=o.get("ink", (200, 200, 200)), anchor="ls")
        y += f.size * 1.5
    d.rectangle((90, y - f.size * 1.1, 90 + f.size * 0.55, y - f.size * 0.9), fill=o.get("ink", (200, 200, 200)))  # cursor
    face, box = screen_in_bezel(scr, rng, "laptop")
    return face, box, "screen"


def tv_picture(w, h, rng):
    """A blurred 'programme' frame: colour fields and shapes, no text."""
    a = np.zeros((h, w, 3), np.float32)
    for c in range(3):
        a[..., c] = lowfreq(rng, w, h, max(80, w // 5)) * u(rng, 0.4, 0.9)
    img = to_img(a).convert("RGBA")
    d = ImageDraw.Draw(img)
    for _ in range(8):
        x, y, r = u(rng, 0, w), u(rng, 0, h), u(rng, 40, 260)
        col = tuple(int(v) for v in rng.integers(40, 230, 3))
        d.ellipse((x - r, y - r, x + r, y + r), fill=col)
    return img.filter(ImageFilter.GaussianBlur(30))


def face_tv(s, rng):
    o = s.opts
    L = lines_of(s)
    if L[-1] == "Vista":  # the logo under the screen, when the photo shows it (it is always there)
        L = L[:-1]
    sw, sh = 1920, 1080
    style = o.get("style", "nosignal")
    fr, fb = o.get("font", "sans"), o.get("font_bold", "sans-bold")
    if style == "nosignal":
        scr = Image.new("RGBA", (sw, sh), (6, 6, 8))
        d = ImageDraw.Draw(scr)
        bw, bh = 900, 360
        bx, by = (sw - bw) / 2, (sh - bh) / 2
        d.rounded_rectangle((bx, by, bx + bw, by + bh), 24, fill=o.get("box", (40, 44, 52)))
        d.text((sw / 2, by + 80), L[0], font=font(fr, 44), fill=(190, 190, 195), anchor="mm")
        d.text((sw / 2, by + 175), L[1], font=font(fb, 84), fill=(255, 255, 255), anchor="mm")
        for k, ln in enumerate(L[2:]):
            d.text((sw / 2, by + 270 + k * 52), ln, font=fit_font(fr, 38, ln, bw - 60), fill=(185, 188, 195), anchor="mm")
    elif style == "dialog":
        scr = tv_picture(sw, sh, rng)
        d = ImageDraw.Draw(scr)
        d.rectangle((0, 0, sw, sh), fill=(0, 0, 0, 110))
        scr = Image.alpha_composite(tv_picture(sw, sh, rng), scr)
        d = ImageDraw.Draw(scr)
        title, head, rest = L[0], L[1], L[2:]
        btns = rest[-1].split("|")
        body = rest[:-1]
        bw, bh = 1100, 300 + 60 * len(body) + 120
        bx, by = (sw - bw) / 2, (sh - bh) / 2
        d.rounded_rectangle((bx, by, bx + bw, by + bh), 20, fill=o.get("box", (16, 60, 150)))
        d.text((bx + 60, by + 75), title, font=font(fr, 40), fill=(200, 215, 255), anchor="ls")
        d.text((bx + 60, by + 175), head, font=font(fb, 64), fill=(255, 255, 255), anchor="ls")
        y = by + 260
        for ln in body:
            d.text((bx + 60, y), ln, font=fit_font(fr, 40, ln, bw - 120), fill=(235, 240, 255), anchor="ls")
            y += 60
        x = bx + 60
        for k, b in enumerate(btns):
            tw = text_w(font(fr, 40), b) + 100
            d.rounded_rectangle((x, by + bh - 120, x + tw, by + bh - 50), 12, fill=(255, 255, 255) if k == 0 else (60, 100, 190))
            d.text((x + tw / 2, by + bh - 85), b, font=font(fr, 40), fill=(16, 60, 150) if k == 0 else (255, 255, 255), anchor="mm")
            x += tw + 30
    else:  # toast
        scr = tv_picture(sw, sh, rng)
        d = ImageDraw.Draw(scr)
        head, rest = L[0], L[1:]
        bw, bh = 820, 150 + 58 * len(rest)
        bx, by = sw - bw - 80, 80
        d.rounded_rectangle((bx, by, bx + bw, by + bh), 22, fill=(20, 22, 26, 235))
        d.rounded_rectangle((bx + 40, by + 45, bx + 90, by + 125), 20, outline=(230, 230, 230), width=6)
        d.line((bx + 30, by + 40, bx + 100, by + 130), fill=(230, 80, 60), width=7)
        d.text((bx + 130, by + 90), head, font=font(fb, 52), fill=(255, 255, 255), anchor="ls")
        y = by + 150
        for ln in rest:
            d.text((bx + 130, y), ln, font=fit_font(fr, 38, ln, bw - 170), fill=(210, 210, 215), anchor="ls")
            y += 58
    face, box = screen_in_bezel(scr, rng, "tv")
    return face, box, "screen"


def phone_shell(scr, rng, body=(18, 18, 20)):
    sw, sh = scr.size
    bz = 34
    W, H = sw + 2 * bz, sh + 2 * bz
    face = Image.new("RGBA", (W, H), (0, 0, 0, 0))
    shell = plastic(W, H, body, rng, grain=0.008, sheen=0.02)
    paste_rounded(face, shell, (0, 0), 110)
    paste_rounded(face, scr, (bz, bz), 80)
    ImageDraw.Draw(face).ellipse((W / 2 - 16, bz + 26, W / 2 + 16, bz + 58), fill=(5, 5, 8))
    return face, (bz, bz, bz + sw, bz + sh)


def status_bar(d, sw, fg):
    signal_icon(d, 60, 40, 36, fg)
    wifi_icon(d, 150, 70, 48, fg, width=5)
    battery_icon(d, sw - 140, 42, 70, 32, 0.34, fg, fg)


def face_phone(s, rng):
    o = s.opts
    L = lines_of(s)
    sw, sh = 1000, 2100
    style = o.get("style", "alert")
    fr, fb = o.get("font", "sans"), o.get("font_bold", "sans-bold")
    if style == "alert":
        scr = desktop_wallpaper(sw, sh, rng, o.get("wall1", (40, 90, 120)), o.get("wall2", (120, 60, 90)))
        d = ImageDraw.Draw(scr)
        d.rectangle((0, 0, sw, sh), fill=(0, 0, 0, 0))
        ov = Image.new("RGBA", (sw, sh), (0, 0, 0, 120))
        scr = Image.alpha_composite(scr, ov)
        d = ImageDraw.Draw(scr)
        status_bar(d, sw, (240, 240, 240))
        head, body, btn = L[0], L[1:-1], L[-1]
        cw = 860
        ch = 330 + 62 * len(body) + 120
        cx, cy = (sw - cw) / 2, (sh - ch) / 2
        d.rounded_rectangle((cx, cy, cx + cw, cy + ch), 50, fill=o.get("card", (250, 250, 252)))
        drop_icon(d, sw / 2, cy + 110, 90, (30, 120, 220))
        hf = fit_font(fb, 56, head, cw - 80)
        d.text((sw / 2, cy + 235), head, font=hf, fill=(20, 20, 24), anchor="ms")
        y = cy + 320
        bf = font(fr, 42)
        for ln in body:
            bf = fit_font(fr, min(42, bf.size), ln, cw - 100)
        for ln in body:
            d.text((sw / 2, y), ln, font=bf, fill=(70, 72, 78), anchor="ms")
            y += 62
        d.text((sw / 2, cy + ch - 70), btn, font=font(fb, 46), fill=(30, 110, 220), anchor="ms")
    elif style == "notification":
        scr = desktop_wallpaper(sw, sh, rng, o.get("wall1", (200, 130, 80)), o.get("wall2", (60, 40, 90)))
        d = ImageDraw.Draw(scr)
        status_bar(d, sw, (250, 250, 250))
        app, head, rest = L[0], L[1], L[2:]
        cw, ch = 920, 230 + 60 * len(rest)
        cx, cy = (sw - cw) / 2, 190
        d.rounded_rectangle((cx, cy, cx + cw, cy + ch), 44, fill=(248, 248, 250, 245))
        d.ellipse((cx + 40, cy + 36, cx + 100, cy + 96), fill=(0, 160, 140))
        d.text((cx + 125, cy + 66), app, font=font(fr, 36), fill=(90, 90, 96), anchor="lm")
        d.text((cx + 40, cy + 168), head, font=fit_font(fb, 50, head, cw - 80), fill=(20, 20, 24), anchor="ls")
        y = cy + 230
        for ln in rest:
            d.text((cx + 40, y), ln, font=fit_font(fr, 42, ln, cw - 80), fill=(60, 60, 66), anchor="ls")
            y += 60
    else:  # app page
        scr = Image.new("RGBA", (sw, sh), o.get("page", (245, 246, 248)))
        d = ImageDraw.Draw(scr)
        d.rectangle((0, 0, sw, 320), fill=o.get("bar", (20, 60, 110)))
        status_bar(d, sw, (250, 250, 250))
        title, head, rest = L[0], L[1], L[2:]
        d.text((70, 240), title, font=font(fb, 60), fill=(255, 255, 255), anchor="ls")
        cy = 420
        ch = 420 + 66 * len(rest)
        d.rounded_rectangle((50, cy, sw - 50, cy + ch), 40, fill=(255, 255, 255))
        d.ellipse((sw / 2 - 90, cy + 60, sw / 2 + 90, cy + 240), fill=o.get("icon", (225, 60, 50)))
        d.rectangle((sw / 2 - 10, cy + 100, sw / 2 + 10, cy + 175), fill=(255, 255, 255))
        d.ellipse((sw / 2 - 13, cy + 190, sw / 2 + 13, cy + 216), fill=(255, 255, 255))
        d.text((sw / 2, cy + 335), head, font=fit_font(fb, 64, head, sw - 160), fill=(25, 25, 30), anchor="ms")
        y = cy + 420
        bf = font(fr, 44)
        for ln in rest:
            bf = fit_font(fr, min(44, bf.size), ln, sw - 180)
        for ln in rest:
            d.text((sw / 2, y), ln, font=bf, fill=(80, 82, 88), anchor="ms")
            y += 66
        for k in range(3):
            d.rounded_rectangle((50, cy + ch + 60 + k * 170, sw - 50, cy + ch + 200 + k * 170), 30, fill=(255, 255, 255))
            d.rounded_rectangle((100, cy + ch + 110 + k * 170, 420 - 60 * k, cy + ch + 150 + k * 170), 12, fill=(225, 227, 232))
    face, box = phone_shell(scr, rng)
    return face, box, "screen"


def face_camera(s, rng):
    o = s.opts
    L = lines_of(s)
    sw, sh = 1200, 800
    scr = tv_picture(sw, sh, rng)
    ov = Image.new("RGBA", (sw, sh), (0, 0, 0, 90))
    scr = Image.alpha_composite(scr, ov)
    d = ImageDraw.Draw(scr)
    battery_icon(d, sw - 150, 40, 80, 38, 0.25, (240, 70, 50), (240, 240, 240))
    fr = o.get("font", "sans")
    mb = o.get("msg_box", (0, 0, 0, 200))
    bh = 120 + 90 * len(L)
    d.rectangle((80, (sh - bh) / 2, sw - 80, (sh + bh) / 2), fill=mb)
    y = (sh - bh) / 2 + 60 + 70
    for ln in L:
        d.text((sw / 2, y), ln, font=fit_font(fr, o.get("size", 68), ln, sw - 240), fill=o.get("ink", (255, 255, 255)), anchor="ms")
        y += 90
    if o.get("card_icon"):
        x0, y0 = 70, 40
        d.polygon([(x0, y0), (x0 + 50, y0), (x0 + 66, y0 + 16), (x0 + 66, y0 + 80), (x0, y0 + 80)], fill=(240, 200, 40))
        lock_icon(d, x0 + 33, y0 + 44, 34, (40, 40, 40), (240, 200, 40))
    W, H = 2000, 1150
    face = plastic(W, H, o.get("body", (48, 48, 52)), rng, grain=0.035, sheen=0.04)
    fd = ImageDraw.Draw(face)
    x0, y0 = 120, 160
    fd.rounded_rectangle((x0 - 30, y0 - 30, x0 + sw + 30, y0 + sh + 30), 24, fill=(12, 12, 14))
    face.paste(scr, (x0, y0))
    cx, cy = 1650, 620
    fd.ellipse((cx - 190, cy - 190, cx + 190, cy + 190), fill=(70, 70, 76), outline=(30, 30, 32), width=6)
    fd.ellipse((cx - 80, cy - 80, cx + 80, cy + 80), fill=(95, 95, 100))
    for k in range(3):
        fd.ellipse((1560 + k * 0 - 50, 200 + k * 0, 1560 + 50, 300), fill=(80, 80, 86))
    fd.ellipse((1700, 920, 1800, 1020), fill=(80, 80, 86))
    return face, (x0, y0, x0 + sw, y0 + sh), "screen"


def face_label(s, rng):
    """A rating/serial label: sticker with printed lines, barcode and code block on a surface."""
    o = s.opts
    L = lines_of(s)
    W, H = o.get("face_size", (1800, 1200))
    surface = o.get("surface", (30, 31, 34))
    face = plastic(W, H, surface, rng, grain=o.get("grain", 0.02), sheen=0.03)
    d = ImageDraw.Draw(face)
    if o.get("round"):  # a round kettle base seen from below: moulded rings, centre connector
        W = H
        disk = plastic(W, H, surface, rng, grain=o.get("grain", 0.02), sheen=0.03)
        dd = ImageDraw.Draw(disk)
        dd.ellipse((W * 0.03, H * 0.03, W * 0.97, H * 0.97), outline=(205, 203, 197), width=14)
        cx, cy = W / 2, H * 0.27
        for r, col in ((0.15, (214, 212, 206)), (0.11, (160, 160, 160)), (0.06, (95, 95, 97))):
            dd.ellipse((cx - r * W, cy - r * W, cx + r * W, cy + r * W), fill=col)
        for k in range(4):  # rubber feet
            a = math.pi / 4 + k * math.pi / 2
            fx, fy = W / 2 + math.cos(a) * W * 0.39, H / 2 + math.sin(a) * H * 0.39
            dd.ellipse((fx - 45, fy - 45, fx + 45, fy + 45), fill=(70, 70, 72))
        mask = Image.new("L", (W, H), 0)
        ImageDraw.Draw(mask).ellipse((0, 0, W - 1, H - 1), fill=255)
        face = Image.new("RGBA", (W, H), (0, 0, 0, 0))
        face.paste(disk, (0, 0), mask)
        d = ImageDraw.Draw(face)
    for k in range(o.get("vents", 0)):
        y = 70 + k * 40
        d.rounded_rectangle((W - 260, y, W - 60, y + 16), 8, fill=(12, 12, 14))
    lw, lh = o.get("label", (1340, 860))
    lx, ly = (W - lw) / 2 - (100 if o.get("vents") else 0), o.get("label_y", (H - lh) / 2)
    sticker = o.get("sticker", (246, 246, 242))
    if sticker is not None:
        st = plastic(lw, lh, sticker, rng, grain=0.01, sheen=0.05, mottle=0.015)
        paste_rounded(face, st, (int(lx), int(ly)), 26)
    ink = o.get("ink", (25, 25, 28))
    fr, fb = o.get("font", "lib-sans"), o.get("font_bold", "lib-sans-bold")
    size = o.get("size_pt", 52)
    y = ly + 40 + size
    for k, ln in enumerate(L):
        bold = k in o.get("bold", (0,))
        room = lw - 100 - (o.get("qr", 0) if k > 0 else (200 if o.get("marks", True) else 0))
        f = fit_font(fb if bold else fr, size * (1.2 if k == 0 else 1.0), ln, room)
        d.text((lx + 50, y), ln, font=f, fill=ink, anchor="ls")
        y += f.size * 1.42
        if k == 0 and o.get("rule", True):
            d.line((lx + 50, y - f.size * 0.75, lx + lw - 50, y - f.size * 0.75), fill=ink, width=3)
            y += 8
    if o.get("barcode", True):
        barcode(d, lx + 50, ly + lh - 130, lw * 0.5, 90, rng, ink)
    if o.get("qr"):
        q = o["qr"]
        qr_block(d, lx + lw - q - 50, ly + lh - q - 50, q, rng, ink, sticker or surface)
    if o.get("marks", False):
        mx = lx + lw - 60
        d.ellipse((mx - 70, ly + 40, mx, ly + 110), outline=ink, width=5)
        d.rectangle((mx - 150, ly + 50, mx - 95, ly + 100), outline=ink, width=5)
    return face, (lx, ly, lx + lw, ly + lh), "label"


def face_moped(s, rng):
    o = s.opts
    L = lines_of(s)
    speed, code, mode_batt = L[0], L[1], L[2]
    W, H = 1700, 1100
    face = plastic(W, H, (26, 26, 28), rng, grain=0.02, sheen=0.05)
    d = ImageDraw.Draw(face)
    sx0, sy0, sx1, sy1 = 170, 130, 1530, 930
    d.rounded_rectangle((sx0 - 30, sy0 - 30, sx1 + 30, sy1 + 30), 90, fill=(50, 50, 54))
    d.rounded_rectangle((sx0, sy0, sx1, sy1), 70, fill=(8, 10, 14))
    num, unit = speed.split(" ")
    dh = 330
    sw = seg7_width(num, dh)
    draw_seg7(d, (sx0 + sx1) / 2 - sw / 2 - 120, sy0 + 90, dh, num, (235, 240, 250), (15, 17, 22), 0.1)
    d.text(((sx0 + sx1) / 2 + 90, sy0 + 90 + dh), unit, font=font(o.get("font", "sans-cond-bold"), 84), fill=(210, 215, 225), anchor="ls")
    cw = text_w(font("noto-mono-bold", 110), code) + 80
    cx = (sx0 + sx1) / 2
    d.rounded_rectangle((cx - cw / 2, sy0 + 490, cx + cw / 2, sy0 + 630), 18, fill=(250, 150, 20))
    d.text((cx, sy0 + 560), code, font=font("noto-mono-bold", 110), fill=(10, 10, 10), anchor="mm")
    mode, batt = mode_batt.split(" ")
    d.text((sx0 + 110, sy1 - 60), mode, font=font(o.get("font", "sans-cond-bold"), 72), fill=(90, 200, 255), anchor="ls")
    battery_icon(d, sx1 - 480, sy1 - 125, 170, 70, 0.62, (110, 220, 110), (220, 220, 220))
    d.text((sx1 - 100, sy1 - 60), batt, font=font(o.get("font", "sans-cond-bold"), 72), fill=(220, 220, 225), anchor="rs")
    warning_icon(d, sx0 + 160, sy0 + 170, 110, (250, 150, 20), (8, 10, 14))
    return face, (sx0, sy0, sx1, sy1), "screen"


# ----------------------------------------------------------------------------- photographing

def solve_perspective(dst, src):
    """PIL PERSPECTIVE coefficients mapping output points dst to input points src."""
    A, b = [], []
    for (x, y), (X, Y) in zip(dst, src):
        A.append([x, y, 1, 0, 0, 0, -X * x, -X * y]); b.append(X)
        A.append([0, 0, 0, x, y, 1, -Y * x, -Y * y]); b.append(Y)
    return np.linalg.solve(np.array(A, np.float64), np.array(b, np.float64)).tolist()


def project(face_w, face_h, yaw, pitch, roll, points=None):
    """Face points (default: its corners) on a plane rotated by yaw/pitch (degrees), seen by a
    pinhole camera, then rolled; coordinates relative to the face centre's image."""
    ya, pa, ra = map(math.radians, (yaw, pitch, roll))
    Ry = np.array([[math.cos(ya), 0, math.sin(ya)], [0, 1, 0], [-math.sin(ya), 0, math.cos(ya)]])
    Rx = np.array([[1, 0, 0], [0, math.cos(pa), -math.sin(pa)], [0, math.sin(pa), math.cos(pa)]])
    R = Ry @ Rx
    f = 1.6 * max(face_w, face_h)
    pts = []
    if points is None:
        points = [(0, 0), (face_w, 0), (face_w, face_h), (0, face_h)]
    for px, py in points:
        p = R @ np.array([px - face_w / 2, py - face_h / 2, 0.0])
        z = p[2] + f
        x, y = f * p[0] / z, f * p[1] / z
        pts.append((x * math.cos(ra) - y * math.sin(ra), x * math.sin(ra) + y * math.cos(ra)))
    return pts


def background(style, w, h, rng):
    x = np.linspace(0, 1, w, dtype=np.float32)[None, :]
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None]
    n = lowfreq(rng, w, h, max(64, w // 5))
    if style == "wood":
        base = np.array([0.52, 0.36, 0.22], np.float32)
        streak = lowfreq(rng, w, h, max(64, w // 2), max(3, h // 160))
        fine = lowfreq(rng, w, h, max(32, w // 8), max(2, h // 500))
        a = base * (0.72 + 0.3 * streak[..., None] + 0.12 * fine[..., None]) * (0.9 + 0.2 * n[..., None])
    elif style == "wall":
        base = np.array([0.78, 0.75, 0.70], np.float32)
        a = base * (0.85 + 0.25 * n[..., None]) * (1.05 - 0.25 * y[..., None])
    elif style == "tiles":
        base = np.array([0.86, 0.87, 0.86], np.float32)
        a = base * (0.9 + 0.1 * n[..., None]) * np.ones((h, w, 1), np.float32)
        t = max(8, w // 9)
        gx = (np.arange(w) % t) < max(2, t // 30)
        gy = (np.arange(h) % t) < max(2, t // 30)
        a[gy, :, :] *= 0.7
        a[:, gx, :] *= 0.7
    elif style == "room":
        base = np.array([0.30, 0.26, 0.22], np.float32)
        a = base * (0.6 + 0.8 * n[..., None]) * (1.2 - 0.5 * y[..., None])
        a[int(h * 0.86):, :, :] *= 0.45  # sideboard
    elif style == "fabric":
        base = np.array([0.28, 0.32, 0.42], np.float32)
        weave = 0.5 + 0.25 * np.sin(x * w * 0.9)[..., None] * np.sin(y * h * 0.9)[..., None]
        a = base * (0.8 + 0.3 * n[..., None]) * (0.9 + 0.2 * weave)
    else:  # desk: dark mat
        base = np.array([0.22, 0.22, 0.23], np.float32)
        a = base * (0.8 + 0.4 * n[..., None]) * np.ones((h, w, 1), np.float32)
    a = a + rng.normal(0, 0.012, (h, w, 1)).astype(np.float32)
    return to_img(np.clip(a, 0, 1)).convert("RGBA")


@dataclass
class Camera:
    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0
    fill: float = 0.75
    dx: float = 0.0
    dy: float = 0.0
    glare: float = 0.0
    glare_pos: tuple = (0.5, 0.3)
    moire: float = 0.0
    defocus: float = 0.6
    motion: float = 0.0
    motion_angle: float = 0.0
    exposure: float = 1.0
    light_grad: float = 0.1
    vignette: float = 0.25
    cast: tuple = (1.0, 1.0, 1.0)
    noise: float = 0.012
    sharpen: int = 80
    quality: int = 82


def camera_for(scene, rng):
    """Photo parameters: mild everywhere, strong where the scene's conditions say so."""
    c = Camera()
    cond = set(scene.conditions)
    sign = lambda: 1 if rng.random() < 0.5 else -1
    if "tilt-25" in cond:
        c.yaw, c.pitch = sign() * u(rng, 22, 26), sign() * u(rng, 3, 8)
        if rng.random() < 0.4:
            c.yaw, c.pitch = c.pitch, c.yaw
    elif "tilt" in cond:
        c.yaw, c.pitch = sign() * u(rng, 8, 15), sign() * u(rng, 4, 12)
    else:
        c.yaw, c.pitch = sign() * u(rng, 1, 5), sign() * u(rng, 1, 4)
    c.roll = sign() * (u(rng, 3, 8) if "rotation" in cond else u(rng, 0, 1.5))
    default_fill = {"label": 0.82, "tv": 0.76, "phone": 0.9, "dialog": 0.82}.get(scene.kind, 0.8)
    c.fill = scene.fill or u(rng, default_fill - 0.06, default_fill + 0.06)
    if "small-text" in cond:
        c.fill = u(rng, 0.42, 0.5)
    c.dx, c.dy = u(rng, -0.05, 0.05), u(rng, -0.05, 0.05)
    if "glare" in cond:
        c.glare = u(rng, 0.35, 0.55)
    elif rng.random() < 0.5:
        c.glare = u(rng, 0.05, 0.15)
    c.glare_pos = (u(rng, 0.2, 0.8), u(rng, 0.15, 0.6))
    c.moire = u(rng, 0.06, 0.1) if "moire" in cond else 0.0
    c.defocus = u(rng, 1.5, 2.1) if "blur" in cond else u(rng, 0.5, 0.9)
    if "motion-blur" in cond:
        c.motion, c.motion_angle = u(rng, 6, 11), u(rng, 0, 180)
    if "low-light" in cond:
        c.exposure = u(rng, 0.35, 0.5)
        c.noise = u(rng, 0.03, 0.045)
    else:
        c.exposure = u(rng, 0.9, 1.08)
        c.noise = u(rng, 0.028, 0.04) if "noise" in cond else u(rng, 0.008, 0.016)
    c.light_grad = u(rng, 0.05, 0.25)
    c.vignette = u(rng, 0.15, 0.4)
    if "colour-cast" in cond:
        casts = [(1.14, 1.0, 0.78), (0.84, 0.96, 1.16), (0.94, 1.08, 0.86), (1.07, 0.95, 1.0)]
        c.cast = casts[int(rng.integers(0, len(casts)))]
    else:
        c.cast = (u(rng, 0.96, 1.05), 1.0, u(rng, 0.93, 1.04))
    c.sharpen = int(rng.integers(50, 130))
    return c


def screen_effects(face, box, surface, c, rng):
    """Glare and moire, in the face's own coordinates (they move with the screen)."""
    if c.glare <= 0 and c.moire <= 0:
        return face
    a = np.asarray(face, dtype=np.float32) / 255.0
    rgb, alpha = a[..., :3], a[..., 3:]
    h, w = rgb.shape[:2]
    x0, y0, x1, y1 = box
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if c.moire > 0 and surface == "screen":
        inside = ((xx >= x0) & (xx < x1) & (yy >= y0) & (yy < y1)).astype(np.float32)[..., None]
        p1 = np.sin(xx * u(rng, 0.9, 1.3) + yy * u(rng, 0.2, 0.5))
        p2 = np.sin(xx * u(rng, 0.9, 1.3) + yy * u(rng, 0.2, 0.5) + 1.3)
        beat = (p1 * p2)[..., None]
        hue = np.array([u(rng, 0.6, 1.0), u(rng, 0.6, 1.0), u(rng, 0.6, 1.0)], np.float32)
        rgb = rgb * (1 + inside * c.moire * beat * hue * 1.3) + inside * 0.2 * c.moire * beat * hue
    if c.glare > 0:
        gx = x0 + (x1 - x0) * c.glare_pos[0]
        gy = y0 + (y1 - y0) * c.glare_pos[1]
        sx, sy = (x1 - x0) * u(rng, 0.18, 0.35), (y1 - y0) * u(rng, 0.2, 0.45)
        ang = u(rng, -0.8, 0.8)
        dxr, dyr = (xx - gx) * math.cos(ang) + (yy - gy) * math.sin(ang), -(xx - gx) * math.sin(ang) + (yy - gy) * math.cos(ang)
        blob = np.exp(-(dxr ** 2 / (2 * sx ** 2) + dyr ** 2 / (2 * sy ** 2)))
        band = np.exp(-(((xx - gx) * 0.7 + (yy - gy) * 0.7) ** 2) / (2 * ((x1 - x0) * 0.08) ** 2)) * 0.35
        g = (blob + band * np.exp(-((yy - gy) ** 2) / (2 * (y1 - y0) ** 2)))[..., None]
        warm = np.array([1.0, 0.98, 0.93], np.float32)
        rgb = rgb + c.glare * g * warm * (1.0 - 0.5 * rgb)
    out = np.concatenate([np.clip(rgb, 0, 1), alpha], axis=2)
    return Image.fromarray((out * 255 + 0.5).astype(np.uint8), "RGBA")


def motion_blur(a, length, angle):
    n = max(2, int(round(length)))
    ang = math.radians(angle)
    pad = n + 1
    p = np.pad(a, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    acc = np.zeros_like(a)
    h, w = a.shape[:2]
    for k in range(n):
        t = k - (n - 1) / 2
        ox, oy = int(round(t * math.cos(ang))), int(round(t * math.sin(ang)))
        acc += p[pad + oy:pad + oy + h, pad + ox:pad + ox + w]
    return acc / n


def focus_box(scene, face, box):
    """The part of the face the photographer aims at and fills the frame with."""
    fw, fh = face.size
    f = scene.opts.get("focus")
    if f is None:
        return (0, 0, fw, fh)
    if f == "screen":
        mx, my = (box[2] - box[0]) * 0.1, (box[3] - box[1]) * 0.1
        return (box[0] - mx, box[1] - my, box[2] + mx, box[3] + my)
    return (f[0] * fw, f[1] * fh, f[2] * fw, f[3] * fh)


def photograph(face, box, surface, scene, c, rng, size=None):
    W, H = size or scene.size
    S = 2
    CW, CH = W * S, H * S
    face = screen_effects(face, box, surface, c, rng)
    fw, fh = face.size
    fx0, fy0, fx1, fy1 = focus_box(scene, face, box)
    fpts = [(fx0, fy0), (fx1, fy0), (fx1, fy1), (fx0, fy1)]
    pts = project(fw, fh, c.yaw, c.pitch, c.roll, fpts)
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    bw, bh = max(xs) - min(xs), max(ys) - min(ys)
    scale = min(c.fill * CW / bw, c.fill * CH / bh)
    face_w0, face_h0 = fw, fh
    if scale < 0.85:  # pre-shrink so the perspective resampling does not alias
        k = scale / 0.95
        face = face.resize((max(1, int(fw * k)), max(1, int(fh * k))), Image.Resampling.LANCZOS)
        sx_, sy_ = face.size[0] / fw, face.size[1] / fh
        fw, fh = face.size
        scale /= k
        box = (box[0] * sx_, box[1] * sy_, box[2] * sx_, box[3] * sy_)
    fpts = [(x * fw / face_w0, y * fh / face_h0) for x, y in fpts]
    pts = project(fw, fh, c.yaw, c.pitch, c.roll, fpts)
    cx = CW / 2 + c.dx * CW - (min(p[0] for p in pts) + max(p[0] for p in pts)) / 2 * scale
    cy = CH / 2 + c.dy * CH - (min(p[1] for p in pts) + max(p[1] for p in pts)) / 2 * scale
    dst = [(cx + p[0] * scale, cy + p[1] * scale) for p in project(fw, fh, c.yaw, c.pitch, c.roll)]
    src = [(0, 0), (fw, 0), (fw, fh), (0, fh)]
    coeffs = solve_perspective(dst, src)
    warped = face.transform((CW, CH), Image.Transform.PERSPECTIVE, coeffs, Image.Resampling.BICUBIC)
    canvas = background(scene.bg, CW, CH, rng)
    # Soft contact shadow under the device.
    alpha = warped.getchannel("A")
    sh = Image.new("RGBA", (CW, CH), (0, 0, 0, 0))
    sh.putalpha(alpha.point(lambda v: int(v * 0.45)))
    sh = sh.transform((CW, CH), Image.Transform.AFFINE, (1, 0, -CW * 0.012, 0, 1, -CH * 0.02)).filter(ImageFilter.GaussianBlur(CW * 0.012))
    canvas = Image.alpha_composite(canvas, sh)
    canvas = Image.alpha_composite(canvas, warped)
    img = canvas.convert("RGB").resize((W, H), Image.Resampling.LANCZOS)
    glow = None
    if surface == "screen":  # a lit screen keeps its brightness when the room is dark
        m = Image.new("L", face.size, 0)
        ImageDraw.Draw(m).rectangle(box, fill=255)
        m = m.transform((CW, CH), Image.Transform.PERSPECTIVE, coeffs, Image.Resampling.BILINEAR).resize((W, H), Image.Resampling.BILINEAR)
        glow = np.asarray(m, np.float32) / 255.0
    return develop(img, c, rng, glow)


def develop(img, c, rng, glow=None):
    """Lens, light and sensor: defocus, motion, falloff, exposure, cast, sharpening, noise."""
    W, H = img.size
    if c.defocus > 0:
        img = img.filter(ImageFilter.GaussianBlur(c.defocus * W / 1280))
    a = to_arr(img)
    if c.motion > 0:
        a = motion_blur(a, c.motion * W / 1280, c.motion_angle)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    xn, yn = xx / W - 0.5, yy / H - 0.5
    gdir = u(rng, 0, 2 * math.pi)
    light = 1.0 + c.light_grad * (xn * math.cos(gdir) + yn * math.sin(gdir)) * 2
    light *= 1.0 - c.vignette * (xn ** 2 + yn ** 2) * 2
    exposure = c.exposure
    if glow is not None and c.exposure < 0.8:
        exposure = c.exposure + (min(0.9, c.exposure * 2.0) - c.exposure) * glow[..., None]
    a = a * light[..., None] * exposure * np.array(c.cast, np.float32)
    a = np.clip(a, 0, 1)
    img = to_img(a).filter(ImageFilter.UnsharpMask(radius=max(1.0, 1.6 * W / 1280), percent=c.sharpen, threshold=2))
    a = to_arr(img)
    lum = rng.normal(0, 1, (H, W, 1)).astype(np.float32)
    shot = np.sqrt(np.clip(a, 0.02, 1))  # more noise in brighter... scaled below, like a sensor
    cw, chh = W // 2, H // 2
    chroma = rng.normal(0, 1, (chh, cw, 3)).astype(np.float32)
    chroma = np.asarray(Image.fromarray(((chroma * 40) + 128).clip(0, 255).astype(np.uint8)).resize((W, H), Image.Resampling.BILINEAR), np.float32) / 255 - 0.5
    a = a + c.noise * (0.6 * lum * (0.5 + shot) + 0.9 * chroma * 2.5 * 0.5)
    # Black level and a gentle tone curve.
    a = np.clip(a, 0, 1)
    a = 0.015 + 0.985 * (a - 0.04 * np.sin(2 * math.pi * a) * 0.5)
    return to_img(np.clip(a, 0, 1))


def save_jpeg(img, path, quality, max_bytes, min_quality=60):
    """JPEG with explicit options; steps the quality down until the file fits max_bytes."""
    q = quality
    while True:
        buf = BytesIO()
        img.save(buf, "JPEG", quality=q, optimize=True, progressive=False, subsampling="4:2:0")
        data = buf.getvalue()
        if len(data) <= max_bytes or q <= min_quality:
            break
        q -= 3
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return q, len(data)


def save_png(img, path, **kw):
    buf = BytesIO()
    img.save(buf, "PNG", optimize=False, compress_level=9, **kw)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())
    return len(buf.getvalue())


# ----------------------------------------------------------------------------- the set

def S(file, kb, expect, kind, text, build, conditions, size=(1280, 960), bg="desk", fill=0.0, **opts):
    return Scene(file, kb, expect, kind, text, build, opts, conditions, size, bg, fill)


PORTRAIT = (960, 1280)
BIG = (1600, 1200)
SMALL = (800, 600)

SCENES = [
    # ---------------------------------------------------------------- printer (Scriba P40)
    S("printer-p02.jpg", "en", "printer-paper-jam", "lcd",
      "Scriba P40\nP02 Paper jam\nOpen the rear door and\nremove the paper. Press OK.",
      face_colour_lcd, ["tilt", "glare"], fill=0.92, brand=True),
    S("printer-p01-dotmatrix.jpg", "en", "printer-paper-jam", "lcd",
      "P01 PAPER JAM\nCHECK CASSETTE", face_dot_matrix, ["rotation", "low-light", "low-contrast"],
      size=PORTRAIT, bg="wood", fill=0.85, focus="screen"),
    S("printer-c1.jpg", "en", "printer-print-quality", "lcd",
      "C1 Cartridge error\nCartridge not recognised:\nBlack (K40). Reinsert it.",
      face_colour_lcd, ["blur", "colour-cast"], header=(200, 50, 45), font="lib-sans", font_bold="lib-sans-bold", bg="tiles"),
    S("printer-offline-dialog.jpg", "en", "printer-wifi-printing", "dialog",
      "Print queue - Scriba P40\nPrinter offline\nScriba P40 is not connected.\nCheck the Wi-Fi light on the printer.\nClose",
      face_desktop_window, ["tilt", "moire"], size=BIG, bg="wood", buttons=1, focus="screen", fill=0.85),
    S("printer-p02-zh.jpg", "zh", "printer-paper-jam", "lcd",
      "Scriba P40\nP02 卡纸\n请打开后盖，取出纸张\n完成后按 OK",
      face_colour_lcd, ["tilt", "noise"], brand=True, font="cjk", font_bold="cjk-bold", header=(226, 120, 20), panel=(228, 228, 224), brand_font="lib-sans-bold"),
    # ---------------------------------------------------------------- washing machine (Aqualis W8)
    S("washer-e21.jpg", "en", "washing-machine-wont-drain", "led",
      "Aqualis W8\nE21\nTemp|Spin|Start/Pause", face_seg_panel, ["tilt", "glare"],
      brand=True, back=(190, 200, 190), on=(25, 30, 28), off=(184, 194, 184), frame=(160, 160, 158), bg="tiles"),
    S("washer-ue.jpg", "en", "washing-machine-vibration", "led",
      "UE", face_seg_panel, ["motion-blur", "colour-cast"], size=SMALL, panel=(245, 245, 243),
      back=(12, 40, 110), on=(235, 245, 255), off=(16, 45, 116), frame=(200, 200, 200), digit_h=240, bg="tiles"),
    S("washer-de.jpg", "en", "washing-machine-door-locked", "led",
      "dE", face_seg_panel, ["tilt-25", "low-contrast"], back=(175, 185, 175), on=(60, 66, 62), off=(170, 180, 170),
      frame=(140, 140, 140), icons=[("lock", 0.87, 0.3)], icon_on=(60, 66, 62), digit_h=240, bg="tiles"),
    S("washer-e21-zh.jpg", "zh", "washing-machine-wont-drain", "led",
      "E21\n温度|转速|启动/暂停", face_seg_panel, ["rotation", "low-light"], size=PORTRAIT,
      panel=(250, 250, 248), back=(20, 22, 26), on=(250, 120, 30), off=(27, 25, 27), legend_font="cjk", legend_size=50, bg="tiles", fill=0.85),
    # ---------------------------------------------------------------- router (Meshline AX3)
    S("router-label.jpg", "en", "router-reset-password", "label",
      "Kelvara Meshline AX3\nModel: KV-R300 S/N: 4F2A-0193-7K\nWi-Fi name: Meshline-7K2Q\nWi-Fi password: trout-amber-5591\nAdmin password: Q7v9-Lm2x\nInput: 12V 1.5A",
      face_label, ["tilt", "glare"], size=BIG, vents=8, qr=250, bold=(0, 3, 4)),
    S("router-admin-page.jpg", "en", "router-no-internet", "dialog",
      "192.168.8.1/status\nMeshline AX3\nInternet: Disconnected\nWAN cable not connected.\nCheck the cable to your fibre box.",
      face_web_status, ["tilt", "moire", "colour-cast"], bg="wall", focus="screen"),
    S("router-app-pppoe.jpg", "en", "router-no-internet", "phone",
      "Kelvara Connect\nNo internet\nPPPoE authentication failed.\nCheck your provider login.",
      face_phone, ["blur"], size=PORTRAIT, bg="wood", style="app"),
    S("router-admin-zh.jpg", "zh", "router-no-internet", "dialog",
      "192.168.8.1/status\nMeshline AX3\n互联网：未连接\nWAN 口网线未连接\n请检查连接光猫的网线",
      face_web_status, ["tilt", "low-light"], font="cjk", font_bold="cjk-bold", bezel="laptop", bg="desk", focus=(0.05, 0.0, 0.95, 0.7), fill=0.95),
    S("router-label-zh.jpg", "zh", "router-reset-password", "label",
      "Kelvara Meshline AX3 无线路由器\n型号：KV-R300 序列号：4F2A-0211-9C\n无线网络名称：Meshline-9C1D\n无线密码：lotus-cedar-2047\n管理员密码：Ht4k-9pWz\n电源：12V 1.5A",
      face_label, ["rotation", "noise"], font="cjk", font_bold="cjk-bold", vents=6, qr=230, bold=(0, 4), size_pt=50),
    # ---------------------------------------------------------------- kettle (Pura K17)
    S("kettle-base-label.jpg", "en", "safety-recall", "label",
      "Kelvara Pura K17 Power Base\nModel KV-K17B\n220-240V~ 50/60Hz 2200W\nS/N K17-2404-31877",
      face_label, ["low-light", "rotation"], size=PORTRAIT, surface=(236, 234, 228), sticker=None, ink=(110, 110, 112),
      font="sans", font_bold="sans-bold", rule=False, barcode=False, round=True, face_size=(1700, 1700), label=(1240, 520),
      label_y=800, size_pt=54, bg="wood", fill=0.92),
    # ---------------------------------------------------------------- laptop (Aero 14)
    S("laptop-no-bootable-device.jpg", "en", "laptop-wont-turn-on", "bios",
      "No bootable device.\nInsert boot disk and press any key.", face_bios, ["tilt", "moire", "low-light"], bg="desk",
      focus=(0.0, 0.0, 0.8, 0.5), fill=0.95),
    S("laptop-not-charging.jpg", "en", "laptop-battery", "dialog",
      "87%\nPlugged in, not charging\nBattery Care is on (80% limit)", face_desktop_toast, ["tilt-25", "glare"], style="battery", bg="wood",
      focus=(0.4, 0.45, 1.0, 1.0), fill=0.95),
    S("laptop-high-temperature.jpg", "en", "laptop-overheating", "dialog",
      "Kelvara Control Center\nHigh temperature\nCPU at 98 °C. Your laptop will\nshut down to protect itself.", face_desktop_toast,
      ["rotation", "motion-blur"], font="lib-sans", font_bold="lib-sans-bold", bg="fabric",
      focus=(0.3, 0.35, 1.0, 0.95), fill=0.92),
    # ---------------------------------------------------------------- television (Vista Q55)
    S("tv-no-signal.jpg", "en", "television-no-picture", "tv",
      "HDMI 2\nNo signal\nCheck that your device is switched on.\nVista", face_tv, ["glare", "moire", "colour-cast"],
      size=BIG, bg="room", style="nosignal"),
    S("tv-update-failed.jpg", "en", "television-apps-software", "tv",
      "Software update\nUpdate failed (U-12)\nCheck your network connection\nand try again.\nRetry|Cancel\nVista", face_tv,
      ["tilt", "moire"], bg="room", style="dialog", focus=(0.1, 0.1, 0.9, 1.0), fill=0.95),
    S("tv-remote-disconnected.jpg", "en", "television-remote", "tv",
      "Remote disconnected\nHold Home + Back for 5 s to pair.", face_tv, ["tilt-25", "low-light"],
      bg="room", style="toast", font="lib-sans", font_bold="lib-sans-bold", focus=(0.4, 0.0, 1.0, 0.5), fill=0.9),
    S("tv-no-signal-zh.jpg", "zh", "television-no-picture", "tv",
      "HDMI 2\n无信号\n请检查设备是否已开启并连接\nVista", face_tv, ["tilt", "blur"],
      bg="room", style="nosignal", font="cjk", font_bold="cjk-bold", box=(30, 34, 44)),
    # ---------------------------------------------------------------- microwave (Therma M25)
    S("microwave-e11.jpg", "en", "microwave-not-heating", "led",
      "E-11\nStop|Start/+30s", face_seg_panel, ["tilt", "low-contrast", "glare"], size=PORTRAIT,
      panel=(30, 30, 32), sheen=0.08, back=(6, 10, 10), on=(70, 230, 170), off=(9, 19, 17), frame=(18, 18, 20),
      button=(50, 50, 54), button_edge=(80, 80, 84), legend_ink=(200, 200, 200), digit_h=170, bg="tiles", fill=0.86),
    S("microwave-e11-zh.jpg", "zh", "microwave-not-heating", "led",
      "E-11\n火力|解冻|开始", face_seg_panel, ["rotation", "colour-cast"],
      panel=(238, 238, 236), back=(10, 14, 12), on=(110, 240, 120), off=(14, 23, 17), frame=(190, 190, 190),
      legend_font="cjk-bold", legend_size=52, digit_h=180, bg="wall"),
    # ---------------------------------------------------------------- camera (Lumen Z20)
    S("camera-lens-error.jpg", "en", "camera-lens-error", "lcd",
      "Lens error.\nRestart camera.", face_camera, ["tilt", "glare"], bg="fabric"),
    S("camera-card-locked.jpg", "en", "camera-memory-card", "lcd",
      "Card locked", face_camera, ["blur", "small-text"], size=SMALL, card_icon=True, bg="wood", font="lib-sans"),
    S("camera-lens-error-zh.jpg", "zh", "camera-lens-error", "lcd",
      "镜头错误\n请重新启动相机", face_camera, ["tilt-25", "noise"], size=PORTRAIT, font="cjk", bg="desk", fill=0.95, focus="screen"),
    # ---------------------------------------------------------------- phone (Nova 5)
    S("phone-moisture.jpg", "en", "phone-wont-charge", "phone",
      "Moisture detected in charging port\nCharging is paused. Unplug the\ncable and let the port dry.\nOK",
      face_phone, ["glare", "rotation"], size=PORTRAIT, bg="wood", style="alert"),
    S("phone-moisture-zh.jpg", "zh", "phone-wont-charge", "phone",
      "充电端口检测到水分\n已暂停充电。请拔下充电线，\n等待接口干燥后再充电。\n确定",
      face_phone, ["tilt", "low-light"], size=PORTRAIT, bg="fabric", style="alert", font="cjk", font_bold="cjk-bold"),
    # ---------------------------------------------------------------- espresso (Brio E2)
    S("espresso-e4.jpg", "en", "espresso-error-codes", "led",
      "E4", face_seg_panel, ["tilt", "glare"], panel=(180, 182, 186), sheen=0.18, back=(14, 8, 8),
      on=(255, 50, 35), off=(25, 11, 10), frame=(120, 120, 124), legends=[], digit_h=220, bg="tiles"),
    S("espresso-descale-st.jpg", "en", "espresso-descaling", "led",
      "St", face_seg_panel, ["small-text", "colour-cast"], size=SMALL, panel=(176, 178, 182), sheen=0.16,
      back=(14, 8, 8), on=(255, 60, 40), off=(25, 11, 10), frame=(120, 120, 124), icons=[("drop", 0.86, 0.5)], digit_h=220, bg="wood"),
    S("espresso-e3-zh.jpg", "zh", "espresso-error-codes", "led",
      "E3\n单杯|双杯", face_seg_panel, ["tilt", "motion-blur"], panel=(40, 40, 44), sheen=0.1, back=(10, 8, 8),
      on=(255, 70, 40), off=(20, 11, 10), frame=(20, 20, 22), button=(70, 70, 74), button_edge=(100, 100, 104),
      legend_ink=(225, 225, 225), legend_font="cjk-bold", legend_size=54, digit_h=200, bg="tiles"),
    # ---------------------------------------------------------------- e-moped (Volta S3)
    S("emoped-e04.jpg", "en", "e-moped-error-codes", "lcd",
      "0 km/h\nE04\nSPORT 62%", face_moped, ["tilt", "glare", "colour-cast"], bg="wall"),
    S("emoped-charger-label.jpg", "en", "e-moped-battery-not-charging", "label",
      "Kelvara VC-48 Battery Charger\nFor Volta S3 48V Li-ion battery\nInput: 100-240V~ 50/60Hz 2.0A\nOutput: 54.6V 2.0A\nS/N VC48-2311-00457",
      face_label, ["low-light", "noise", "tilt"], surface=(24, 24, 26), sticker=None, ink=(225, 225, 225),
      font="lib-narrow", font_bold="lib-narrow-bold", grain=0.03, bg="desk", label=(1500, 900)),
    # ---------------------------------------------------------------- vacuum (Sweepa R7)
    S("vacuum-robot-stuck.jpg", "en", "vacuum-stuck", "phone",
      "Kelvara Home\nSweepa R7: Robot stuck\nMove it to a new position\nand press Clean.",
      face_phone, ["tilt", "colour-cast"], size=PORTRAIT, bg="fabric", style="notification", focus=(0.0, 0.0, 1.0, 0.55)),
    S("vacuum-check-brush.jpg", "en", "vacuum-brush-cleaning", "phone",
      "Sweepa R7\nError 5\nCheck main brush.\nRemove tangled hair and\nrestart the robot.",
      face_phone, ["tilt-25", "blur"], size=PORTRAIT, bg="wood", style="app", bar=(0, 120, 110), font="lib-sans", font_bold="lib-sans-bold"),
]


# A development set: other screens of the same products, other messages, other conditions.
# Made on demand into a directory outside the repository (`--only dev --out DIR`) and used to
# choose the engine's OCR settings (the detector's input size); the held-out photos above are
# never used for that.
DEV_SCENES = [
    S("dev-printer-p03.jpg", "en", "printer-paper-jam", "lcd",
      "Scriba P40\nP03 Paper jam\nOpen the front cover and\nremove the jammed sheet.",
      face_colour_lcd, ["tilt", "low-light"], header=(40, 120, 60), font="lib-sans", font_bold="lib-sans-bold", bg="wood"),
    S("dev-printer-ink-low.jpg", "en", "printer-print-quality", "lcd",
      "Ink low\nCyan (C40) is almost empty.\nReplace it soon.",
      face_colour_lcd, ["blur", "glare"], size=SMALL, bg="desk"),
    S("dev-printer-wifi-dialog.jpg", "en", "printer-wifi-printing", "dialog",
      "Printers & scanners\nScriba P40 - Offline\nThe printer is not on your network.\nReconnect it to Wi-Fi.\nOK",
      face_desktop_window, ["rotation", "colour-cast"], bg="desk", buttons=1, focus="screen", fill=0.9),
    S("dev-washer-e21.jpg", "en", "washing-machine-wont-drain", "led",
      "E21", face_seg_panel, ["tilt", "noise"], size=PORTRAIT, panel=(240, 240, 238),
      back=(20, 22, 26), on=(250, 140, 40), off=(28, 25, 26), frame=(170, 170, 170), digit_h=200, bg="wall", fill=0.88),
    S("dev-router-page.jpg", "en", "router-no-internet", "dialog",
      "192.168.8.1/status\nMeshline AX3\nInternet: Not connected\nNo response from your provider.\nRestart the fibre box.",
      face_web_status, ["rotation", "blur"], bg="desk", focus="screen"),
    S("dev-router-label.jpg", "en", "router-reset-password", "label",
      "Kelvara Meshline AX3\nModel: KV-R300 S/N: 4F2A-0377-2B\nWi-Fi name: Meshline-2B8R\nWi-Fi password: maple-crane-8830\nInput: 12V 1.5A",
      face_label, ["low-light", "tilt"], vents=6, qr=220, bold=(0, 3)),
    S("dev-laptop-battery.jpg", "en", "laptop-battery", "dialog",
      "12%\nBattery low\nPlug in your charger soon.", face_desktop_toast, ["glare", "rotation"], style="battery", bg="desk",
      focus=(0.4, 0.45, 1.0, 1.0), fill=0.92),
    S("dev-laptop-bios.jpg", "en", "laptop-wont-turn-on", "bios",
      "No bootable device found.\nPress F2 to enter setup.", face_bios, ["blur", "low-contrast"], size=BIG, bg="wood",
      focus=(0.0, 0.0, 0.8, 0.5), fill=0.9),
    S("dev-tv-no-signal.jpg", "en", "television-no-picture", "tv",
      "HDMI 1\nNo signal\nCheck the cable and the source.\nVista", face_tv, ["tilt", "low-light"],
      bg="room", style="nosignal"),
    S("dev-tv-app-update.jpg", "en", "television-apps-software", "tv",
      "Software update\nUpdate available (U-14)\nInstall now to keep your apps working.\nInstall|Later\nVista", face_tv,
      ["rotation", "moire"], size=BIG, bg="room", style="dialog", focus=(0.1, 0.1, 0.9, 1.0), fill=0.92),
    S("dev-microwave-e11.jpg", "en", "microwave-not-heating", "led",
      "E-11\nStop|Start/+30s", face_seg_panel, ["rotation", "glare"],
      panel=(230, 230, 228), sheen=0.06, back=(6, 10, 10), on=(255, 90, 60), off=(20, 12, 11), frame=(160, 160, 160),
      digit_h=160, bg="wall"),
    # More segment displays (the seven-segment reader's development photos): both polarities,
    # other colours, codes and conditions than the held-out ones.
    S("dev-espresso-e1.jpg", "en", "espresso-error-codes", "led",
      "E1", face_seg_panel, ["rotation", "low-light"], panel=(44, 44, 48), sheen=0.1, back=(10, 8, 8),
      on=(255, 60, 40), off=(24, 12, 10), frame=(24, 24, 26), legends=[], digit_h=210, bg="wood"),
    S("dev-espresso-e6.jpg", "en", "espresso-error-codes", "led",
      "E6", face_seg_panel, ["tilt-25", "glare"], panel=(200, 202, 206), sheen=0.15, back=(12, 8, 8),
      on=(255, 70, 50), off=(26, 12, 10), frame=(130, 130, 134), legends=[], digit_h=200, bg="tiles"),
    S("dev-espresso-e8-lcd.jpg", "en", "espresso-error-codes", "led",
      "E8", face_seg_panel, ["low-contrast", "blur"], panel=(190, 192, 196), back=(200, 206, 188), on=(40, 44, 40),
      off=(192, 198, 180), frame=(120, 120, 124), legends=[], digit_h=230, bg="desk"),
    S("dev-washer-e21-lcd.jpg", "en", "washing-machine-wont-drain", "led",
      "Aqualis W8\nE21\nTemp|Spin|Start/Pause", face_seg_panel, ["motion-blur", "colour-cast"],
      brand=True, back=(186, 196, 200), on=(30, 34, 40), off=(180, 190, 194), frame=(150, 150, 150), bg="wall"),
    S("dev-microwave-e11-blue.jpg", "en", "microwave-not-heating", "led",
      "E-11\nStop|Start/+30s", face_seg_panel, ["small-text", "noise"], size=SMALL, panel=(236, 236, 234),
      back=(14, 36, 100), on=(230, 240, 255), off=(18, 42, 108), frame=(190, 190, 190), digit_h=180, bg="tiles"),
    S("dev-espresso-e5-green.jpg", "en", "espresso-error-codes", "led",
      "E5\nsingle|double", face_seg_panel, ["tilt", "motion-blur"], panel=(232, 232, 230), back=(8, 12, 10),
      on=(100, 240, 120), off=(12, 22, 14), frame=(170, 170, 170), digit_h=190, bg="wall"),
    S("dev-washer-e21-tilt.jpg", "en", "washing-machine-wont-drain", "led",
      "E21", face_seg_panel, ["tilt-25", "low-contrast"], back=(180, 188, 182), on=(55, 60, 58), off=(172, 180, 174),
      frame=(145, 145, 145), digit_h=230, bg="wall"),
    S("dev-washer-ue-dim.jpg", "en", "washing-machine-vibration", "led",
      "UE", face_seg_panel, ["rotation", "low-light"], size=PORTRAIT, panel=(245, 245, 243), back=(18, 20, 24),
      on=(250, 130, 40), off=(26, 24, 26), frame=(175, 175, 175), bg="wood", fill=0.85),
    S("dev-microwave-e11-dark.jpg", "en", "microwave-not-heating", "led",
      "E-11\nStop|Start/+30s", face_seg_panel, ["tilt", "low-contrast", "glare"], panel=(34, 34, 36), sheen=0.08,
      back=(8, 10, 10), on=(90, 220, 160), off=(10, 18, 16), frame=(20, 20, 22), button=(54, 54, 58),
      button_edge=(84, 84, 88), legend_ink=(205, 205, 205), digit_h=160, bg="desk"),
    S("dev-espresso-e3-small.jpg", "en", "espresso-error-codes", "led",
      "E3", face_seg_panel, ["small-text", "colour-cast"], size=SMALL, panel=(170, 172, 176), sheen=0.15,
      back=(14, 8, 8), on=(255, 55, 40), off=(25, 11, 10), frame=(118, 118, 122), legends=[], digit_h=210, bg="tiles"),
    S("dev-camera-card-full.jpg", "en", "camera-memory-card", "lcd",
      "Card full", face_camera, ["tilt", "noise"], card_icon=True, bg="desk"),
    # Short camera messages on a busy picture, and short printer messages (a second batch,
    # added for the detector's fallback pass; same products, other messages and conditions).
    S("dev-camera-no-card.jpg", "en", "camera-memory-card", "lcd",
      "No memory card", face_camera, ["low-light", "blur"], bg="wood"),
    S("dev-camera-card-error.jpg", "en", "camera-memory-card", "lcd",
      "Memory card error", face_camera, ["glare", "rotation"], card_icon=True, bg="fabric", size=SMALL),
    S("dev-camera-lens-small.jpg", "en", "camera-lens-error", "lcd",
      "Lens error\nRestart camera", face_camera, ["small-text", "noise"], bg="desk"),
    S("dev-camera-card-full-dim.jpg", "en", "camera-memory-card", "lcd",
      "Card full", face_camera, ["low-contrast", "tilt-25"], card_icon=True, bg="tiles"),
    S("dev-printer-paper-jam-small.jpg", "en", "printer-paper-jam", "lcd",
      "Paper jam", face_colour_lcd, ["low-light", "blur"], size=SMALL, bg="wood"),
    S("dev-printer-ink-empty.jpg", "en", "printer-print-quality", "lcd",
      "Ink empty\nBlack (K40)", face_colour_lcd, ["small-text", "colour-cast"], bg="desk"),
    S("dev-phone-moisture.jpg", "en", "phone-wont-charge", "phone",
      "Moisture detected\nCharging is paused until\nthe port is dry.\nOK",
      face_phone, ["tilt", "blur"], size=PORTRAIT, bg="desk", style="alert", font="lib-sans", font_bold="lib-sans-bold"),
    S("dev-vacuum-brush.jpg", "en", "vacuum-brush-cleaning", "phone",
      "Sweepa R7\nCheck side brush.\nRemove hair from the brush\nand restart the robot.",
      face_phone, ["rotation", "colour-cast"], size=PORTRAIT, bg="wood", style="app", bar=(120, 40, 140)),
    S("dev-moped-e07.jpg", "en", "e-moped-error-codes", "lcd",
      "12 km/h\nE07\nECO 35%", face_moped, ["tilt", "low-light"], bg="desk"),
    S("dev-router-zh.jpg", "zh", "router-no-internet", "dialog",
      "192.168.8.1/status\nMeshline AX3\n互联网：连接失败\n运营商无响应\n请重启光猫",
      face_web_status, ["rotation", "blur"], font="cjk", font_bold="cjk-bold", bezel="laptop", bg="wood", focus=(0.05, 0.0, 0.95, 0.7), fill=0.95),
    S("dev-tv-zh.jpg", "zh", "television-no-picture", "tv",
      "HDMI 1\n无信号\n请检查线缆和信号源\nVista", face_tv, ["glare", "noise"],
      bg="room", style="nosignal", font="cjk", font_bold="cjk-bold", box=(30, 34, 44)),
    S("dev-phone-zh.jpg", "zh", "phone-wont-charge", "phone",
      "检测到水分\n接口干燥前暂停充电。\n确定",
      face_phone, ["rotation", "noise"], size=PORTRAIT, bg="wood", style="alert", font="cjk", font_bold="cjk-bold"),
]


def toml_str(s):
    out = s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{out}"'


def write_manifest(path, scenes, prefix="ocr/"):
    head = (
        "# Held-out OCR photos (tests/heldout/ocr/, credits in ocr/CREDITS.md): synthetic phone photos of the\n"
        "# demo products' error screens, segment displays, dialogs and rating labels, made by\n"
        "# tests/heldout/ocr/make_photos.py (real fonts, then tilt, roll, blur, glare, moire, low light, noise,\n"
        "# colour casts and JPEG; see the script). `text` is the exact text on the photo, lines in reading\n"
        "# order (for character error rate); `expect` is the article of the KB named by `kb` (\"en\": www/kb,\n"
        "# \"zh\": www/kb-zh) that the photo should lead to, and that article names the code or message.\n"
        "# `conditions` are the strong ones (every photo also has mild tilt, blur, noise and JPEG).\n"
        "# Held out: never used to choose thresholds or tune anything. Regenerate with the script, not by hand.\n"
    )
    parts = [head]
    for s in scenes:
        parts.append(
            "\n[[photo]]\n"
            f'file = "{prefix}{s.file}"\n'
            f'kb = "{s.kb}"\n'
            f'expect = "{s.expect}"\n'
            f"text = {toml_str(truth(s))}\n"
            f'kind = "{s.kind}"\n'
            f"conditions = [{', '.join(toml_str(c) for c in s.conditions)}]\n"
            f"size = [{s.size[0]}, {s.size[1]}]\n"
        )
    path.write_text("".join(parts), encoding="utf-8")


def check_articles(scenes):
    for s in scenes:
        kbdir = ROOT / ("www/kb" if s.kb == "en" else "www/kb-zh") / "articles"
        if not (kbdir / f"{s.expect}.md").is_file():
            sys.exit(f"{s.file}: expected article {s.expect} is not in {kbdir}")


def make_dev(out):
    check_articles(DEV_SCENES)
    out.mkdir(parents=True, exist_ok=True)
    for s in DEV_SCENES:
        rng = rng_for(s.file)
        face, box, surface = s.build(s, rng)
        c = camera_for(s, rng)
        img = photograph(face, box, surface, s, c, rng)
        save_jpeg(img, out / s.file, 82, 140_000)
    write_manifest(out / "dev.toml", DEV_SCENES, prefix="")
    print(f"  {len(DEV_SCENES)} development photos and dev.toml in {out}")


# Random appliance panels for the seven-segment reader's development (`--only segdev --out DIR`):
# codes, colours (light on dark and dark on light), sizes and strong conditions drawn at random
# from a seed; never the held-out photos' parameters, which are fixed above.
SEG_CODES = ["E21", "UE", "dE", "E-11", "E4", "St", "E3", "E1", "E5", "E6", "E8", "E-03", "F2", "H1", "P01",
             "E07", "Lo", "b4", "C8", "E-05", "PF", "Ud", "4E", "E12", "HE", "tC", "d5", "oF"]
SEG_PALETTES = [  # back, on, off (ghost segments) or None
    ((14, 8, 8), (255, 55, 40), (25, 11, 10)), ((18, 20, 24), (250, 130, 40), (27, 25, 27)),
    ((8, 12, 10), (100, 240, 120), None), ((12, 36, 104), (230, 240, 255), (16, 42, 110)),
    ((6, 10, 10), (70, 230, 170), (9, 19, 17)), ((190, 200, 190), (25, 30, 28), (184, 194, 184)),
    ((176, 186, 196), (30, 34, 44), None), ((205, 200, 170), (50, 46, 40), (198, 193, 165)),
]
SEG_CONDITIONS = ["tilt", "tilt-25", "rotation", "glare", "low-light", "low-contrast", "motion-blur", "blur", "noise",
                  "colour-cast", "small-text"]


def make_segdev(out, count):
    rng = rng_for("segdev")
    out.mkdir(parents=True, exist_ok=True)
    scenes = []
    for i in range(count):
        code = SEG_CODES[int(rng.integers(len(SEG_CODES)))]
        back, on, off = SEG_PALETTES[int(rng.integers(len(SEG_PALETTES)))]
        cond = list(rng.choice(SEG_CONDITIONS, size=int(rng.integers(1, 4)), replace=False))
        if "tilt" in cond and "tilt-25" in cond:
            cond.remove("tilt")
        dark_panel = rng.random() < 0.3
        panel = tuple(int(v) for v in (rng.integers(28, 60, 3) if dark_panel else rng.integers(170, 250, 3)))
        size = [(1280, 960), PORTRAIT, SMALL][int(rng.integers(3))]
        bg = ["desk", "wall", "tiles", "wood", "fabric", "room"][int(rng.integers(6))]
        s = S(f"seg-{i:03d}.jpg", "en", "espresso-error-codes", "led", code, face_seg_panel, cond, size=size, bg=bg,
              panel=panel, back=back, on=on, off=off, frame=tuple(int(v) for v in rng.integers(20, 200, 3)), legends=[],
              digit_h=int(rng.integers(140, 250)), slant=float(rng.uniform(0.0, 0.14)), sheen=float(rng.uniform(0.03, 0.18)))
        r = rng_for(s.file)
        face, box, surface = s.build(s, r)
        img = photograph(face, box, surface, s, camera_for(s, r), r)
        save_jpeg(img, out / s.file, 82, 140_000)
        scenes.append(s)
    write_manifest(out / "segdev.toml", scenes, prefix="")
    print(f"  {count} random segment-display photos and segdev.toml in {out}")


def make_heldout():
    check_articles(SCENES)
    total = 0
    for s in SCENES:
        rng = rng_for(s.file)
        face, box, surface = s.build(s, rng)
        c = camera_for(s, rng)
        img = photograph(face, box, surface, s, c, rng)
        q, n = save_jpeg(img, HERE / s.file, 82, 140_000)
        total += n
        print(f"  {s.file:36s} {s.size[0]}x{s.size[1]} q{q} {n // 1024} KiB  {s.kind:6s} -> {s.kb}:{s.expect}")
    write_manifest(HERE.parent / "ocr.toml", SCENES)
    print(f"  {len(SCENES)} photos, {total / 1e6:.2f} MB; wrote {HERE.parent / 'ocr.toml'}")
    assert total < 4_000_000, "the held-out OCR folder must stay under 4 MB"


# ----------------------------------------------------------------------------- bad inputs

WORDS = (
    "council harbour market weather morning river bridge school station garden library winter summer "
    "season report plans local residents city road traffic train service museum opening festival music "
    "evening street committee members proposal budget vote mayor week month year new old long short "
    "record rain wind north south east west coast island village farmers prices bread milk fish boats "
    "football match team season league goal players coach crowd stadium final cup win draw loss "
    "theatre play review actors stage audience night tickets sold show films screen art gallery paint "
    "the a of and to in for on with by at from that this was were has have will would said told "
    "after before during under over between about against into through near across around"
).split()


def newspaper(rng):
    W, H = 1600, 2200
    page = Image.new("RGB", (W, H), (238, 234, 222))
    d = ImageDraw.Draw(page)
    d.text((W / 2, 130), "The Harbour Ledger", font=font("lib-serif-bold", 118), fill=(20, 20, 20), anchor="ms")
    d.line((60, 165, W - 60, 165), fill=(30, 30, 30), width=4)
    d.text((60, 200), "Tuesday 14 October  -  Edition 2,418  -  Price 1.20", font=font("lib-serif", 26), fill=(40, 40, 40), anchor="ls")
    d.line((60, 218, W - 60, 218), fill=(30, 30, 30), width=2)
    cols, gap, top = 5, 26, 250
    cw = (W - 120 - gap * (cols - 1)) / cols
    body = font("lib-serif", 17)
    head = font("lib-serif-bold", 30)
    for ci in range(cols):
        x = 60 + ci * (cw + gap)
        y = top
        if ci in (1, 2) and True:
            pass
        while y < H - 60:
            if rng.random() < 0.12 or y == top:
                words = [WORDS[int(i)] for i in rng.integers(0, 120, int(rng.integers(3, 6)))]
                ln = " ".join(words).capitalize()
                hf = fit_font("lib-serif-bold", 30, ln, cw)
                d.text((x, y + hf.size), ln, font=hf, fill=(15, 15, 15), anchor="ls")
                y += hf.size * 1.6
                if rng.random() < 0.2 and y + 260 < H - 60:
                    d.rectangle((x, y, x + cw, y + 220), fill=tuple(int(v) for v in rng.integers(120, 190, 3)))
                    y += 240
                continue
            line = ""
            while True:
                w = WORDS[int(rng.integers(0, len(WORDS)))]
                cand = (line + " " + w).strip()
                if text_w(body, cand) > cw:
                    break
                line = cand
            d.text((x, y + 17), line, font=body, fill=(35, 35, 35), anchor="ls")
            y += 21
            if rng.random() < 0.06:
                y += 10
        if ci < cols - 1:
            d.line((x + cw + gap / 2, top, x + cw + gap / 2, H - 60), fill=(120, 120, 120), width=1)
    del head
    a = to_arr(page)
    a = a * (0.92 + 0.08 * lowfreq(rng, W, H, 200)[..., None])
    img = to_img(np.clip(a, 0, 1)).rotate(0.6, resample=Image.Resampling.BICUBIC, fillcolor=(200, 196, 186))
    return img.filter(ImageFilter.GaussianBlur(0.9)).convert("L")


def make_bad():
    out = ROOT / "tests/fixtures/ocr"
    sizes = {}
    rng = rng_for("newspaper.jpg")
    q, sizes["newspaper.jpg"] = save_jpeg(newspaper(rng), out / "newspaper.jpg", 60, 360_000, min_quality=40)
    sizes["blank-white.png"] = save_png(Image.new("RGB", (1024, 768), (255, 255, 255)), out / "blank-white.png")
    rng = rng_for("black.jpg")
    W, H = 800, 600
    a = np.ones((H, W, 3), np.float32) * np.array([0.035, 0.03, 0.04], np.float32)
    a = a * (0.6 + 0.8 * lowfreq(rng, W, H, 200)[..., None])
    a = a + rng.normal(0, 0.018, (H, W, 3)).astype(np.float32)
    _, sizes["black.jpg"] = save_jpeg(to_img(np.clip(a, 0, 1)), out / "black.jpg", 75, 60_000, min_quality=50)
    rng = rng_for("noise.png")
    pal = rng.integers(0, 256, (16, 3)).astype(np.uint8)
    idx = rng.integers(0, 16, (480, 640)).astype(np.uint8)
    im = Image.fromarray(idx, "P")
    im.putpalette(pal.flatten().tolist())
    sizes["noise.png"] = save_png(im, out / "noise.png", bits=4)
    # One of the error screens (the printer's P02 panel), photographed and turned 180 degrees.
    base = SCENES[0]
    scene = Scene("upside-down.jpg", base.kb, base.expect, base.kind, base.text, base.build, base.opts, ["tilt"], SMALL, "wood")
    rng = rng_for("upside-down.jpg")
    face, box, surface = scene.build(scene, rng)
    c = camera_for(scene, rng)
    img = photograph(face, box, surface, scene, c, rng).rotate(180)
    _, sizes["upside-down.jpg"] = save_jpeg(img, out / "upside-down.jpg", 80, 70_000)
    for k, v in sizes.items():
        print(f"  tests/fixtures/ocr/{k:18s} {v // 1024} KiB")
    total = sum(sizes.values())
    print(f"  {total // 1024} KiB together")
    assert sizes["newspaper.jpg"] < 400_000 and total < 600_000


def make_demo():
    # A different printer panel: white housing, blue header, Liberation Sans, tilted the other way.
    scene = Scene("printer-error.jpg", "en", "printer-paper-jam", "lcd",
                  "P01 Paper jam\nCheck cassette, then\npress OK.",
                  face_colour_lcd, {"header": (30, 90, 170), "panel": (232, 232, 228), "font": "lib-sans", "font_bold": "lib-sans-bold", "body_size": 60},
                  ["tilt"], (1024, 768), "wood")
    rng = rng_for("www/demo/printer-error.jpg")
    face, box, surface = scene.build(scene, rng)
    c = camera_for(scene, rng)
    c.yaw, c.pitch, c.roll = -11.0, 7.0, 2.5
    c.glare = 0.2
    img = photograph(face, box, surface, scene, c, rng)
    q, n = save_jpeg(img, ROOT / "www/demo/printer-error.jpg", 82, 140_000)
    print(f"  www/demo/printer-error.jpg q{q} {n // 1024} KiB: {scene.text!r}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--count", type=int, default=60, help="how many photos --only segdev makes")
    ap.add_argument("--only", choices=["heldout", "bad", "demo", "dev", "segdev"], help="make only one of the outputs (dev: only on demand)")
    ap.add_argument("--out", type=Path, help="where --only dev writes the development photos and dev.toml")
    ap.add_argument("--list", action="store_true", help="list the scenes and exit")
    args = ap.parse_args()
    if args.list:
        for s in SCENES:
            print(s.file, s.kb, s.expect, s.kind, s.conditions)
        return
    check_fonts()
    if args.only == "dev":
        if not args.out:
            sys.exit("--only dev needs --out DIR (outside the repository: the photos are not committed)")
        make_dev(args.out)
        return
    if args.only == "segdev":
        if not args.out:
            sys.exit("--only segdev needs --out DIR (outside the repository: the photos are not committed)")
        make_segdev(args.out, args.count)
        return
    if args.only in (None, "heldout"):
        make_heldout()
    if args.only in (None, "bad"):
        make_bad()
    if args.only in (None, "demo"):
        make_demo()


if __name__ == "__main__":
    main()
