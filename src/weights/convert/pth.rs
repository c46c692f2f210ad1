//! PyTorch's legacy (pre-1.6, non-zip) serialization, as torch/serialization.py `_legacy_save`
//! writes it: five pickles (magic number, protocol version, sys info, the object with tensors
//! as persistent ids, the list of storage keys), then each storage in key order as a
//! little-endian u64 element count followed by its raw little-endian data.
//! Pickles are read with candle's pickle interpreter.

use std::collections::HashMap;
use std::io::{BufRead, Cursor, Read};

use candle_core::pickle::{Object, Stack};
use candle_core::DType;

use crate::error::{Error, Result};

/// The first pickle torch writes: protocol 2, LONG1 of 10 bytes holding the magic number
/// 0x1950a86a20f9469cfc6c (little endian), STOP. Matched as bytes: it does not fit an i64.
const LEGACY_MAGIC_PICKLE: [u8; 15] = [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, b'.'];

/// An f32 tensor read from a checkpoint.
#[derive(Debug, Clone)]
pub struct PthTensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

fn pickle<R: BufRead>(r: &mut R) -> Result<Object> {
    let mut stack = Stack::empty();
    stack.read_loop(r).map_err(|e| Error::Model(format!("pickle: {e}")))?;
    stack.finalize().map_err(|e| Error::Model(format!("pickle: {e}")))
}

fn bad(what: &str) -> Error {
    Error::Model(format!("legacy .pth: {what}"))
}

/// Reads every floating-point tensor of a legacy state dict.
pub fn read_legacy_state_dict(bytes: &[u8]) -> Result<HashMap<String, PthTensor>> {
    if !bytes.starts_with(&LEGACY_MAGIC_PICKLE) {
        return Err(bad("wrong magic number (not a legacy PyTorch checkpoint; a zip-format one?)"));
    }
    let mut r = Cursor::new(bytes);
    r.set_position(LEGACY_MAGIC_PICKLE.len() as u64);
    let _protocol = pickle(&mut r)?;
    let _sys_info = pickle(&mut r)?;
    let root = pickle(&mut r)?;
    let keys = match pickle(&mut r)? {
        Object::List(k) => k.into_iter().map(|k| k.unicode().map_err(|_| bad("storage key is not a string"))).collect::<Result<Vec<_>>>()?,
        _ => return Err(bad("storage key list missing")),
    };
    let mut storages: HashMap<String, (usize, usize)> = HashMap::new(); // key → (byte offset, elements)
    let mut dtypes: HashMap<String, DType> = HashMap::new();
    let entries = match root {
        Object::Dict(kv) => kv,
        Object::Build { callable, .. } => match *callable {
            Object::Dict(kv) => kv,
            _ => return Err(bad("root object is not a state dict")),
        },
        _ => return Err(bad("root object is not a state dict")),
    };
    let mut infos = Vec::new();
    for (name, value) in entries {
        let Ok(name) = name.unicode() else { continue };
        let Ok(Some(info)) = value.into_tensor_info(Object::Unicode(name.clone()), std::path::Path::new("")) else {
            continue;
        };
        let key = info.path.trim_start_matches('/').to_string();
        dtypes.insert(key.clone(), info.dtype);
        infos.push(info);
    }
    for key in keys {
        let mut n = [0u8; 8];
        r.read_exact(&mut n).map_err(|_| bad("truncated storage header"))?;
        let elems = u64::from_le_bytes(n) as usize;
        let size = dtypes.get(&key).map(|d| d.size_in_bytes()).unwrap_or(4);
        let start = r.position() as usize;
        let end = start.checked_add(elems.checked_mul(size).ok_or_else(|| bad("storage size overflow"))?).ok_or_else(|| bad("overflow"))?;
        if end > bytes.len() {
            return Err(bad(&format!("truncated storage {key}")));
        }
        storages.insert(key, (start, elems));
        r.set_position(end as u64);
    }
    let mut out = HashMap::new();
    for info in infos {
        if info.dtype != DType::F32 {
            continue; // num_batches_tracked and other integer buffers
        }
        let key = info.path.trim_start_matches('/');
        let &(start, elems) = storages.get(key).ok_or_else(|| bad(&format!("storage {key} missing")))?;
        let shape = info.layout.dims().to_vec();
        let count: usize = shape.iter().product();
        let stride = info.layout.stride().to_vec();
        let offset = info.layout.start_offset() / 4;
        let max_index = offset + shape.iter().zip(&stride).map(|(d, s)| d.saturating_sub(1) * s).sum::<usize>();
        if count > 0 && max_index >= elems {
            return Err(bad(&format!("{} reaches past its storage", info.name)));
        }
        let storage = &bytes[start..start + elems * 4];
        let at = |i: usize| f32::from_le_bytes([storage[i * 4], storage[i * 4 + 1], storage[i * 4 + 2], storage[i * 4 + 3]]);
        // Walk the logical indices in row-major order and follow the strides (torch may store
        // a transposed view, e.g. a classifier weight).
        let mut data = Vec::with_capacity(count);
        let mut idx = vec![0usize; shape.len()];
        for _ in 0..count {
            data.push(at(offset + idx.iter().zip(&stride).map(|(i, s)| i * s).sum::<usize>()));
            for d in (0..shape.len()).rev() {
                idx[d] += 1;
                if idx[d] < shape[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
        out.insert(info.name, PthTensor { shape, data });
    }
    Ok(out)
}
