//! The KB names the model files it was built with: `helplens ask` on the Chinese demo KB (built
//! with e5) finds e5 without `--text-model`, and the manifest lists that KB with its own model.

#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::process::Command;

use helplens::kb::format::KbMeta;

#[test]
fn a_kb_names_its_models_and_ask_loads_them() {
    let meta = KbMeta::from_kb_bytes(&common::read("www/models/demo-kb-zh.safetensors")).unwrap();
    assert_eq!(meta.text_model_file.as_deref(), Some("e5-small-q4-en-zh.gguf"));
    assert_eq!(meta.image_model_file.as_deref(), Some("efficientnet-lite0-int8.gguf"));
    let out = Command::new(env!("CARGO_BIN_EXE_helplens"))
        .current_dir(common::root())
        .args(["ask", "--json", "--backend", "cpu", "--kb", "www/models/demo-kb-zh.safetensors", "打印机卡纸了"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let a: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(a["answers"][0]["id"], "printer-paper-jam", "{a}");
    let manifest: serde_json::Value = serde_json::from_slice(&common::read("www/models/manifest.json")).unwrap();
    assert_eq!(manifest["kb_text_models"]["demo-kb-zh.safetensors"], "e5-small-q4-en-zh.gguf");
    assert!(manifest["kb_text_models"].get("demo-kb.safetensors").is_none(), "the English KB uses the default text model");
}
