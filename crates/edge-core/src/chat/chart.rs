//! Price charts as PNG images, sans-IO: closing prices in, PNG bytes out.
//!
//! A small rasteriser (an anti-aliased polyline, a tinted area under it, grid lines, and
//! text in the `font8x8` bitmap font at 2×) draws into an RGB buffer that the `png` crate
//! encodes. The image is opaque, so it reads the same whichever theme (dark or light) the
//! viewer's Discord uses; both palettes pass WCAG AA contrast for text on their own
//! background (tested). Why not `tiny-skia` or `plotters`: see DESIGN.md ("Discord charts").
//!
//! Nothing here panics on any input: prices are checked (finite, at most [`MAX_POINTS`]),
//! every pixel write is bounds-checked, and the scale survives flat and extreme series.

use crate::error::HttpError;

/// Width of a chart, pixels.
pub const WIDTH: u32 = 800;
/// Height of a chart, pixels.
pub const HEIGHT: u32 = 400;
/// Most prices one chart draws (the quote API's answers are capped at the same number).
pub const MAX_POINTS: usize = 2000;

/// The plot rectangle (inside the axes), pixels: left, top, right, bottom (exclusive).
pub const PLOT: Rect = Rect {
    x0: 20,
    y0: 56,
    x1: WIDTH - 100,
    y1: HEIGHT - 44,
};

/// Space between the plot's edges and the outermost points, pixels.
const INSET: f64 = 6.0;

/// An axis-aligned rectangle, pixels; `x1` and `y1` are exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    /// Left edge.
    pub x0: u32,
    /// Top edge.
    pub y0: u32,
    /// Right edge (exclusive).
    pub x1: u32,
    /// Bottom edge (exclusive).
    pub y1: u32,
}

/// An sRGB colour.
pub type Rgb = [u8; 3];

/// A chart's colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Palette {
    /// Background of the whole image.
    pub background: Rgb,
    /// Horizontal grid lines.
    pub grid: Rgb,
    /// The axis line and the image's border.
    pub axis: Rgb,
    /// Title and price labels.
    pub text: Rgb,
    /// Secondary labels (the time axis).
    pub muted: Rgb,
    /// The price line when the last close is at or above the first.
    pub up: Rgb,
    /// The price line when the last close is below the first.
    pub down: Rgb,
}

/// The colour scheme of a chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Theme {
    /// Light text on a near-black card (the default; close to Discord's dark theme).
    #[default]
    Dark,
    /// Dark text on a white card (close to Discord's light theme).
    Light,
}

impl Theme {
    /// `dark` or `light` (any case); anything else is `None`.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "dark" => Some(Self::Dark),
            "light" => Some(Self::Light),
            _ => None,
        }
    }

    /// This theme's colours.
    #[must_use]
    pub const fn palette(self) -> Palette {
        match self {
            Self::Dark => Palette {
                background: [0x1a, 0x1b, 0x1e],
                grid: [0x33, 0x36, 0x3d],
                axis: [0x6d, 0x6f, 0x78],
                text: [0xf2, 0xf3, 0xf5],
                muted: [0xb5, 0xba, 0xc1],
                up: [0x3b, 0xd1, 0x6f],
                down: [0xff, 0x6b, 0x6b],
            },
            Self::Light => Palette {
                background: [0xff, 0xff, 0xff],
                grid: [0xe3, 0xe5, 0xe8],
                axis: [0x8a, 0x8f, 0x98],
                text: [0x1f, 0x23, 0x28],
                muted: [0x4e, 0x55, 0x5d],
                up: [0x1a, 0x7f, 0x37],
                down: [0xc9, 0x1d, 0x2a],
            },
        }
    }
}

/// What a chart shows besides the prices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChartSpec<'a> {
    /// The ticker, drawn top left (ASCII; other characters show as `?`).
    pub symbol: &'a str,
    /// The range label (`1D`, `1W`, …), drawn after the ticker and under the time axis.
    pub range: &'a str,
    /// The colour scheme.
    pub theme: Theme,
}

/// Why no chart could be drawn.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChartError {
    /// The series has no prices.
    #[error("no prices to chart")]
    Empty,
    /// The series has more than [`MAX_POINTS`] prices.
    #[error("too many prices to chart")]
    TooMany,
    /// A price is NaN or infinite.
    #[error("a price is not a finite number")]
    NotFinite,
    /// The PNG encoder refused the image (does not happen for a well-formed buffer).
    #[error("the chart could not be encoded")]
    Encode,
}

