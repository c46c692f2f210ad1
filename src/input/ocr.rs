//! Pixels for the OCR networks: the photo resized for the detector, each text box cut out
//! straight (a perspective warp of its quadrilateral), and each line resized for the
//! recogniser. Resizing follows OpenCV's bilinear `resize` (pixel centres aligned, no
//! antialiasing), as the reference pipeline the models were trained and tested with does.

use image::RgbImage;
use imageproc::geometric_transformations::{warp_into, Interpolation, Projection};

use crate::error::{Error, Result};
use crate::models::ocr::{DetInput, RecInput};

/// Corners of a text box: top-left, top-right, bottom-right, bottom-left, as (x, y).
pub type Quad = [[f32; 2]; 4];

/// Largest text line crop, in pixels (a crop is never larger than the photo).
const MAX_CROP_SIDE: f32 = 4096.0;

/// RGB of a decoded photo, transparent pixels composited over white (a screenshot with an
/// alpha channel reads as it looks).
pub fn rgb(rgba: &image::RgbaImage) -> RgbImage {
    RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let [r, g, b, a] = rgba.get_pixel(x, y).0;
        let over = |c: u8| ((c as u32 * a as u32 + 255 * (255 - a as u32) + 127) / 255) as u8;
        image::Rgb([over(r), over(g), over(b)])
    })
}

/// Per output index of one axis: source index, next source index, and the two 11-bit
/// weights, as OpenCV's fixed-point INTER_LINEAR computes them (docs/ppocr-pipeline.md §9).
/// `reset_edges`: the horizontal axis puts all weight on the edge sample outside the image;
/// the vertical axis keeps the fraction and only clamps the indices.
fn linear_taps(src: usize, dst: usize, reset_edges: bool) -> Vec<(usize, usize, i32, i32)> {
    let scale = 1.0 / (dst as f64 / src as f64);
    (0..dst)
        .map(|d| {
            let f = ((d as f64 + 0.5) * scale - 0.5) as f32;
            let mut i = f.floor() as i64;
            let mut frac = f - i as f32;
            if reset_edges {
                if i < 0 {
                    i = 0;
                    frac = 0.0;
                }
                if i >= src as i64 - 1 {
                    i = src as i64 - 1;
                    frac = 0.0;
                }
            }
            let w0 = ((1.0 - frac) * 2048.0).round_ties_even() as i32;
            let w1 = (frac * 2048.0).round_ties_even() as i32;
            let clamp = |v: i64| v.clamp(0, src as i64 - 1) as usize;
            (clamp(i), clamp(i + 1), w0, w1)
        })
        .collect()
}

/// OpenCV's bilinear `resize` of 8-bit RGB to `w`×`h`, bit for bit (fixed point, as the
/// reference pipeline feeds the networks): `[h, w, 3]` bytes.
pub fn resize_u8(img: &RgbImage, w: usize, h: usize) -> Vec<u8> {
    let (sw, sh) = (img.width() as usize, img.height() as usize);
    if (sw, sh) == (w, h) {
        return img.as_raw().clone();
    }
    let (xs, ys) = (linear_taps(sw, w, true), linear_taps(sh, h, false));
    let raw = img.as_raw();
    // One horizontally resampled source row, kept for the next output row that needs it.
    let row = |y: usize| -> Vec<i32> {
        let r = &raw[y * sw * 3..][..sw * 3];
        xs.iter().flat_map(|&(i0, i1, w0, w1)| (0..3).map(move |c| r[i0 * 3 + c] as i32 * w0 + r[i1 * 3 + c] as i32 * w1)).collect()
    };
    let mut cache: [(usize, Vec<i32>); 2] = [(usize::MAX, vec![]), (usize::MAX, vec![])];
    let get = |y: usize, cache: &mut [(usize, Vec<i32>); 2]| -> Vec<i32> {
        if let Some(c) = cache.iter().find(|c| c.0 == y) {
            return c.1.clone();
        }
        let r = row(y);
        cache.rotate_left(1);
        cache[1] = (y, r.clone());
        r
    };
    let mut out = vec![0u8; w * h * 3];
    for (y, &(y0, y1, b0, b1)) in ys.iter().enumerate() {
        let (top, bot) = (get(y0, &mut cache), get(y1, &mut cache));
        for (o, (t, b)) in out[y * w * 3..][..w * 3].iter_mut().zip(top.iter().zip(&bot)) {
            let v = ((b0 * (t >> 4)) >> 16) + ((b1 * (b >> 4)) >> 16);
            *o = ((v + 2) >> 2).clamp(0, 255) as u8;
        }
    }
    out
}

