//! Seven-segment displays: the codes a washing machine, a microwave or a coffee machine shows
//! ("E21", "dE", "E-11"). PP-OCR's networks were trained on printed and written text and read
//! segment digits badly or not at all, so these are read geometrically: the lit segments (light
//! on dark or dark on light) are found by their contrast with their surroundings, grouped into
//! digit cells along a row, and each cell is sampled in its seven segment zones (the row's
//! rotation and the digits' slant fitted), the lit pattern looked up in the standard table.
//!
//! A row counts only when every cell is a clean seven-segment pattern: each zone clearly lit
//! or clearly dark and the two counters of the digit empty. Printed letters fail that test.
//!
//! Every constant here was chosen on development photos only (`make_photos.py --only dev` and
//! `--only segdev`, measured by the `dev_segment_displays` and `dev_screen_photos` tools in
//! `tests/retrieval_ocr.rs`); the held-out screen photos measure it.

use image::{imageops, GrayImage, Luma, RgbImage};
use imageproc::distance_transform::Norm;
use imageproc::filter::box_filter;
use imageproc::morphology::dilate;
use imageproc::region_labelling::{connected_components, Connectivity};
use imageproc::union_find::DisjointSetForest;

use super::db::{bounds, sides};
use crate::input::ocr::Quad;

/// The photo is read at this size (longer side), never enlarged.
const WORK_SIDE: u32 = 480;
/// Digits shorter than this (work pixels) are not read.
const MIN_DIGIT_HEIGHT: f32 = 12.0;
/// A pixel is lit when it is this much (of 255) brighter (or darker) than its surroundings.
const MIN_CONTRAST: i32 = 32;
/// A cell reads when its lit segments fill their zones at least this much more than its dark
/// segments and counters do, over two.
const MIN_MARGIN: f32 = 0.2;
/// A lit segment fills at least this share of its zone.
const MIN_LIT: f32 = 0.35;
/// A mask with more blobs than this is a page of text or noise, not a display.
const MAX_BLOBS: usize = 1500;
/// At most this many characters in a row (a display, not a paragraph).
const MAX_CELLS: usize = 6;

/// Segments a..g (bits 0..6): a top, b upper right, c lower right, d bottom, e lower left,
/// f upper left, g middle; the characters displays use.
const TABLE: [(char, &str); 27] = [
    ('0', "abcdef"),
    ('1', "bc"),
    ('2', "abdeg"),
    ('3', "abcdg"),
    ('4', "bcfg"),
    ('5', "acdfg"),
    ('6', "acdefg"),
    ('7', "abc"),
    ('8', "abcdefg"),
    ('9', "abcdfg"),
    ('A', "abcefg"),
    ('b', "cdefg"),
    ('C', "adef"),
    ('c', "deg"),
    ('d', "bcdeg"),
    ('E', "adefg"),
    ('F', "aefg"),
    ('H', "bcefg"),
    ('h', "cefg"),
    ('J', "bcde"),
    ('L', "def"),
    ('n', "ceg"),
    ('o', "cdeg"),
    ('P', "abefg"),
    ('r', "eg"),
    ('t', "defg"),
    ('U', "bcdef"),
];

/// Zones of a digit cell, (left, top, right, bottom) as fractions of the cell: the seven
/// segments a..g, then the two counters (inside the upper and the lower loop).
const ZONES: [[f32; 4]; 9] = [
    [0.28, 0.0, 0.72, 0.13],
    [0.8, 0.16, 1.0, 0.4],
    [0.8, 0.6, 1.0, 0.84],
    [0.28, 0.87, 0.72, 1.0],
    [0.0, 0.6, 0.2, 0.84],
    [0.0, 0.16, 0.2, 0.4],
    [0.28, 0.44, 0.72, 0.56],
    [0.32, 0.18, 0.68, 0.38],
    [0.32, 0.62, 0.68, 0.82],
];

/// The character of a lit-segment pattern (bit i = segment `a` + i).
pub fn char_of(pattern: u8) -> Option<char> {
    TABLE.iter().find(|(_, s)| bits(s) == pattern).map(|&(c, _)| c)
}

