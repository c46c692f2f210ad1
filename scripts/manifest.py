#!/usr/bin/env python3
"""Writes DIR/manifest.json for the helplens widget: the sha256 and size of every model (.gguf)
and KB (.safetensors) file in DIR, and which models are the text and the image encoder. The
widget checks each download against it and keys its offline copies by the sha256, so a changed
file replaces the cached one.

    python3 scripts/manifest.py DIR [--text-model NAME] [--image-model NAME] [--ocr-model NAME] [--kb-text-model KB=NAME ...]

--kb-text-model names the text model of a KB built with another one than --text-model (a
multilingual KB: demo-kb-zh.safetensors=e5-small-q4-en-zh.gguf); the widget loads it for that KB.
"""
import argparse
import hashlib
import json
import pathlib


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir", type=pathlib.Path)
    ap.add_argument("--text-model")
    ap.add_argument("--image-model")
    ap.add_argument("--ocr-model")
    ap.add_argument("--kb-text-model", action="append", default=[], metavar="KB=NAME")
    a = ap.parse_args()
    files = sorted(p for p in a.dir.iterdir() if p.suffix in (".gguf", ".safetensors") and p.is_file())
    manifest = {}
    for role, name in (("text_model", a.text_model), ("image_model", a.image_model), ("ocr_model", a.ocr_model)):
        if name:
            if not (a.dir / name).is_file():
                raise SystemExit(f"{a.dir / name} does not exist")
            manifest[role] = name
    kb_text = {}
    for pair in a.kb_text_model:
        kb, _, model = pair.partition("=")
        for name in (kb, model):
            if not name or not (a.dir / name).is_file():
                raise SystemExit(f"--kb-text-model {pair}: {a.dir / name} does not exist")
        kb_text[kb] = model
    if kb_text:
        manifest["kb_text_models"] = kb_text
    manifest["files"] = {p.name: {"sha256": sha256(p), "size": p.stat().st_size} for p in files}
    out = a.dir / "manifest.json"
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    tmp.replace(out)


if __name__ == "__main__":
    main()
