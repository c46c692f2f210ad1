//! ImageNet-1k class names from torchvision's wheel (`torchvision/models/_meta.py`,
//! `_IMAGENET_CATEGORIES`, a Python list of 1000 double-quoted strings).

use crate::error::{Error, Result};

/// Extracts the names from the text of `_meta.py`.
pub fn imagenet_from_meta_py(src: &str) -> Result<Vec<String>> {
    let start = src.find("_IMAGENET_CATEGORIES = [").ok_or_else(|| Error::Model("_IMAGENET_CATEGORIES not found".into()))?;
    let body = &src[start..];
    let end = body.find(']').ok_or_else(|| Error::Model("unterminated _IMAGENET_CATEGORIES".into()))?;
    let names: Vec<String> = body[..end].split('"').skip(1).step_by(2).map(str::to_owned).collect();
    if names.len() != 1000 {
        return Err(Error::Model(format!("{} ImageNet names, expected 1000", names.len())));
    }
    Ok(names)
}