/// The pattern a character lights, for the characters in the table (and '5' is also 'S').
pub fn pattern_of(c: char) -> Option<u8> {
    let c = if c == 'S' { '5' } else { c };
    TABLE.iter().find(|&&(t, _)| t == c).map(|(_, s)| bits(s))
}

fn bits(segments: &str) -> u8 {
    segments.bytes().fold(0, |m, b| m | 1 << (b - b'a'))
}

/// One display row read: its text (a '-' for a lone middle bar), the mean zone margin
/// (0 unsure .. 1 certain), and its corners in photo pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct DisplayRow {
    pub text: String,
    pub confidence: f32,
    pub quad: Quad,
}

/// The seven-segment rows of a photo, best first.
pub fn read(rgb: &RgbImage) -> Vec<DisplayRow> {
    let (w, h) = rgb.dimensions();
    if w < 16 || h < 16 {
        return Vec::new();
    }
    let k = (WORK_SIDE as f32 / w.max(h) as f32).min(1.0);
    let (ww, wh) = (((w as f32 * k).round() as u32).max(1), ((h as f32 * k).round() as u32).max(1));
    // A lit segment is bright in some channel (a red LED has little green or blue): each
    // pixel's brightest channel, then averaged down to the working size.
    let value = GrayImage::from_raw(w, h, rgb.as_raw().chunks_exact(3).map(|p| p[0].max(p[1]).max(p[2])).collect()).unwrap_or_default();
    let small = if k < 1.0 { imageops::thumbnail(&value, ww, wh) } else { value };
    // Per polarity, rows found more than once (at another bridging width, or a digit's own
    // segments read as a row of small digits): the one that reads the most characters, unless
    // another is clearly taller. Across polarities (a dark digit's light halo reads as a
    // digit too): the more confident.
    let mut kept: Vec<DisplayRow> = Vec::new();
    for dark in [false, true] {
        let mask = lit_mask(&small, dark);
        // Gaps between segments grow with the digits (and with blur and glare): bridged at
        // two widths.
        let mut rows: Vec<DisplayRow> = [1, 3].into_iter().flat_map(|bridge| read_mask(&mask, bridge)).collect();
        rows.sort_by(|a, b| b.text.len().cmp(&a.text.len()).then(height(&b.quad).total_cmp(&height(&a.quad))).then(b.confidence.total_cmp(&a.confidence)));
        let mut mine: Vec<DisplayRow> = Vec::new();
        for r in rows {
            match mine.iter_mut().find(|q| overlaps(&q.quad, &r.quad)) {
                Some(q) if height(&r.quad) > 1.15 * height(&q.quad) => *q = r,
                Some(_) => {}
                None => mine.push(r),
            }
        }
        for r in mine {
            match kept.iter_mut().find(|q| overlaps(&q.quad, &r.quad)) {
                Some(q) if r.confidence > q.confidence => *q = r,
                Some(_) => {}
                None => kept.push(r),
            }
        }
    }
    for r in &mut kept {
        for p in &mut r.quad {
            p[0] /= k;
            p[1] /= k;
        }
    }
    kept
}

/// Pixels brighter (or, `dark`, darker) than the mean of their surroundings by
/// [`MIN_CONTRAST`]: 255 lit, 0 not.
fn lit_mask(value: &GrayImage, dark: bool) -> GrayImage {
    let signal = if dark { GrayImage::from_fn(value.width(), value.height(), |x, y| Luma([255 - value.get_pixel(x, y).0[0]])) } else { value.clone() };
    let radius = (signal.width().max(signal.height()) / 24).max(4);
    let local = box_filter(&signal, radius, radius);
    GrayImage::from_fn(signal.width(), signal.height(), |x, y| {
        let d = signal.get_pixel(x, y).0[0] as i32 - local.get_pixel(x, y).0[0] as i32;
        Luma([if d >= MIN_CONTRAST { 255 } else { 0 }])
    })
}

/// A connected blob of lit pixels (after bridging the gaps between segments).
#[derive(Debug, Clone)]
struct Blob {
    pixels: Vec<(f32, f32)>,
    x0: f32,
    y0: f32,
    x1: f32,
    y1: f32,
}