/// [`resize_u8`] then `f(channel, value)` per value, the channels in RGB or BGR order.
fn resize_map(img: &RgbImage, w: usize, h: usize, bgr: bool, f: impl Fn(usize, f32) -> f32) -> Vec<f32> {
    let px = resize_u8(img, w, h);
    let mut out = vec![0f32; px.len()];
    for (o, p) in out.chunks_exact_mut(3).zip(px.chunks_exact(3)) {
        for c in 0..3 {
            let oc = if bgr { 2 - c } else { c };
            o[oc] = f(oc, p[c] as f32);
        }
    }
    out
}

/// The detector's input size for a `w`×`h` photo: scaled down so the longer side is at most
/// `max_side` (never up), each side rounded half-to-even to a multiple of 32, at least 32.
pub fn detector_size(w: u32, h: u32, p: &DetInput) -> (usize, usize) {
    let long = w.max(h).max(1) as f64;
    let ratio = if long > p.max_side as f64 { p.max_side as f64 / long } else { 1.0 };
    let side = |n: u32| (((n as f64 * ratio / 32.0).round_ties_even() as usize) * 32).max(32);
    (side(w), side(h))
}

/// The photo as the detector takes it: `[h, w, 3]` normalised, with its size.
pub fn detector_input(img: &RgbImage, p: &DetInput) -> Result<(Vec<f32>, usize, usize)> {
    if img.width() == 0 || img.height() == 0 {
        return Err(Error::ImageInvalid("the photo has no pixels".into()));
    }
    let (w, h) = detector_size(img.width(), img.height(), p);
    // p · float32(1/255), as the reference computes it.
    let inv = 1.0f32 / 255.0;
    let px = resize_map(img, w, h, p.bgr, |c, v| (v * inv - p.mean[c]) / p.std[c]);
    Ok((px, w, h))
}

/// The recogniser's input for one line crop: `[height, w, 3]` normalised, and `w`. The crop
/// is scaled to the model's height keeping its aspect: a line narrower than `min_width` to
/// ⌈height·w/h⌉ and zero-padded on the right to `min_width`, a wider one to ⌊height·w/h⌋ (at
/// most `max_width`), as the reference does for a line alone.
pub fn recogniser_input(crop: &RgbImage, p: &RecInput) -> Result<(Vec<f32>, usize)> {
    if crop.width() == 0 || crop.height() == 0 {
        return Err(Error::ImageInvalid("an empty text line crop".into()));
    }
    let h = p.height as usize;
    let exact = h as f64 * crop.width() as f64 / crop.height() as f64;
    let rw = if exact.ceil() <= p.min_width as f64 { exact.ceil() as usize } else { exact.floor() as usize };
    let rw = rw.clamp(1, p.max_width as usize);
    let w = rw.max(p.min_width as usize);
    let px = resize_map(crop, rw, h, p.bgr, |_, v| (v / 255.0 - p.mean) / p.std);
    let mut out = vec![0f32; h * w * 3];
    for y in 0..h {
        out[y * w * 3..][..rw * 3].copy_from_slice(&px[y * rw * 3..][..rw * 3]);
    }
    Ok((out, w))
}