impl HttpError for ChartError {
    fn status(&self) -> u16 {
        match self {
            Self::Empty | Self::TooMany | Self::NotFinite => 422,
            Self::Encode => 500,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::Empty | Self::TooMany | Self::NotFinite => "unchartable_series",
            Self::Encode => "chart_encode_failed",
        }
    }
}

/// An RGB canvas with bounds-checked blending.
struct Canvas {
    w: u32,
    h: u32,
    px: Vec<u8>,
}

impl Canvas {
    fn new(w: u32, h: u32, bg: Rgb) -> Self {
        let n = (w as usize) * (h as usize);
        let px = std::iter::repeat_n(bg, n).flatten().collect();
        Self { w, h, px }
    }

    /// Blends `c` over the pixel at (`x`, `y`) with opacity `a` (0..=1); outside is ignored.
    fn blend(&mut self, x: i64, y: i64, c: Rgb, a: f32) {
        if x < 0 || y < 0 || x >= i64::from(self.w) || y >= i64::from(self.h) || a <= 0.0 {
            return;
        }
        // Fixed point: opacity in 256ths, rounded.
        let a = (a.min(1.0) * 256.0) as i32;
        let i = ((y as usize) * (self.w as usize) + (x as usize)) * 3;
        if let Some(p) = self.px.get_mut(i..i + 3) {
            for (dst, src) in p.iter_mut().zip(c) {
                let d = i32::from(*dst);
                *dst = (d + (((i32::from(src) - d) * a + 128) >> 8)).clamp(0, 255) as u8;
            }
        }
    }

    fn fill(&mut self, r: Rect, c: Rgb, a: f32) {
        for y in r.y0..r.y1.min(self.h) {
            for x in r.x0..r.x1.min(self.w) {
                self.blend(i64::from(x), i64::from(y), c, a);
            }
        }
    }

    /// Draws `text` at (`x`, `y`) (top left) in the 8×8 font scaled by `scale`; returns the
    /// x just after it.
    fn text(&mut self, x: i64, y: i64, text: &str, c: Rgb, scale: i64) -> i64 {
        let mut cx = x;
        for ch in text.chars() {
            let code = if ch.is_ascii() {
                ch as usize
            } else {
                '?' as usize
            };
            let glyph = font8x8::legacy::BASIC_LEGACY
                .get(code)
                .copied()
                .unwrap_or_default();
            for (row, bits) in (0i64..).zip(glyph) {
                for col in 0..8i64 {
                    if bits >> col & 1 == 1 {
                        for dy in 0..scale {
                            for dx in 0..scale {
                                self.blend(cx + col * scale + dx, y + row * scale + dy, c, 1.0);
                            }
                        }
                    }
                }
            }
            cx += 8 * scale;
        }
        cx
    }
}

/// Width of `text` drawn at `scale`, pixels.
fn text_width(text: &str, scale: i64) -> i64 {
    i64::try_from(text.chars().count())
        .unwrap_or(i64::MAX / 16)
        .saturating_mul(8 * scale)
}

/// A "nice" tick step (1, 2 or 5 × 10ⁿ) giving about five intervals over `span`.
fn nice_step(span: f64) -> f64 {
    let raw = span / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let m = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    m * mag
}

/// The value axis: bounds and ticks covering `[min, max]`.
struct Scale {
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
    decimals: usize,
}

fn scale(min: f64, max: f64) -> Scale {
    let (min, max) = if max - min > max.abs().max(min.abs()) * 1e-9 && (max - min).is_finite() {
        (min, max)
    } else {
        // A flat (or degenerate) series: one percent either side, at least 0.01.
        let pad = (max.abs() * 0.01).max(0.01);
        (min - pad, max + pad)
    };
    let step = nice_step(max - min);
    let (lo, hi) = ((min / step).floor() * step, (max / step).ceil() * step);
    if !(step.is_finite() && step > 0.0 && lo.is_finite() && hi.is_finite() && hi > lo) {
        // Values near f64's limits: plot them without ticks.
        return Scale {
            lo: min,
            hi: max,
            ticks: Vec::new(),
            decimals: 0,
        };
    }
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10().floor()).clamp(0.0, 6.0) as usize
    };
    let ticks = (0..=20)
        .map(|k| lo + step * f64::from(k))
        .take_while(|t| *t <= hi + step * 1e-6)
        .collect();
    Scale {
        lo,
        hi,
        ticks,
        decimals,
    }
}