impl Blob {
    fn at(x: f32, y: f32) -> Blob {
        Blob { pixels: vec![(x, y)], x0: x, y0: y, x1: x, y1: y }
    }
    fn add(&mut self, x: f32, y: f32) {
        self.pixels.push((x, y));
        self.x0 = self.x0.min(x);
        self.x1 = self.x1.max(x);
        self.y0 = self.y0.min(y);
        self.y1 = self.y1.max(y);
    }
    fn join(&mut self, o: Blob) {
        self.pixels.extend(o.pixels);
        self.x0 = self.x0.min(o.x0);
        self.x1 = self.x1.max(o.x1);
        self.y0 = self.y0.min(o.y0);
        self.y1 = self.y1.max(o.y1);
    }
    fn h(&self) -> f32 {
        self.y1 - self.y0 + 1.0
    }
    fn w(&self) -> f32 {
        self.x1 - self.x0 + 1.0
    }
}

fn read_mask(mask: &GrayImage, bridge: u8) -> Vec<DisplayRow> {
    let (w, h) = mask.dimensions();
    let bridged = dilate(mask, Norm::LInf, bridge);
    let labels = connected_components(&bridged, Connectivity::Eight, Luma([0u8]));
    let mut blobs: Vec<Option<Blob>> = Vec::new();
    for (x, y, l) in labels.enumerate_pixels() {
        let l = l.0[0] as usize;
        if l == 0 || mask.get_pixel(x, y).0[0] == 0 {
            continue;
        }
        if blobs.len() < l {
            blobs.resize(l, None);
        }
        let (fx, fy) = (x as f32, y as f32);
        match &mut blobs[l - 1] {
            Some(b) => b.add(fx, fy),
            slot => *slot = Some(Blob::at(fx, fy)),
        }
    }
    let max_h = h as f32 * 0.6;
    let max_w = w as f32 * 0.3;
    let blobs: Vec<Blob> = blobs.into_iter().flatten().filter(|b| b.pixels.len() >= 6 && b.h() <= max_h && b.w() <= max_w).collect();
    if blobs.len() > MAX_BLOBS {
        return Vec::new();
    }
    let blobs = join_stacked(blobs);
    // Rows grow from the tall blobs: digits of one height side by side.
    let tall: Vec<usize> = (0..blobs.len()).filter(|&i| blobs[i].h() >= MIN_DIGIT_HEIGHT && blobs[i].w() <= blobs[i].h() * 1.1).collect();
    let mut rows = DisjointSetForest::new(blobs.len());
    for (n, &i) in tall.iter().enumerate() {
        for &j in &tall[n + 1..] {
            let (a, b) = (&blobs[i], &blobs[j]);
            let hh = a.h().max(b.h());
            let overlap = a.y1.min(b.y1) - a.y0.max(b.y0);
            let gap = (a.x0.max(b.x0) - a.x1.min(b.x1)).max(0.0);
            if (a.h() - b.h()).abs() < 0.25 * hh && overlap > 0.7 * a.h().min(b.h()) && gap < 2.0 * hh {
                rows.union(i, j);
            }
        }
    }
    let mut roots: Vec<usize> = tall.iter().map(|&i| rows.root(i)).collect();
    roots.sort_unstable();
    roots.dedup();
    let mut out = Vec::new();
    for root in roots {
        let mut members: Vec<usize> = tall.iter().copied().filter(|&i| rows.root(i) == root).collect();
        if members.len() > MAX_CELLS + 2 {
            continue;
        }
        // A display window's edges stand beside its digits, a little taller: the row is read
        // as found, and without its one or two blobs least like the others in height.
        let typical = median(members.iter().map(|&i| blobs[i].h()).collect());
        members.sort_by(|&a, &b| (blobs[a].h() - typical).abs().total_cmp(&(blobs[b].h() - typical).abs()));
        let best = (0..=2.min(members.len() - 1))
            .filter_map(|drop| read_row(mask, &blobs, &members[..members.len() - drop]))
            .max_by(|a, b| a.text.chars().count().cmp(&b.text.chars().count()).then(a.confidence.total_cmp(&b.confidence)));
        out.extend(best);
    }
    out
}

