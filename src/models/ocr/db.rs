//! DBNet post-processing (Liao et al., "Real-time Scene Text Detection with Differentiable
//! Binarization", 2020): the probability map thresholded, each connected region's outer
//! contour (imageproc, Suzuki–Abe) boxed by its minimum-area rectangle (imageproc, rotating
//! calipers), kept if the mean probability inside the box is high enough, then grown back by
//! the shrink the network was trained with: every side moves out by area·ratio/perimeter.

use imageproc::contours::{find_contours, BorderType};
use imageproc::geometry::min_area_rect;
use imageproc::point::Point;
use serde::{Deserialize, Serialize};

use crate::input::ocr::Quad;

/// Post-processing settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DbParams {
    /// Pixels with a higher probability are text.
    pub thresh: f32,
    /// Boxes whose mean probability is lower are dropped.
    pub box_thresh: f32,
    /// How far a box is grown: its area · ratio / its perimeter on every side.
    pub unclip_ratio: f32,
    /// Regions considered, largest first (bounds the work on dense pages).
    pub max_candidates: usize,
    /// Boxes with a shorter side (in map pixels) are dropped.
    pub min_size: f32,
}

/// A text box in map pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct TextBox {
    pub quad: Quad,
    pub score: f32,
}

/// The text boxes of a probability map `[h, w]`.
pub fn boxes(map: &[f32], w: usize, h: usize, p: &DbParams) -> Vec<TextBox> {
    if w == 0 || h == 0 || map.len() != w * h {
        return vec![];
    }
    let mask = image::GrayImage::from_fn(w as u32, h as u32, |x, y| image::Luma([if map[y as usize * w + x as usize] > p.thresh { 255 } else { 0 }]));
    let mut contours: Vec<Vec<Point<i32>>> =
        find_contours::<i32>(&mask).into_iter().filter(|c| c.border_type == BorderType::Outer && c.points.len() >= 3).map(|c| c.points).collect();
    // Largest regions first when there are more than we look at.
    if contours.len() > p.max_candidates {
        contours.sort_by_key(|c| std::cmp::Reverse(c.len()));
        contours.truncate(p.max_candidates);
    }
    let mut out = Vec::new();
    for points in contours {
        let rect = min_area_rect(&points).map(|q| [q.x as f32, q.y as f32]);
        let (side_w, side_h) = sides(&rect);
        if side_w.min(side_h) < p.min_size {
            continue;
        }
        let score = mean_inside(map, w, h, &rect);
        if score < p.box_thresh {
            continue;
        }
        let grown = unclip(&rect, p.unclip_ratio);
        let (gw, gh) = sides(&grown);
        if gw.min(gh) < p.min_size + 2.0 {
            continue;
        }
        let quad = grown.map(|[x, y]| [x.clamp(0.0, w as f32), y.clamp(0.0, h as f32)]);
        out.push(TextBox { quad: order(quad), score });
    }
    out
}

/// Lengths of the sides p0→p1 and p1→p2 of a rectangle.
pub fn sides(q: &Quad) -> (f32, f32) {
    let d = |a: [f32; 2], b: [f32; 2]| ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt();
    (d(q[0], q[1]), d(q[1], q[2]))
}

/// Grows a rectangle (corners in order around it) by `area · ratio / perimeter` on every side.
/// For a rectangle this is exactly the minimum-area rectangle around the polygon offset
/// (Vatti clipping with round joins) that the reference implementation computes.
pub fn unclip(q: &Quad, ratio: f32) -> Quad {
    let (w, h) = sides(q);
    if w <= 0.0 || h <= 0.0 {
        return *q;
    }
    let d = w * h * ratio / (2.0 * (w + h));
    let u = [(q[1][0] - q[0][0]) / w, (q[1][1] - q[0][1]) / w];
    let v = [(q[2][0] - q[1][0]) / h, (q[2][1] - q[1][1]) / h];
    let mv = |p: [f32; 2], a: f32, b: f32| [p[0] + a * u[0] * d + b * v[0] * d, p[1] + a * u[1] * d + b * v[1] * d];
    [mv(q[0], -1.0, -1.0), mv(q[1], 1.0, -1.0), mv(q[2], 1.0, 1.0), mv(q[3], -1.0, 1.0)]
}

/// Top-left, top-right, bottom-right, bottom-left: the two leftmost points ordered by y, then
/// the two rightmost.
pub fn order(q: Quad) -> Quad {
    let mut p = q;
    p.sort_by(|a, b| a[0].total_cmp(&b[0]));
    let (tl, bl) = if p[0][1] <= p[1][1] { (p[0], p[1]) } else { (p[1], p[0]) };
    let (tr, br) = if p[2][1] <= p[3][1] { (p[2], p[3]) } else { (p[3], p[2]) };
    [tl, tr, br, bl]
}