/// The price with `decimals` places and at most 10 characters (else in `e` notation).
fn label(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    if s.len() <= 10 { s } else { format!("{v:.2e}") }
}

/// Distance-based coverage of a round-capped segment of half width `hw`, maxed into `mask`
/// (one f32 per pixel of the plot rectangle).
fn stroke(mask: &mut [f32], r: Rect, a: (f64, f64), b: (f64, f64), hw: f64) {
    let (w, h) = (f64::from(r.x1 - r.x0), f64::from(r.y1 - r.y0));
    let pad = hw + 1.0;
    let xs = (a.0.min(b.0) - pad).floor().max(0.0);
    let xe = (a.0.max(b.0) + pad).ceil().min(w);
    let ys = (a.1.min(b.1) - pad).floor().max(0.0);
    let ye = (a.1.max(b.1) + pad).ceil().min(h);
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len2 = dx * dx + dy * dy;
    let stride = (r.x1 - r.x0) as usize;
    // A steep segment touches only a band of each row: around the centre line's x, as wide
    // as the capsule (caps included) can be there.
    let band = (dy.abs() > 1e-9).then(|| pad * (len2.sqrt() + dx.abs()) / dy.abs() + 1.0);
    let mut y = ys;
    while y < ye {
        let (mut x, row_end) = match band {
            Some(band) => {
                let cx = a.0 + (y + 0.5 - a.1) * dx / dy;
                ((cx - band).floor().max(xs), (cx + band).ceil().min(xe))
            }
            None => (xs, xe),
        };
        while x < row_end {
            let (px, py) = (x + 0.5, y + 0.5);
            let t = if len2 > 0.0 {
                (((px - a.0) * dx + (py - a.1) * dy) / len2).clamp(0.0, 1.0)
            } else {
                0.0
            };
            let (qx, qy) = (a.0 + t * dx - px, a.1 + t * dy - py);
            let cov = (hw + 0.5 - (qx * qx + qy * qy).sqrt()).clamp(0.0, 1.0) as f32;
            if cov > 0.0
                && let Some(m) = mask.get_mut(y as usize * stride + x as usize)
            {
                *m = m.max(cov);
            }
            x += 1.0;
        }
        y += 1.0;
    }
}

