//! Photo preprocessing for EfficientNet-Lite0, as the checkpoint expects it: resize the
//! shortest side to 256 with a bicubic (Catmull-Rom) filter (fast_image_resize, SIMD on wasm32 too), centre-crop 224, RGB,
//! (p − 127) / 128, channels last. Decoding of encoded bytes (JPEG, PNG, WebP, GIF) uses the
//! `image` crate with allocation limits; browsers may decode themselves and pass RGBA.

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::{ImageReader, Limits, RgbaImage};

use crate::error::{Error, Result};

/// Most pixels accepted in one photo (24 megapixels, 96 MB as RGBA). Callers that get larger
/// photos downscale them first (the web page does, while decoding).
pub const MAX_PIXELS: u64 = 24_000_000;

/// Preprocessing constants, stored in the image model's config.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct Preprocess {
    /// Shortest side after resizing.
    pub resize: u32,
    /// Side of the centre crop.
    pub crop: u32,
    /// Subtracted from each 0..255 channel value.
    pub mean: f32,
    /// Divides after the subtraction.
    pub std: f32,
}

/// Largest `resize` (and so `crop`) a model may ask for: far above any encoder's input, low
/// enough that the resized photo's buffer stays small.
pub const MAX_SIDE: u32 = 4096;

/// Most pixels the photo may have once its shortest side is resized (24 megapixels): a photo
/// so elongated that it would have more is refused rather than resized.
pub const MAX_RESIZED_PIXELS: u64 = 24_000_000;

impl Preprocess {
    /// Checks the constants a model file gives: a crop that fits in the resized photo, sides
    /// within [`MAX_SIDE`], finite mean and a finite non-zero std.
    pub fn check(&self) -> Result<()> {
        let bad = |why: String| Err(Error::Model(format!("bad image preprocessing in helplens.config: {why}")));
        if self.crop == 0 || self.resize < self.crop || self.resize > MAX_SIDE {
            return bad(format!("resize {} and crop {} (need 0 < crop <= resize <= {MAX_SIDE})", self.resize, self.crop));
        }
        if !self.mean.is_finite() || !self.std.is_finite() || self.std == 0.0 {
            return bad(format!("mean {} and std {} (need finite values, std not 0)", self.mean, self.std));
        }
        Ok(())
    }
}

pub fn check_size(width: u32, height: u32) -> Result<()> {
    if width == 0 || height == 0 {
        return Err(Error::ImageInvalid(format!("{width}x{height} has no pixels")));
    }
    if width as u64 * height as u64 > MAX_PIXELS {
        return Err(Error::ImageTooLarge { width, height, max_megapixels: (MAX_PIXELS / 1_000_000) as u32 });
    }
    Ok(())
}

/// Decodes an encoded photo to RGBA, refusing unknown formats and oversized images before
/// allocating their pixels.
pub fn decode(bytes: &[u8]) -> Result<RgbaImage> {
    check_complete(bytes)?;
    let reader = ImageReader::new(std::io::Cursor::new(bytes)).with_guessed_format().map_err(|e| Error::ImageDecode(e.to_string()))?;
    let format = reader.format().ok_or_else(|| Error::UnsupportedFormat(sniff(bytes)))?;
    let (w, h) = reader.into_dimensions().map_err(|e| Error::ImageDecode(format!("{format:?}: {e}")))?;
    check_size(w, h)?;
    let mut reader = ImageReader::with_format(std::io::Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_PIXELS * 4 + (64 << 20));
    reader.limits(limits);
    let img = reader.decode().map_err(|e| Error::ImageDecode(format!("{format:?}: {e}")))?;
    Ok(img.to_rgba8())
}