/// Segments of one digit that stayed apart (the gap between a '1''s two bars, a lone top
/// bar): blobs one above the other, overlapping across, with a gap under 0.7 of their height,
/// of comparable widths, each at most 0.6 of the two together, and together no wider than a
/// digit (not a window's edge over a digit, not a whole digit and a stray piece).
fn join_stacked(blobs: Vec<Blob>) -> Vec<Blob> {
    let mut sets = DisjointSetForest::new(blobs.len());
    for i in 0..blobs.len() {
        for j in i + 1..blobs.len() {
            let (a, b) = (&blobs[i], &blobs[j]);
            let across = a.x1.min(b.x1) - a.x0.max(b.x0) + 1.0;
            let gap = a.y0.max(b.y0) - a.y1.min(b.y1);
            let (w, h) = (a.x1.max(b.x1) - a.x0.min(b.x0) + 1.0, a.y1.max(b.y1) - a.y0.min(b.y0) + 1.0);
            let digit_like = a.w().min(b.w()) >= 0.3 * a.w().max(b.w()) && w <= 0.9 * h && a.h().max(b.h()) <= 0.6 * h;
            if digit_like && across > 0.5 * a.w().min(b.w()) && gap > 0.0 && gap < 0.7 * a.h().max(b.h()) {
                sets.union(i, j);
            }
        }
    }
    let mut out: Vec<Option<Blob>> = vec![None; blobs.len()];
    for (i, b) in blobs.into_iter().enumerate() {
        match &mut out[sets.root(i)] {
            Some(m) => m.join(b),
            slot => *slot = Some(b),
        }
    }
    out.into_iter().flatten().collect()
}

/// A row's frame: origin and direction along the row.
#[derive(Clone, Copy)]
struct Frame {
    ox: f32,
    oy: f32,
    cos: f32,
    sin: f32,
}

impl Frame {
    /// Image → row coordinates (u along the row, v down across it).
    fn to_row(self, x: f32, y: f32) -> (f32, f32) {
        let (dx, dy) = (x - self.ox, y - self.oy);
        (dx * self.cos + dy * self.sin, -dx * self.sin + dy * self.cos)
    }
    fn to_image(self, u: f32, v: f32) -> (f32, f32) {
        (self.ox + u * self.cos - v * self.sin, self.oy + u * self.sin + v * self.cos)
    }
}

/// A cell's extent in row coordinates: along the row (u) and across it (v).
struct Cell {
    u0: f32,
    u1: f32,
    v0: f32,
    v1: f32,
}

impl Cell {
    /// The extent of a blob's pixels in `frame`.
    fn of(b: &Blob, frame: Frame) -> Cell {
        b.pixels.iter().map(|&(x, y)| frame.to_row(x, y)).fold(Cell { u0: f32::MAX, u1: f32::MIN, v0: f32::MAX, v1: f32::MIN }, |c, (u, v)| Cell {
            u0: c.u0.min(u),
            u1: c.u1.max(u),
            v0: c.v0.min(v),
            v1: c.v1.max(v),
        })
    }
    fn join(&mut self, o: &Cell) {
        self.u0 = self.u0.min(o.u0);
        self.u1 = self.u1.max(o.u1);
        self.v0 = self.v0.min(o.v0);
        self.v1 = self.v1.max(o.v1);
    }
}

/// The slope of the least-squares line through `pts`, as an angle (0 for fewer than two).
fn line_angle(pts: &[(f32, f32)]) -> f32 {
    let n = pts.len() as f32;
    let (mx, my) = (pts.iter().map(|p| p.0).sum::<f32>() / n, pts.iter().map(|p| p.1).sum::<f32>() / n);
    let sxy: f32 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f32 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if pts.len() >= 2 && sxx > 0.0 {
        (sxy / sxx).atan().clamp(-0.35, 0.35)
    } else {
        0.0
    }
}