/// Cuts the quadrilateral out of the photo as an upright rectangle (its width the longer of
/// the top and bottom edges, its height the longer of the sides); a box at least 1.5 times as
/// tall as wide is turned a quarter turn so its text runs left to right. Sampled bilinearly:
/// the reference samples bicubically, which read the same on the development photos and the
/// golden lines and took 2.7 times as long.
pub fn crop_line(img: &RgbImage, q: &Quad) -> Result<RgbImage> {
    let d = |a: [f32; 2], b: [f32; 2]| ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt();
    let w = d(q[0], q[1]).max(d(q[3], q[2])).floor().clamp(1.0, MAX_CROP_SIDE);
    let h = d(q[0], q[3]).max(d(q[1], q[2])).floor().clamp(1.0, MAX_CROP_SIDE);
    let to = [(0.0, 0.0), (w, 0.0), (w, h), (0.0, h)];
    let from = q.map(|p| (p[0], p[1]));
    let proj = Projection::from_control_points(from, to).ok_or_else(|| Error::ImageInvalid(format!("a degenerate text box {q:?}")))?;
    let mut out = RgbImage::new(w as u32, h as u32);
    warp_into(img, &proj, Interpolation::Bilinear, image::Rgb([255, 255, 255]), &mut out);
    Ok(if h / w >= 1.5 { image::imageops::rotate270(&out) } else { out })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det() -> DetInput {
        DetInput { max_side: 960, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], bgr: true }
    }

    #[test]
    fn detector_sizes_are_multiples_of_32_within_the_limit() {
        // 1280x960 scales by 0.75: 720 is 22.5 blocks of 32, which rounds to 22.
        assert_eq!(detector_size(1280, 960, &det()), (960, 704));
        // Halves round to even: 240 → 256, 272 → 256, 400 → 384 (the golden fixtures' sizes).
        assert_eq!(detector_size(320, 240, &det()), (320, 256));
        assert_eq!(detector_size(400, 272, &det()), (384, 256));
        // Never enlarged, never below 32.
        assert_eq!(detector_size(10, 10, &det()), (32, 32));
        assert_eq!(detector_size(1, 1000, &det()).0, 32);
    }

    #[test]
    fn resize_is_opencv_bilinear() {
        // 4 → 2 columns: each output pixel is the mean of a pair (centres at 0.5 and 2.5).
        let img = RgbImage::from_fn(4, 1, |x, _| image::Rgb([(x * 60) as u8, 0, 255]));
        let v = resize_map(&img, 2, 1, false, |_, v| v);
        assert_eq!(v, vec![30.0, 0.0, 255.0, 150.0, 0.0, 255.0]);
        let bgr = resize_map(&img, 2, 1, true, |_, v| v);
        assert_eq!(&bgr[..3], &[255.0, 0.0, 30.0]);
    }

    #[test]
    fn lines_are_padded_to_the_minimum_width() {
        let p = RecInput { height: 48, min_width: 320, max_width: 1600, mean: 0.5, std: 0.5, bgr: true };
        let crop = RgbImage::from_pixel(40, 24, image::Rgb([255, 255, 255]));
        let (px, w) = recogniser_input(&crop, &p).unwrap();
        assert_eq!(w, 320);
        assert_eq!(px[0], 1.0); // white
        assert_eq!(px[(10 * 320 + 200) * 3], 0.0); // padding
        let wide = RgbImage::new(4000, 10);
        assert_eq!(recogniser_input(&wide, &p).unwrap().1, 1600);
    }

    #[test]
    fn a_tilted_box_is_cut_out_upright() {
        // A dark bar along a 45° diagonal, cut out by its rotated rectangle, comes out as a
        // wide strip that is dark along its middle.
        let img = RgbImage::from_fn(100, 100, |x, y| if (x as i32 - y as i32).abs() < 4 { image::Rgb([0, 0, 0]) } else { image::Rgb([255, 255, 255]) });
        let q: Quad = [[14.0, 6.0], [94.0, 86.0], [86.0, 94.0], [6.0, 14.0]];
        let c = crop_line(&img, &q).unwrap();
        assert!(c.width() > 5 * c.height(), "{}x{}", c.width(), c.height());
        let mid = c.get_pixel(c.width() / 2, c.height() / 2)[0];
        let edge = c.get_pixel(c.width() / 2, 0)[0];
        assert!(mid < 60 && edge > 150, "mid {mid} edge {edge}");
    }
}
