//! The `helplens` binary as a user runs it: errors are one line without a backtrace (even with
//! RUST_BACKTRACE=1), bad option values are refused by the parser, `ask` answers on the CPU
//! without touching the GPU, and `ask --batch` gives the same answers as one `ask --json` per
//! question.

#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};

use common::root;

const KB: &str = "www/models/demo-kb.safetensors";
const TEXT: &str = "models/minilm-int8.gguf";

fn helplens(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_helplens")).args(args).current_dir(root()).env("RUST_BACKTRACE", "1").output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A file in the system's temporary folder, removed when dropped.
struct Temp(PathBuf);

impl Temp {
    fn new(name: &str, contents: &str) -> Temp {
        let p = std::env::temp_dir().join(format!("helplens-cli-{}-{name}", std::process::id()));
        std::fs::write(&p, contents).unwrap();
        Temp(p)
    }
    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        std::fs::remove_file(&self.0).ok();
    }
}

/// One line on stderr, `helplens: ` and the message, exit status 1, nothing like a backtrace.
fn one_line_error(out: &Output) -> String {
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "not one line: {err:?}");
    assert!(err.starts_with("helplens: "), "{err}");
    for bad in ["backtrace", "Caused by", "panicked", "Error: "] {
        assert!(!err.contains(bad), "{bad:?} in {err:?}");
    }
    err
}

#[test]
fn user_errors_are_one_line_without_a_backtrace() {
    let err = one_line_error(&helplens(&["ask", "--kb", "/nonexistent/kb.safetensors", "--text-model", TEXT, "why"]));
    assert!(err.contains("reading /nonexistent/kb.safetensors") && err.contains("No such file"), "{err}");
    // A library error: a model file that is not one.
    let err = one_line_error(&helplens(&["ask", "--kb", KB, "--text-model", KB, "why"]));
    assert!(err.contains("model file: not a GGUF file"), "{err}");
    // A KB folder whose kb.toml does not parse: the parser's multi-line excerpt on one line.
    let dir = std::env::temp_dir().join(format!("helplens-cli-{}-kb", std::process::id()));
    std::fs::create_dir_all(dir.join("articles")).unwrap();
    std::fs::write(dir.join("kb.toml"), "language = \"zh\"\n").unwrap();
    let err = one_line_error(&helplens(&["build-kb", dir.to_str().unwrap(), "-o", "/dev/null"]));
    std::fs::remove_dir_all(&dir).ok();
    assert!(err.contains("kb.toml") && err.contains("unknown variant"), "{err}");
}

#[test]
fn option_values_are_checked_by_the_parser() {
    let out = helplens(&["bench", "--kb", KB, "--image", "tests/golden/images/coffee.png", "--runs", "0"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--runs") && err.contains("0 is not in 1.."), "{err}");
    let out = helplens(&["ask", "--kb", KB, "--backend", "tpu", "why"]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("possible values: auto, cpu, gpu"), "{err}");
    let out = helplens(&["convert", "--ocr-wheel", "x.whl", "--precision", "int8,int4"]);
    assert!(text(&out.stderr).contains("possible values: int8, f32"), "{}", text(&out.stderr));
}

#[test]
fn ask_runs_on_the_cpu_and_says_nothing_on_stderr() {
    let out = helplens(&["ask", "--kb", KB, "--text-model", TEXT, "--json", "my", "kettle", "has", "limescale"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // No GPU adapter was opened: a Vulkan loader or driver would have written here.
    assert_eq!(text(&out.stderr), "");
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["answers"][0]["id"], "kettle-descaling", "{answer}");
}

#[test]
fn batch_gives_what_ask_json_gives_per_question() {
    let questions = ["my kettle has limescale", "the washing machine will not drain", "laptop does not turn on"];
    let file = Temp::new("questions.txt", &format!("{}\n\n   \n{}\n{}", questions[0], questions[1], questions[2]));
    let out = helplens(&["ask", "--kb", KB, "--text-model", TEXT, "--batch", file.path()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<String> = text(&out.stdout).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    for (q, line) in questions.iter().zip(&lines) {
        let one = helplens(&["ask", "--kb", KB, "--text-model", TEXT, "--json", q]);
        assert_eq!(text(&one.stdout).trim_end(), line, "{q}");
    }
    // A question the engine refuses stops the batch at its line, after the answers before it.
    let file = Temp::new("long.txt", &format!("{}\n{}\n{}\n", questions[0], "why ".repeat(2000), questions[1]));
    let out = helplens(&["ask", "--kb", KB, "--text-model", TEXT, "--batch", file.path()]);
    let err = one_line_error(&out);
    assert!(err.contains("long.txt line 2: question too long"), "{err}");
    assert_eq!(text(&out.stdout).lines().count(), 1);
    // --batch takes no question or photo beside it.
    let out = helplens(&["ask", "--kb", KB, "--batch", file.path(), "why"]);
    assert_eq!(out.status.code(), Some(2));
}
