#!/usr/bin/env python3
"""Writes DIR/manifest.json for the helplens widget: the sha256 and size of every model (.gguf)
and KB (.safetensors) file in DIR, and which models are the text and the image encoder. The
widget checks each download against it and keys its offline copies by the sha256, so a changed
file replaces the cached one.

    python3 scripts/manifest.py DIR [--text-model NAME] [--image-model NAME] [--ocr-model NAME]

A KB built with another text model than --text-model (a multilingual KB built with e5) names
its model file in its own metadata (helplens.kb's text_model_file, written by build-kb); such
KBs are listed under kb_text_models, and the widget loads that model for them.
"""
import argparse
import hashlib
import json
import pathlib
import struct


def kb_text_model(path):
    """The text_model_file a helplens KB (safetensors, JSON metadata helplens.kb) names, or None."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        if n > 100 << 20:
            raise SystemExit(f"{path}: safetensors header of {n} bytes: not a helplens KB")
        header = json.loads(f.read(n))
    meta = header.get("__metadata__", {}).get("helplens.kb")
    if meta is None:
        raise SystemExit(f"{path}: no helplens.kb metadata: not a helplens KB")
    return json.loads(meta).get("text_model_file")


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
    a = ap.parse_args()
    files = sorted(p for p in a.dir.iterdir() if p.suffix in (".gguf", ".safetensors") and p.is_file())
    manifest = {}
    for role, name in (("text_model", a.text_model), ("image_model", a.image_model), ("ocr_model", a.ocr_model)):
        if name:
            if not (a.dir / name).is_file():
                raise SystemExit(f"{a.dir / name} does not exist")
            manifest[role] = name
    kb_text = {}
    # The text model the widget loads for a KB the manifest does not list: --text-model, or
    # the widget's own default when the manifest names none (loader.js).
    default_text = a.text_model or "minilm-int8.gguf"
    for kb in (p for p in files if p.suffix == ".safetensors"):
        model = kb_text_model(kb)
        if model and model != default_text:
            if not (a.dir / model).is_file():
                raise SystemExit(f"{kb} was built with {model}, which is not in {a.dir}")
            kb_text[kb.name] = model
    if kb_text:
        manifest["kb_text_models"] = kb_text
    manifest["files"] = {p.name: {"sha256": sha256(p), "size": p.stat().st_size} for p in files}
    out = a.dir / "manifest.json"
    tmp = out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    tmp.replace(out)


if __name__ == "__main__":
    main()