/// The bounding box of a quadrilateral: `[x0, y0, x1, y1]`.
pub fn bounds(q: &Quad) -> [f32; 4] {
    let (xs, ys) = (q.map(|p| p[0]), q.map(|p| p[1]));
    [xs.into_iter().fold(f32::MAX, f32::min), ys.into_iter().fold(f32::MAX, f32::min), xs.into_iter().fold(f32::MIN, f32::max), ys.into_iter().fold(f32::MIN, f32::max)]
}

/// Mean of the map over the pixels whose centre lies inside the quadrilateral.
fn mean_inside(map: &[f32], w: usize, h: usize, q: &Quad) -> f32 {
    let [x0, y0, x1, y1] = bounds(q);
    let xs = (x0.floor().max(0.0) as usize)..=(x1.ceil().max(0.0) as usize).min(w - 1);
    let ys = (y0.floor().max(0.0) as usize)..=(y1.ceil().max(0.0) as usize).min(h - 1);
    let (mut sum, mut n) = (0f64, 0usize);
    for y in ys {
        for x in xs.clone() {
            if inside(q, x as f32, y as f32) {
                sum += map[y * w + x] as f64;
                n += 1;
            }
        }
    }
    if n == 0 {
        0.0
    } else {
        (sum / n as f64) as f32
    }
}

/// Whether a point is inside (or on) a convex quadrilateral given in order around it.
fn inside(q: &Quad, x: f32, y: f32) -> bool {
    let mut sign = 0f32;
    for i in 0..4 {
        let (a, b) = (q[i], q[(i + 1) % 4]);
        let cross = (b[0] - a[0]) * (y - a[1]) - (b[1] - a[1]) * (x - a[0]);
        if cross.abs() < 1e-6 {
            continue;
        }
        if sign == 0.0 {
            sign = cross.signum();
        } else if cross.signum() != sign {
            return false;
        }
    }
    true
}

/// Sorts boxes into reading order: by the top-left corner's y, then x, where boxes whose tops
/// are within 10 pixels count as one line (left to right).
pub fn reading_order(boxes: &mut [TextBox]) {
    boxes.sort_by(|a, b| a.quad[0][1].total_cmp(&b.quad[0][1]).then(a.quad[0][0].total_cmp(&b.quad[0][0])));
    for i in 0..boxes.len() {
        for j in (0..i).rev() {
            let (a, b) = (&boxes[j], &boxes[j + 1]);
            if (b.quad[0][1] - a.quad[0][1]).abs() < 10.0 && b.quad[0][0] < a.quad[0][0] {
                boxes.swap(j, j + 1);
            } else {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> DbParams {
        DbParams { thresh: 0.3, box_thresh: 0.5, unclip_ratio: 1.5, max_candidates: 1000, min_size: 3.0 }
    }

    #[test]
    fn a_bright_rectangle_is_one_box_grown_by_the_unclip_distance() {
        let (w, h) = (60, 30);
        let mut map = vec![0.0; w * h];
        for y in 10..20 {
            for x in 10..50 {
                map[y * w + x] = 0.9;
            }
        }
        let b = boxes(&map, w, h, &params());
        assert_eq!(b.len(), 1, "{b:?}");
        assert!((b[0].score - 0.9).abs() < 0.05, "score {}", b[0].score);
        let [tl, tr, br, bl] = b[0].quad;
        // The contour runs through pixel centres 10..=49 × 10..=19: 39 × 9, grown by
        // 39·9·1.5 / (2·48) = 5.48 on every side.
        let d = 39.0 * 9.0 * 1.5 / 96.0;
        for (got, want) in [(tl, [10.0 - d, 10.0 - d]), (tr, [49.0 + d, 10.0 - d]), (br, [49.0 + d, 19.0 + d]), (bl, [10.0 - d, 19.0 + d])] {
            assert!((got[0] - want[0]).abs() < 1.1 && (got[1] - want[1]).abs() < 1.1, "{got:?} vs {want:?}");
        }
    }

    #[test]
    fn faint_tiny_and_empty_regions_give_no_box() {
        let (w, h) = (40, 40);
        let mut map = vec![0.0; w * h];
        for y in 5..15 {
            for x in 5..30 {
                map[y * w + x] = 0.4; // above thresh, below box_thresh
            }
        }
        map[30 * w + 30] = 1.0; // one pixel
        assert!(boxes(&map, w, h, &params()).is_empty());
        assert!(boxes(&[], 0, 0, &params()).is_empty());
        assert!(boxes(&[0.5; 3], 2, 2, &params()).is_empty());
    }

    #[test]
    fn reading_order_is_lines_then_left_to_right() {
        let b = |x: f32, y: f32| TextBox { quad: [[x, y], [x + 5.0, y], [x + 5.0, y + 5.0], [x, y + 5.0]], score: 1.0 };
        let mut v = vec![b(50.0, 42.0), b(0.0, 40.0), b(30.0, 0.0), b(0.0, 3.0)];
        reading_order(&mut v);
        let xs: Vec<(f32, f32)> = v.iter().map(|t| (t.quad[0][0], t.quad[0][1])).collect();
        assert_eq!(xs, vec![(0.0, 3.0), (30.0, 0.0), (0.0, 40.0), (50.0, 42.0)]);
    }
}
