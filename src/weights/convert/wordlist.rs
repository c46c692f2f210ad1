//! Word lists for `--vocab-langs`, from the `wordfreq` wheel on PyPI (its data is CC-BY-SA 4.0;
//! the lists only decide which vocabulary pieces to keep and are not shipped).
//!
//! `wordfreq/data/small_<lang>.msgpack.gz` is a gzipped MessagePack array: a header map
//! `{"format": "cB", "version": 1}`, then one array of words per centibel of frequency, most
//! frequent first (the "small" lists stop at 10⁻⁶: about 30k words each).

use std::io::Read;
use std::path::Path;

use serde::Deserialize;

use super::read_zip_member;
use crate::error::{Error, Result};

#[derive(Deserialize)]
#[serde(untagged)]
enum Entry {
    Words(Vec<String>),
    Header(std::collections::BTreeMap<String, serde_json::Value>),
}

/// The words of `lang`'s small list in the wordfreq wheel, most frequent first.
pub fn words(wheel: &Path, lang: &str) -> Result<Vec<String>> {
    let member = format!("wordfreq/data/small_{lang}.msgpack.gz");
    let gz = read_zip_member(wheel, &member)?;
    let mut packed = Vec::new();
    flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut packed).map_err(|e| Error::Model(format!("{member}: {e}")))?;
    let entries: Vec<Entry> = rmp_serde::from_slice(&packed).map_err(|e| Error::Model(format!("{member}: {e}")))?;
    let mut it = entries.into_iter();
    match it.next() {
        Some(Entry::Header(h)) if h.get("format").and_then(|f| f.as_str()) == Some("cB") => {}
        _ => return Err(Error::Model(format!("{member}: not a wordfreq cBpack (no cB header)"))),
    }
    let words: Vec<String> = it.flat_map(|e| if let Entry::Words(w) = e { w } else { Vec::new() }).collect();
    if words.is_empty() {
        return Err(Error::Model(format!("{member}: no words")));
    }
    Ok(words)
}