/// Refuses a JPEG, PNG, GIF or WebP file that ends early (a partial download or a cut copy).
/// Browsers decode such files into a partly grey picture without complaint, so the page calls
/// this before handing the file to the browser's decoder. Other formats pass unchecked.
pub fn check_complete(bytes: &[u8]) -> Result<()> {
    let truncated = |what: &str| Err(Error::ImageDecode(format!("the {what} file is incomplete (cut off after {} bytes)", bytes.len())));
    if bytes.is_empty() {
        return Err(Error::ImageDecode("the file is empty (0 bytes)".into()));
    }
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        // In entropy-coded data 0xFF is always followed by 0x00 or a restart marker, so an
        // end-of-image marker (FFD9) after the last start-of-scan (FFDA) ends the main image
        // (an EXIF thumbnail has its own scan and end marker earlier in the file).
        let last = |m: u8| bytes.windows(2).rposition(|w| w == [0xFF, m]);
        return match (last(0xDA), last(0xD9)) {
            (Some(sos), Some(eoi)) if eoi > sos => Ok(()),
            _ => truncated("JPEG"),
        };
    }
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        // The IEND chunk's type, then its 4-byte CRC, close the file.
        let tail = bytes.len().saturating_sub(64);
        let iend = bytes[tail..].windows(4).rposition(|w| w == b"IEND").map(|i| tail + i);
        return if iend.is_some_and(|i| i + 8 <= bytes.len()) { Ok(()) } else { truncated("PNG") };
    }
    if bytes.starts_with(b"GIF8") {
        return if bytes.last() == Some(&0x3B) { Ok(()) } else { truncated("GIF") };
    }
    if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        // The RIFF size counts the bytes after its 8-byte header (u64: no overflow on wasm32).
        let size = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) as u64;
        return if bytes.len() as u64 >= size + 8 { Ok(()) } else { truncated("WebP") };
    }
    Ok(())
}

fn sniff(bytes: &[u8]) -> String {
    let head = &bytes[..bytes.len().min(12)];
    if head.len() >= 12 && &head[4..8] == b"ftyp" {
        return format!(" ({})", String::from_utf8_lossy(&head[8..12]).trim());
    }
    if head.iter().all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace()) {
        return " (this looks like a text file)".into();
    }
    String::new()
}

/// Pixels `[crop, crop, 3]` (channels last) ready for the encoder, from RGBA bytes.
/// Transparent pixels are composited over white (screenshots with alpha).
pub fn preprocess_rgba(rgba: &[u8], width: u32, height: u32, p: &Preprocess) -> Result<Vec<f32>> {
    p.check()?;
    check_size(width, height)?;
    if rgba.len() as u64 != width as u64 * height as u64 * 4 {
        return Err(Error::ImageInvalid(format!("{} bytes for {width}x{height} RGBA", rgba.len())));
    }
    let (w, h) = (width as u64, height as u64);
    let (short, long) = (w.min(h), w.max(h));
    // At most 4096 · 24e6 · 24e6: no overflow in u64.
    let long_resized = ((long * p.resize as u64 + short / 2) / short).max(p.crop as u64);
    if long_resized * p.resize as u64 > MAX_RESIZED_PIXELS {
        return Err(Error::ImageInvalid(format!("{width}x{height} is too elongated: its short side resized to {} would make it {long_resized} pixels long", p.resize)));
    }
    let long_resized = long_resized as u32;
    let (nw, nh) = if w <= h { (p.resize, long_resized) } else { (long_resized, p.resize) };
    let resized;
    let (src, stride) = if (nw, nh) == (width, height) {
        (rgba, width as usize * 4)
    } else {
        let from = ImageRef::new(width, height, rgba, PixelType::U8x4).map_err(|e| Error::ImageInvalid(e.to_string()))?;
        let mut to = Image::new(nw, nh, PixelType::U8x4);
        let opts = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::CatmullRom)).use_alpha(false);
        Resizer::new().resize(&from, &mut to, &opts).map_err(|e| Error::ImageInvalid(e.to_string()))?;
        resized = to.into_vec();
        (resized.as_slice(), nw as usize * 4)
    };
    let (x0, y0) = (((nw - p.crop) / 2) as usize, ((nh - p.crop) / 2) as usize);
    let crop = p.crop as usize;
    let mut out = Vec::with_capacity(crop * crop * 3);
    for y in y0..y0 + crop {
        for px in src[y * stride + x0 * 4..y * stride + (x0 + crop) * 4].chunks_exact(4) {
            let a = px[3] as f32 / 255.0;
            out.extend(px[..3].iter().map(|&v| (v as f32 * a + 255.0 * (1.0 - a) - p.mean) / p.std));
        }
    }
    Ok(out)
}