/// A row laid out along `angle`: its frame, its cells (the row's digits and the short blobs in
/// its band, pieces of one digit merged) in order, and the top and bottom of its digits.
fn layout(blobs: &[Blob], members: &[usize], angle: f32) -> Option<(Frame, Vec<Cell>, f32, f32)> {
    let first = members.iter().map(|&i| &blobs[i]).min_by(|a, b| a.x0.total_cmp(&b.x0))?;
    let frame = Frame { ox: first.x0, oy: first.y1, cos: angle.cos(), sin: angle.sin() };
    let tall: Vec<Cell> = members.iter().map(|&i| Cell::of(&blobs[i], frame)).collect();
    // The highest top and the lowest bottom: a digit without its top bar ('d', 'b') or a '1'
    // (its segments' pointed ends) is shorter than the cell.
    let top = tall.iter().map(|c| c.v0).fold(f32::MAX, f32::min);
    let bottom = tall.iter().map(|c| c.v1).fold(f32::MIN, f32::max);
    let height = bottom - top + 1.0;
    if height < MIN_DIGIT_HEIGHT {
        return None;
    }
    // Short blobs inside the row's band (a '-', or segments that did not join their digit).
    // The row grows along its band: a blob within 1.3 digit heights of it joins it.
    let (mut umin, mut umax) = (tall.iter().map(|c| c.u0).fold(f32::MAX, f32::min), tall.iter().map(|c| c.u1).fold(f32::MIN, f32::max));
    let mut cells: Vec<Cell> = tall;
    let mut band: Vec<Cell> = (0..blobs.len())
        .filter(|&i| !members.contains(&i) && blobs[i].h() < height * 0.8 && blobs[i].pixels.len() >= 6)
        .map(|i| Cell::of(&blobs[i], frame))
        .filter(|c| c.v0 >= top - 0.15 * height && c.v1 <= bottom + 0.15 * height)
        .collect();
    loop {
        let near = band.iter().position(|c| c.u1 >= umin - 1.3 * height && c.u0 <= umax + 1.3 * height);
        let Some(k) = near else { break };
        let c = band.swap_remove(k);
        umin = umin.min(c.u0);
        umax = umax.max(c.u1);
        cells.push(c);
    }
    // Pieces of one digit overlap along the row: merge them.
    cells.sort_by(|a, b| a.u0.total_cmp(&b.u0));
    let mut merged: Vec<Cell> = Vec::new();
    for c in cells {
        if let Some(last) = merged.last_mut() {
            let overlap = last.u1.min(c.u1) - last.u0.max(c.u0);
            if overlap > 0.4 * (c.u1 - c.u0).min(last.u1 - last.u0) {
                last.join(&c);
                continue;
            }
        }
        merged.push(c);
    }
    Some((frame, merged, top, bottom))
}