/// Renders `closes` (oldest first) as an 800×400 PNG.
///
/// # Errors
/// [`ChartError::Empty`], [`ChartError::TooMany`] or [`ChartError::NotFinite`] for a series
/// that cannot be drawn; [`ChartError::Encode`] if the encoder fails.
pub fn render(closes: &[f64], spec: &ChartSpec<'_>) -> Result<Vec<u8>, ChartError> {
    let (Some(&first), Some(&last)) = (closes.first(), closes.last()) else {
        return Err(ChartError::Empty);
    };
    if closes.len() > MAX_POINTS {
        return Err(ChartError::TooMany);
    }
    if !closes.iter().all(|c| c.is_finite()) {
        return Err(ChartError::NotFinite);
    }
    let p = spec.theme.palette();
    let min = closes.iter().copied().fold(f64::INFINITY, f64::min);
    let max = closes.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let s = scale(min, max);
    let mut c = Canvas::new(WIDTH, HEIGHT, p.background);
    let r = PLOT;
    let (pw, ph) = (f64::from(r.x1 - r.x0), f64::from(r.y1 - r.y0));
    // Plot-relative y of a value, kept `INSET` pixels inside the plot so the end dot is not
    // clipped; the span is finite and positive by construction.
    let y_of = |v: f64| {
        (INSET + (s.hi - v) / (s.hi - s.lo) * (ph - 1.0 - 2.0 * INSET)).clamp(0.0, ph - 1.0)
    };

    // Grid lines and value labels.
    for t in &s.ticks {
        let y = i64::from(r.y0) + y_of(*t).round() as i64;
        for x in r.x0..r.x1 {
            c.blend(i64::from(x), y, p.grid, 1.0);
        }
        let text = label(*t, s.decimals);
        c.text(i64::from(r.x1) + 10, y - 8, &text, p.text, 2);
    }
    // Axis line under the plot, and a one-pixel border round the image.
    c.fill(
        Rect {
            y0: r.y1,
            y1: r.y1 + 2,
            ..r
        },
        p.axis,
        1.0,
    );
    for (x0, y0, x1, y1) in [
        (0, 0, WIDTH, 1),
        (0, HEIGHT - 1, WIDTH, HEIGHT),
        (0, 0, 1, HEIGHT),
        (WIDTH - 1, 0, WIDTH, HEIGHT),
    ] {
        c.fill(Rect { x0, y0, x1, y1 }, p.axis, 1.0);
    }

    // The price line: points across the plot (a single price is a flat line).
    let n = closes.len();
    let pts: Vec<(f64, f64)> = if n == 1 {
        vec![(INSET, y_of(first)), (pw - 1.0 - INSET, y_of(first))]
    } else {
        let last_i = (n - 1) as f64;
        closes
            .iter()
            .enumerate()
            .map(|(i, v)| {
                (
                    INSET + i as f64 / last_i * (pw - 1.0 - 2.0 * INSET),
                    y_of(*v),
                )
            })
            .collect()
    };
    let line = if last >= first { p.up } else { p.down };
    // A tint under the line: for each column, from the line down to the axis.
    let mut seg = 0usize;
    for x in 0..(r.x1 - r.x0) {
        let fx = f64::from(x) + 0.5;
        while seg + 2 < pts.len() && pts.get(seg + 1).is_some_and(|q| q.0 < fx) {
            seg += 1;
        }
        let (Some(a), Some(b)) = (pts.get(seg), pts.get(seg + 1)) else {
            break;
        };
        let t = if b.0 > a.0 {
            ((fx - a.0) / (b.0 - a.0)).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let ly = (a.1 + (b.1 - a.1) * t).round() as u32;
        for y in ly..(r.y1 - r.y0) {
            c.blend(i64::from(r.x0 + x), i64::from(r.y0 + y), line, 0.14);
        }
    }
    let mut mask = vec![0f32; (pw as usize) * (ph as usize)];
    for pair in pts.windows(2) {
        if let [a, b] = pair {
            stroke(&mut mask, r, *a, *b, 1.4);
        }
    }
    if let Some(end) = pts.last() {
        stroke(&mut mask, r, *end, *end, 4.0);
    }
    for (i, cov) in mask.iter().enumerate() {
        // Sixteen levels of coverage keep the image within a 256-colour palette.
        let cov = (cov * 15.0).round() / 15.0;
        if cov > 0.0 {
            let (x, y) = (i % pw as usize, i / pw as usize);
            c.blend(
                i64::from(r.x0) + x as i64,
                i64::from(r.y0) + y as i64,
                line,
                cov,
            );
        }
    }

    // Title (ticker and range), last price and change, time axis labels.
    let symbol: String = spec.symbol.chars().take(12).collect();
    let range: String = spec
        .range
        .chars()
        .take(4)
        .collect::<String>()
        .to_uppercase();
    let after = c.text(20, 18, &symbol, p.text, 3);
    c.text(after + 16, 26, &range, p.muted, 2);
    let change = if first == 0.0 {
        0.0
    } else {
        (last - first) / first.abs() * 100.0
    };
    let change = format!("{:+.2}%", change.clamp(-1e6, 1e6));
    let price = label(last, s.decimals.max(2));
    let right = i64::from(WIDTH) - 20;
    let change_x = right - text_width(&change, 2);
    c.text(change_x, 26, &change, line, 2);
    c.text(change_x - 16 - text_width(&price, 2), 26, &price, p.text, 2);
    let start = format!("{range} ago");
    c.text(i64::from(r.x0), i64::from(r.y1) + 14, &start, p.muted, 2);
    c.text(
        i64::from(r.x1) - text_width("now", 2),
        i64::from(r.y1) + 14,
        "now",
        p.muted,
        2,
    );

    encode(&c)
}

/// Encodes the canvas as an 8-bit indexed PNG when it has at most 256 colours (a chart has
/// about a hundred: a few flat colours and 16 anti-aliasing levels over each), which is a
/// third of the data to compress and a smaller file; else as RGB.
fn encode(c: &Canvas) -> Result<Vec<u8>, ChartError> {
    let mut out = Vec::new();
    let mut e = png::Encoder::new(&mut out, c.w, c.h);
    e.set_depth(png::BitDepth::Eight);
    e.set_compression(png::Compression::Balanced);
    let indexed = index(&c.px);
    let data = match &indexed {
        Some((palette, indices)) => {
            e.set_color(png::ColorType::Indexed);
            e.set_palette(palette.as_slice());
            e.set_filter(png::Filter::NoFilter);
            indices
        }
        None => {
            e.set_color(png::ColorType::Rgb);
            e.set_filter(png::Filter::Up);
            &c.px
        }
    };
    let mut w = e.write_header().map_err(|_| ChartError::Encode)?;
    w.write_image_data(data).map_err(|_| ChartError::Encode)?;
    w.finish().map_err(|_| ChartError::Encode)?;
    Ok(out)
}

/// The palette (RGB triples) and one index per pixel, or `None` past 256 colours. Runs of
/// one colour are the common case, so the last colour is checked before the palette.
fn index(px: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut palette: Vec<[u8; 3]> = Vec::new();
    let mut indices = Vec::with_capacity(px.len() / 3);
    let mut last: Option<([u8; 3], u8)> = None;
    for p in px.chunks_exact(3) {
        let rgb = [p[0], p[1], p[2]];
        let i = match last {
            Some((c, i)) if c == rgb => i,
            _ => {
                let i = match palette.iter().position(|c| *c == rgb) {
                    Some(i) => i,
                    None => {
                        palette.push(rgb);
                        palette.len() - 1
                    }
                };
                let i = u8::try_from(i).ok()?;
                last = Some((rgb, i));
                i
            }
        };
        indices.push(i);
    }
    Some((palette.concat(), indices))
}

/// WCAG 2 relative luminance of an sRGB colour.
#[must_use]
pub fn luminance(c: Rgb) -> f64 {
    let lin = |u: u8| {
        let v = f64::from(u) / 255.0;
        if v <= 0.039_28 {
            v / 12.92
        } else {
            ((v + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * lin(c[0]) + 0.7152 * lin(c[1]) + 0.0722 * lin(c[2])
}

/// WCAG 2 contrast ratio of two colours (1 to 21).
#[must_use]
pub fn contrast(a: Rgb, b: Rgb) -> f64 {
    let (la, lb) = (luminance(a), luminance(b));
    (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(png_bytes: &[u8]) -> (png::OutputInfo, Vec<u8>) {
        let mut d = png::Decoder::new(std::io::Cursor::new(png_bytes));
        // A palette image decodes to RGB (RGBA if it had transparency).
        d.set_transformations(png::Transformations::EXPAND);
        let mut r = d.read_info().expect("png header");
        assert_eq!(r.info().color_type, png::ColorType::Indexed, "compact");
        let mut buf = vec![0; r.output_buffer_size().expect("size")];
        let info = r.next_frame(&mut buf).expect("png frame");
        buf.truncate(info.buffer_size());
        (info, buf)
    }

    fn spec(theme: Theme) -> ChartSpec<'static> {
        ChartSpec {
            symbol: "AAPL",
            range: "1w",
            theme,
        }
    }

    fn series(n: usize) -> Vec<f64> {
        (0..n)
            .map(|i| 180.0 + (i as f64 / 7.0).sin() * 6.0 + i as f64 * 0.01)
            .collect()
    }

    /// Pixels inside the plot rectangle that differ from the background.
    fn inked(info: &png::OutputInfo, px: &[u8], bg: Rgb) -> usize {
        let mut n = 0;
        for y in PLOT.y0..PLOT.y1 {
            for x in PLOT.x0..PLOT.x1 {
                let i = ((y * info.width + x) * 3) as usize;
                if px[i..i + 3] != bg {
                    n += 1;
                }
            }
        }
        n
    }

    #[test]
    fn renders_a_decodable_png_of_the_right_size_with_ink_in_the_plot() {
        for theme in [Theme::Dark, Theme::Light] {
            let bytes = render(&series(390), &spec(theme)).expect("chart");
            assert!(bytes.len() <= 60 * 1024, "{} bytes", bytes.len());
            let (info, px) = decode(&bytes);
            assert_eq!((info.width, info.height), (WIDTH, HEIGHT));
            assert_eq!(info.color_type, png::ColorType::Rgb, "opaque, no alpha");
            let ink = inked(&info, &px, theme.palette().background);
            let area = ((PLOT.x1 - PLOT.x0) * (PLOT.y1 - PLOT.y0)) as usize;
            assert!(ink > area / 10, "{ink} of {area}");
            // The corner is background, the border is the axis colour.
            assert_eq!(
                px[3 * (WIDTH as usize + 1)..][..3],
                theme.palette().background
            );
            assert_eq!(px[..3], theme.palette().axis);
        }
    }

    #[test]
    fn both_themes_are_readable() {
        for theme in [Theme::Dark, Theme::Light] {
            let p = theme.palette();
            assert!(contrast(p.text, p.background) >= 7.0, "{theme:?} text");
            assert!(contrast(p.muted, p.background) >= 4.5, "{theme:?} muted");
            assert!(contrast(p.up, p.background) >= 4.5, "{theme:?} up");
            assert!(contrast(p.down, p.background) >= 4.5, "{theme:?} down");
            assert!(contrast(p.axis, p.background) >= 3.0, "{theme:?} axis");
            assert!(contrast(p.grid, p.background) >= 1.15, "{theme:?} grid");
        }
        assert_eq!(Theme::parse(" Light "), Some(Theme::Light));
        assert_eq!(Theme::parse("sepia"), None);
    }

    #[test]
    fn different_series_give_different_charts() {
        let a = render(&series(30), &spec(Theme::Dark)).expect("a");
        let b = render(&[3.0, 1.0, 2.0], &spec(Theme::Dark)).expect("b");
        assert_ne!(a, b);
        assert_eq!(
            render(&series(30), &spec(Theme::Dark)).expect("again"),
            a,
            "deterministic"
        );
    }

    #[test]
    fn odd_series_are_drawn_or_refused_never_panic() {
        assert_eq!(render(&[], &spec(Theme::Dark)), Err(ChartError::Empty));
        assert_eq!(
            render(&[1.0, f64::NAN], &spec(Theme::Dark)),
            Err(ChartError::NotFinite)
        );
        assert_eq!(
            render(&vec![1.0; MAX_POINTS + 1], &spec(Theme::Dark)),
            Err(ChartError::TooMany)
        );
        let weird = ChartSpec {
            symbol: "ÄÖ€ very long symbol name here",
            range: "forever",
            theme: Theme::Light,
        };
        for s in [
            vec![5.0],
            vec![0.0, 0.0],
            vec![-1.0, 1.0],
            vec![f64::MAX, -f64::MAX],
            vec![f64::MIN_POSITIVE, 0.0],
            vec![1e300, 1e300],
            vec![-5.0, -4.0],
            vec![1.0; MAX_POINTS],
        ] {
            let bytes = render(&s, &weird).expect("drawn");
            let (info, _) = decode(&bytes);
            assert_eq!(info.width, WIDTH);
        }
        assert_eq!(ChartError::NotFinite.status(), 422);
        assert_eq!(ChartError::Encode.code(), "chart_encode_failed");
    }

    #[test]
    fn past_256_colours_the_image_stays_rgb() {
        let few = [[1u8, 2, 3], [1, 2, 3], [4, 5, 6]].concat();
        assert_eq!(index(&few), Some((vec![1, 2, 3, 4, 5, 6], vec![0, 0, 1])));
        let many: Vec<u8> = (0..=256u32)
            .flat_map(|i| [(i & 0xff) as u8, (i >> 8) as u8, 0])
            .collect();
        assert_eq!(index(&many), None);
        let c = Canvas {
            w: 257,
            h: 1,
            px: many,
        };
        let (info, px) = {
            let bytes = encode(&c).expect("rgb");
            let mut r = png::Decoder::new(std::io::Cursor::new(bytes))
                .read_info()
                .expect("header");
            let mut buf = vec![0; r.output_buffer_size().expect("size")];
            (r.next_frame(&mut buf).expect("frame"), buf)
        };
        assert_eq!((info.color_type, info.width), (png::ColorType::Rgb, 257));
        assert_eq!(px[3 * 256..3 * 257], [0, 1, 0]);
    }

    #[test]
    fn ticks_are_nice() {
        let s = scale(181.3, 196.7);
        assert_eq!(s.decimals, 0);
        assert!(s.lo <= 181.3 && s.hi >= 196.7);
        assert!(s.ticks.len() >= 3 && s.ticks.len() <= 12);
        assert_eq!(label(0.123_456, 3), "0.123");
        assert!(label(1e300, 0).contains('e'));
        assert_eq!(scale(0.5, 0.52).decimals, 3);
    }
}