/// Pixels `[crop, crop, 3]` (channels last) ready for the encoder.
pub fn preprocess(img: &RgbaImage, p: &Preprocess) -> Result<Vec<f32>> {
    let (w, h) = img.dimensions();
    preprocess_rgba(img.as_raw(), w, h, p)
}

#[cfg(test)]
mod tests {
    use super::{check_complete, preprocess_rgba, Preprocess};
    use crate::error::Error;

    const LITE0: Preprocess = Preprocess { resize: 256, crop: 224, mean: 127.0, std: 128.0 };

    #[test]
    fn bad_preprocessing_constants_are_model_errors() {
        let rgba = vec![128u8; 300 * 200 * 4];
        assert_eq!(preprocess_rgba(&rgba, 300, 200, &LITE0).unwrap().len(), 224 * 224 * 3);
        for p in [
            Preprocess { resize: 200, ..LITE0 },
            Preprocess { crop: 0, ..LITE0 },
            Preprocess { resize: 100_000, crop: 224, ..LITE0 },
            Preprocess { std: 0.0, ..LITE0 },
            Preprocess { mean: f32::NAN, ..LITE0 },
        ] {
            assert!(matches!(p.check(), Err(Error::Model(_))), "{p:?}");
            let e = preprocess_rgba(&rgba, 300, 200, &p).unwrap_err();
            assert!(matches!(&e, Error::Model(m) if m.contains("preprocessing")), "{p:?}: {e}");
        }
    }

    #[test]
    fn photos_too_elongated_to_resize_are_refused() {
        // 1 x 100000 would be resized to 256 x 25.6 million.
        let e = preprocess_rgba(&vec![0; 100_000 * 4], 1, 100_000, &LITE0).unwrap_err();
        assert!(matches!(&e, Error::ImageInvalid(m) if m.contains("elongated")), "{e}");
        // A 100-to-1 strip is resized (25600 x 256) and cropped.
        assert_eq!(preprocess_rgba(&vec![0; 100 * 4], 100, 1, &LITE0).unwrap().len(), 224 * 224 * 3);
    }

    // Natively a plain test; on wasm32 run by wasm-bindgen-test-runner in node (`./build.sh
    // test`), where a usize sum of the size would wrap.
    #[cfg_attr(not(target_arch = "wasm32"), test)]
    #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
    fn a_webp_size_field_near_u32_max_is_incomplete_not_an_overflow() {
        let mut webp = b"RIFF\xff\xff\xff\xffWEBPVP8L".to_vec();
        webp.extend_from_slice(&[0; 32]);
        let e = check_complete(&webp).unwrap_err().to_string();
        assert!(e.contains("WebP file is incomplete"), "{e}");
        let size = (webp.len() - 8) as u32;
        webp[4..8].copy_from_slice(&size.to_le_bytes());
        assert!(check_complete(&webp).is_ok());
    }

    #[test]
    fn whole_files_pass_and_cut_ones_do_not() {
        let jpeg: &[u8] = include_bytes!("../../tests/heldout/photos/camera-1.jpg");
        let png: &[u8] = include_bytes!("../../tests/golden/images/chelsea.png");
        for (name, f) in [("jpeg", jpeg), ("png", png)] {
            assert!(check_complete(f).is_ok(), "{name} whole");
            for cut in [f.len() / 4, f.len() / 2, f.len() - 3] {
                let e = check_complete(&f[..cut]).unwrap_err().to_string();
                assert!(e.contains("incomplete"), "{name} cut at {cut}: {e}");
            }
        }
        assert!(check_complete(b"").is_err());
        assert!(check_complete(b"plain text is not checked here").is_ok());
    }
}