fn read_row(mask: &GrayImage, blobs: &[Blob], members: &[usize]) -> Option<DisplayRow> {
    // The row's direction: first a line through the centres of its tall blobs; then, once
    // the pieces of each digit are merged, through the centres of its full-height cells (a
    // '1' whose two segments are apart counts too).
    let centres: Vec<(f32, f32)> = members.iter().map(|&i| &blobs[i]).map(|b| ((b.x0 + b.x1) / 2.0, (b.y0 + b.y1) / 2.0)).collect();
    let (frame, cells, top, bottom) = layout(blobs, members, line_angle(&centres))?;
    let height = bottom - top + 1.0;
    let full: Vec<(f32, f32)> = cells.iter().filter(|c| c.v1 - c.v0 > 0.6 * height).map(|c| frame.to_image((c.u0 + c.u1) / 2.0, (c.v0 + c.v1) / 2.0)).collect();
    let a0 = if full.len() > centres.len() { line_angle(&full) } else { line_angle(&centres) };
    // Around that direction, the angle and the slant that read the cells most cleanly (the
    // centres of digits without a top bar or a bottom bar sit off the line).
    let mut best: Option<(f32, String, Frame, f32, f32, f32, f32)> = None;
    for turn in -4..=4 {
        let Some((frame, merged, top, bottom)) = layout(blobs, members, a0 + turn as f32 * 0.03) else { continue };
        let height = bottom - top + 1.0;
        if merged.len() < 2 || merged.len() > MAX_CELLS {
            continue;
        }
        let lit = |u: f32, v: f32| {
            let (x, y) = frame.to_image(u, v);
            let (x, y) = (x.round(), y.round());
            x >= 0.0 && y >= 0.0 && mask.get_pixel_checked(x as u32, y as u32).is_some_and(|p| p.0[0] > 0)
        };
        // Where no digit of the row has its top (or bottom) bar, the digits end at the
        // pointed ends of their side bars, a little inside the cell: both are tried.
        for (pad_top, pad_bottom) in [(0.0, 0.0), (0.07, 0.0), (0.0, 0.07), (0.07, 0.07)] {
            let (top, height) = (top - pad_top * height, height * (1.0 + pad_top + pad_bottom));
            for step in 0..=15 {
                let slant = -0.2 + step as f32 * 0.04;
                let widths: Vec<f32> = merged.iter().map(|c| c.u1 - c.u0 + 1.0 - slant * height).filter(|&w| w > 0.42 * height).collect();
                // Only narrow cells ("11"): a digit's usual proportions.
                let width = if widths.is_empty() { 0.56 * height } else { median(widths) };
                if !(0.35..=0.9).contains(&(width / height)) {
                    continue;
                }
                let Some((text, margins)) = read_cells(&lit, &merged, top, height, width, slant) else { continue };
                let score = margins.iter().sum::<f32>() / margins.len() as f32;
                if best.as_ref().is_none_or(|b| score > b.0) {
                    let (u0, u1) = (merged[0].u0, merged.last().map(|c| c.u1).unwrap_or(0.0));
                    best = Some((score, text, frame, top, top + height - 1.0, u0, u1));
                }
            }
        }
    }
    let (score, text, frame, top, bottom, u0, u1) = best?;
    // Bars alone ("11", "1-1") are what tile joints, stripes and edges look like too.
    if text.chars().all(|c| c == '1' || c == '-') {
        return None;
    }
    let quad = [frame.to_image(u0, top), frame.to_image(u1, top), frame.to_image(u1, bottom), frame.to_image(u0, bottom)].map(|(x, y)| [x, y]);
    Some(DisplayRow { text, confidence: (score * 2.0).min(1.0), quad })
}

/// Reads every cell with this geometry: the text and each cell's smallest zone margin, or
/// `None` when a cell is not a clean pattern in the table.
fn read_cells(lit: &dyn Fn(f32, f32) -> bool, cells: &[Cell], top: f32, height: f32, width: f32, slant: f32) -> Option<(String, Vec<f32>)> {
    let mut text = String::new();
    let mut margins = Vec::new();
    for c in cells {
        let span = c.u1 - c.u0 + 1.0;
        let v_mid = (c.v0 + c.v1) / 2.0 - top;
        // A lone middle bar: a dash.
        if c.v1 - c.v0 + 1.0 < 0.3 * height && (0.35..0.65).contains(&(v_mid / height)) && span > 0.2 * height && span < width * 1.1 {
            text.push('-');
            margins.push(0.5);
            continue;
        }
        // A cell narrower than a digit is placed at its left or its right (a '1' lights
        // only the right side): whichever reads better.
        let lefts = [c.u0, c.u1 + 1.0 - slant * height - width];
        let mut best: Option<(char, f32)> = None;
        for left in lefts {
            if let Some((ch, margin)) = read_cell(lit, left, top, height, width, slant) {
                if best.is_none_or(|(_, m)| margin > m) {
                    best = Some((ch, margin));
                }
            }
        }
        let (ch, margin) = best?;
        text.push(ch);
        margins.push(margin);
    }
    // A '1' is no taller than the other digits (its bars end inside the cell): a taller bar
    // beside them is the display window's edge.
    let extent = |c: &Cell| c.v1 - c.v0;
    let others = cells.iter().zip(text.chars()).filter(|&(_, ch)| ch != '1' && ch != '-').map(|(c, _)| extent(c)).fold(0.0, f32::max);
    if others > 0.0 && cells.iter().zip(text.chars()).any(|(c, ch)| ch == '1' && extent(c) > others * 1.02) {
        return None;
    }
    // Nor is it off the row's pitch: a bar at the end of a row, farther from (or nearer to)
    // its neighbour than the digits are from each other, is an edge too.
    let chars: Vec<char> = text.chars().collect();
    let n = cells.len();
    if n >= 3 {
        let pitch = |i: usize| cells[i + 1].u1 - cells[i].u1;
        for (end, pair) in [(0, 0), (n - 1, n - 2)] {
            if chars[end] == '1' {
                let rest = median((0..n - 1).filter(|&i| i != pair).map(pitch).collect());
                if rest > 0.0 && (pitch(pair) / rest - 1.0).abs() > 0.2 {
                    return None;
                }
            }
        }
    }
    Some((text, margins))
}

/// One cell read at `left` (the cell's bottom-left corner along the row).
fn read_cell(lit: &dyn Fn(f32, f32) -> bool, left: f32, top: f32, height: f32, width: f32, slant: f32) -> Option<(char, f32)> {
    // Per zone: the share of a grid of points in it that are lit.
    const GRID: usize = 4;
    let mut fills = [0f32; 9];
    for (z, r) in ZONES.iter().enumerate() {
        let mut n = 0;
        for i in 0..GRID {
            let q = r[1] + (r[3] - r[1]) * (i as f32 + 0.5) / GRID as f32;
            for j in 0..GRID {
                let p = r[0] + (r[2] - r[0]) * (j as f32 + 0.5) / GRID as f32;
                n += lit(left + p * width + slant * (1.0 - q) * height, top + q * height) as usize;
            }
        }
        fills[z] = n as f32 / (GRID * GRID) as f32;
    }
    // Lit and dark segments split at the widest gap between their fills (blur and small
    // digits fill less of a zone than a sharp, large one), lit ones at least MIN_LIT full;
    // the margin is half the gap between the dimmest lit segment and the brightest dark
    // segment or counter.
    let mut sorted: Vec<f32> = fills[..7].to_vec();
    sorted.sort_by(f32::total_cmp);
    let counters = fills[7].max(fills[8]);
    let mut best: Option<(f32, f32)> = None;
    for i in 0..7 {
        let (lit_min, dark_max) = (sorted[i], if i > 0 { sorted[i - 1] } else { 0.0 });
        if lit_min >= MIN_LIT && best.is_none_or(|(l, d)| lit_min - dark_max > l - d) {
            best = Some((lit_min, dark_max));
        }
    }
    let (lit_min, dark_max) = best?;
    let margin = (lit_min - dark_max.max(counters)) / 2.0;
    let pattern = (0..7).filter(|&z| fills[z] >= lit_min).fold(0u8, |m, z| m | 1 << z);
    if margin < MIN_MARGIN {
        return None;
    }
    char_of(pattern).map(|ch| (ch, margin))
}

fn median(mut v: Vec<f32>) -> f32 {
    v.sort_by(f32::total_cmp);
    v[v.len() / 2]
}

/// A row's height: its right side (corners top-left, top-right, bottom-right, bottom-left).
fn height(q: &Quad) -> f32 {
    sides(q).1
}

/// Whether the centre of one quad lies inside the other's bounding box.
pub fn overlaps(a: &Quad, b: &Quad) -> bool {
    let centre = |q: &Quad| (q.iter().map(|p| p[0]).sum::<f32>() / 4.0, q.iter().map(|p| p[1]).sum::<f32>() / 4.0);
    let inside = |(x, y): (f32, f32), [x0, y0, x1, y1]: [f32; 4]| x >= x0 && x <= x1 && y >= y0 && y <= y1;
    inside(centre(a), bounds(b)) || inside(centre(b), bounds(a))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_one_character_per_pattern() {
        for (i, (c, s)) in TABLE.iter().enumerate() {
            assert!(TABLE[i + 1..].iter().all(|(_, t)| bits(t) != bits(s)), "{c} repeats a pattern");
            assert_eq!(char_of(bits(s)), Some(*c));
        }
        assert_eq!(pattern_of('S'), pattern_of('5'));
    }

    /// Draws `text` as slanted seven-segment digits of height `h` (lit `on`, unlit `off`)
    /// on `back`, rotated by `angle` radians about the photo's centre.
    fn display(text: &str, h: f32, slant: f32, angle: f32, back: [u8; 3], on: [u8; 3], off: [u8; 3]) -> RgbImage {
        use imageproc::drawing::draw_polygon_mut;
        use imageproc::point::Point;
        let (w, t) = (h * 0.56, h * 0.115);
        let mut img = RgbImage::from_pixel(640, 400, image::Rgb(back));
        let (cx, cy) = (320.0, 200.0);
        let total = text.len() as f32 * (w + 0.28 * h) - 0.28 * h;
        let (x0, y0) = (cx - total / 2.0, cy - h / 2.0);
        // Segment a..g as (x, y, horizontal) of its centre in the cell.
        let seg = [
            (0.5 * w, t / 2.0, true),
            (w - t / 2.0, h / 4.0, false),
            (w - t / 2.0, 0.75 * h, false),
            (0.5 * w, h - t / 2.0, true),
            (t / 2.0, 0.75 * h, false),
            (t / 2.0, h / 4.0, false),
            (0.5 * w, h / 2.0, true),
        ];
        for (i, ch) in text.chars().enumerate() {
            let lit = if ch == '-' { 1 << 6 } else { pattern_of(ch).unwrap() };
            let left = x0 + i as f32 * (w + 0.28 * h);
            for (k, &(sx, sy, horizontal)) in seg.iter().enumerate() {
                let (half_l, half_t) = if horizontal { (w / 2.0 - t * 0.6, t / 2.0) } else { (h / 4.0 - t * 0.6, t / 2.0) };
                let corners = if horizontal {
                    [(-half_l, 0.0), (-half_l + half_t, -half_t), (half_l - half_t, -half_t), (half_l, 0.0), (half_l - half_t, half_t), (-half_l + half_t, half_t)]
                } else {
                    [(0.0, -half_l), (half_t, -half_l + half_t), (half_t, half_l - half_t), (0.0, half_l), (-half_t, half_l - half_t), (-half_t, -half_l + half_t)]
                };
                let poly: Vec<Point<i32>> = corners
                    .iter()
                    .map(|&(dx, dy)| {
                        let (x, y) = (left + sx + dx, y0 + sy + dy);
                        let x = x + (y0 + h - y) * slant;
                        let (rx, ry) = (x - cx, y - cy);
                        let (px, py) = (cx + rx * angle.cos() - ry * angle.sin(), cy + rx * angle.sin() + ry * angle.cos());
                        Point::new(px.round() as i32, py.round() as i32)
                    })
                    .collect();
                draw_polygon_mut(&mut img, &poly, image::Rgb(if lit & (1 << k) != 0 { on } else { off }));
            }
        }
        img
    }

    #[test]
    fn reads_drawn_displays_in_both_polarities() {
        let red = ([16, 10, 10], [250, 60, 40], [30, 16, 14]);
        let lcd = ([190, 200, 186], [40, 44, 40], [182, 192, 178]);
        for (text, h, slant, angle, (back, on, off)) in [
            ("E21", 90.0, 0.08, 0.0, red),
            ("dE", 120.0, 0.1, 0.1, lcd),
            ("E-11", 70.0, 0.0, -0.08, red),
            ("St", 60.0, 0.08, 0.05, red),
            ("UE", 100.0, 0.12, -0.04, lcd),
            ("0123", 50.0, 0.08, 0.0, red),
            ("4567", 50.0, 0.08, 0.03, lcd),
            ("89AbC", 44.0, 0.05, 0.0, red),
            ("dEFHL", 44.0, 0.1, 0.0, lcd),
            ("noPrt", 44.0, 0.08, -0.03, red),
        ] {
            let rows = read(&display(text, h, slant, angle, back, on, off));
            let want = text.replace('S', "5");
            assert!(rows.first().is_some_and(|r| r.text == want), "{text} read as {:?}", rows.iter().map(|r| &r.text).collect::<Vec<_>>());
        }
        // Nothing lit: nothing read.
        assert!(read(&RgbImage::from_pixel(640, 400, image::Rgb([128, 128, 128]))).is_empty());
    }
}
