//! PNG charts for the emails and the dashboard: units ranked by rate, and one unit's curve
//! against its milestones.
//!
//! Both are pure functions: plain data and the caller's labels in, PNG bytes out — no files, no
//! clock, no fonts from the machine. Every word is passed in by the caller, so this module knows
//! no language; only numbers are written here, the Vietnamese way with a decimal comma ("34,4").
//!
//! plotters draws the shapes into an RGB buffer; the text is laid out and drawn here with
//! ab_glyph, from DejaVu Sans built into the binary (`assets/fonts/`, Bitstream Vera licence).
//! Why not plotters' own text: its ab_glyph renderer (0.3.7) drops each glyph's side bearing, so
//! letters sit unevenly ("nh ân"), and its baseline moves with the anchor. DejaVu covers
//! Vietnamese, and a server with no fonts installed draws the same chart, byte for byte, as a
//! developer's laptop.
//!
//! Figures come from outside and are not trusted: NaN, infinite, negative or absurd rates, dates
//! off the axis, empty series and any number of bars give a PNG (clamped or left out), never a
//! panic.

use std::sync::OnceLock;

pub mod figures;

use ab_glyph::{point, Font, FontRef, GlyphId, PxScale, ScaleFont};
use chrono::{Datelike, Months, NaiveDate};
use plotters::backend::RGBPixel;
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;

/// A ranking chart draws every bar up to this many…
pub const MAX_BARS: usize = 60;
/// …and above it only this many, the lowest: the units someone has to act on.
pub const LOWEST: usize = 30;

/// How a bar is coloured: the caller's verdict on the unit, not something recomputed here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Far behind: red.
    Critical,
    /// Behind: amber.
    Behind,
    /// On track: green.
    OnTrack,
    /// No verdict (no plan, no milestone yet): grey.
    Neutral,
}

/// One row of a ranking chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// The unit's name, as it should be read (shortened here when too long).
    pub label: String,
    /// Disbursed share of plan, in percent (34.42 for 34.42 %).
    pub rate: f64,
    pub tone: Tone,
}

/// A ranking of units by rate, one horizontal bar each.
#[derive(Debug, Clone, Copy)]
pub struct Ranking<'a> {
    pub title: &'a str,
    /// Already sorted as they should be shown, top to bottom; cut as [`shown`] does.
    pub bars: &'a [Bar],
    /// The rate expected by today, in percent: a solid vertical line.
    pub expected: Option<f64>,
    /// The average rate, in percent: a dashed vertical line.
    pub average: Option<f64>,
    /// Legend for `expected`, e.g. "Mức cần đạt 64,2 %".
    pub expected_label: &'a str,
    /// Legend for `average`, e.g. "Bình quân 58,1 %".
    pub average_label: &'a str,
    /// A line under the chart, e.g. "30 đơn vị thấp nhất / 412; 120 chậm, 12 rất chậm".
    pub caption: Option<&'a str>,
}

/// One unit's cumulative rate through the plan year, against its milestones.
#[derive(Debug, Clone, Copy)]
pub struct CurveChart<'a> {
    pub title: &'a str,
    /// The left end of the axis: 1 January of the plan year.
    pub start: NaiveDate,
    /// The right end of the axis: 31 January of the next year (the plan year's close).
    pub end: NaiveDate,
    /// The unit's cumulative rate (percent) by day, ascending dates; may be empty.
    pub unit: &'a [(NaiveDate, f64)],
    /// The targets (e.g. 30/6 50, 30/9 60, 31/12 95, 31/1 100), drawn from (start, 0 %) through
    /// each, straight between them, as the expected rate is computed (see `rule::Milestones`).
    pub milestones: &'a [(NaiveDate, f64)],
    /// Last year's curve, its dates already moved onto this year's axis.
    pub last_year: Option<&'a [(NaiveDate, f64)]>,
    /// The day the figures are for: a vertical marker.
    pub today: NaiveDate,
    pub unit_label: &'a str,
    pub milestone_label: &'a str,
    pub last_year_label: &'a str,
    pub today_label: &'a str,
    /// The y axis' title, e.g. "Tỷ lệ giải ngân (%)".
    pub y_label: &'a str,
}

/// Why no chart could be drawn. Bad figures never get here (they are clamped or left out): these
/// are a broken build or a fault in the drawing library, kept as text because plotters' errors
/// are generic over its backend.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    #[error("the chart font built into disbmon (assets/fonts/{0}) could not be read; rebuild disbmon from an intact checkout")]
    Font(&'static str),
    #[error("drawing the chart failed: {0}")]
    Draw(String),
    #[error("encoding the chart as PNG failed: {0}")]
    Encode(String),
}

impl<E: std::error::Error + Send + Sync> From<DrawingAreaErrorKind<E>> for ChartError {
    fn from(e: DrawingAreaErrorKind<E>) -> Self {
        ChartError::Draw(e.to_string())
    }
}

/// Which bars a ranking chart shows: all of them up to [`MAX_BARS`], else the [`LOWEST`] at the
/// bottom of the slice (it is sorted best first). Returns those bars and whether any were cut.
/// Cutting twice cuts nothing more, so a caller may cut first to write its caption.
pub fn shown(bars: &[Bar]) -> (&[Bar], bool) {
    if bars.len() <= MAX_BARS {
        (bars, false)
    } else {
        (bars.split_at(bars.len() - LOWEST).1, true)
    }
}

// ---------------------------------------------------------------------------------------------
// Look

const WIDTH: u32 = 760;
const CURVE_HEIGHT: u32 = 360;
/// Outer margin, on every side.
const PAD: i32 = 20;
/// Baselines of the title and of the legend under it.
const TITLE_BASELINE: i32 = PAD + 16;
const LEGEND_BASELINE: i32 = PAD + 44;
/// One ranking row, and the bar inside it.
const ROW: i32 = 22;
const BAR: i32 = 14;
/// Unit names are cut at this many characters (with "…"), then to the label column's width.
const LABEL_CHARS: usize = 40;
const LABEL_MAX_PX: i32 = 340;
/// The rate axis stops here: one absurd rate (a plan cut to almost nothing, a typo) would
/// otherwise squash every other bar to a sliver. Its bar runs to the end; its figure is exact.
const AXIS_CAP: f64 = 200.0;
/// Figures beyond this are written as "> 9.999": they are data errors, and must not widen the
/// chart.
const FIGURE_CAP: f64 = 9_999.0;
/// The longest axis drawn (ten years), so that absurd dates cannot ask for thousands of ticks.
const MAX_SPAN_DAYS: i64 = 3_660;

const INK: RGBColor = RGBColor(0x21, 0x21, 0x21);
const MUTED: RGBColor = RGBColor(0x61, 0x61, 0x61);
const AXIS: RGBColor = RGBColor(0x9E, 0x9E, 0x9E);
const GRID: RGBColor = RGBColor(0xE6, 0xE6, 0xE6);
const STRIPE: RGBColor = RGBColor(0xF6, 0xF7, 0xF9);
const CRITICAL: RGBColor = RGBColor(0xC6, 0x28, 0x28);
const BEHIND: RGBColor = RGBColor(0xEF, 0x6C, 0x00);
const ON_TRACK: RGBColor = RGBColor(0x2E, 0x7D, 0x32);
const NEUTRAL: RGBColor = RGBColor(0x9E, 0x9E, 0x9E);
const EXPECTED: RGBColor = RGBColor(0x26, 0x32, 0x38);
const AVERAGE: RGBColor = RGBColor(0x15, 0x65, 0xC0);
const UNIT: RGBColor = RGBColor(0x15, 0x65, 0xC0);
const MILESTONE: RGBColor = RGBColor(0x37, 0x47, 0x4F);
const LAST_YEAR: RGBColor = RGBColor(0xA8, 0xA8, 0xA8);
const TODAY: RGBColor = RGBColor(0x8E, 0x24, 0xAA);

fn tone_color(tone: Tone) -> RGBColor {
    match tone {
        Tone::Critical => CRITICAL,
        Tone::Behind => BEHIND,
        Tone::OnTrack => ON_TRACK,
        Tone::Neutral => NEUTRAL,
    }
}

// ---------------------------------------------------------------------------------------------
// Text

const REGULAR_TTF: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
const BOLD_TTF: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-Bold.ttf");

struct Fonts {
    regular: FontRef<'static>,
    bold: FontRef<'static>,
}

/// The embedded fonts, parsed once per process; a failure is remembered so that every chart
/// reports it rather than parsing again.
fn fonts() -> Result<&'static Fonts, ChartError> {
    static FONTS: OnceLock<Result<Fonts, &'static str>> = OnceLock::new();
    let fonts = FONTS.get_or_init(|| {
        Ok(Fonts {
            regular: FontRef::try_from_slice(REGULAR_TTF).map_err(|_| "DejaVuSans.ttf")?,
            bold: FontRef::try_from_slice(BOLD_TTF).map_err(|_| "DejaVuSans-Bold.ttf")?,
        })
    });
    fonts.as_ref().map_err(|&file| ChartError::Font(file))
}

/// A text style: the size is the em in pixels, as a designer means "12 px".
#[derive(Clone, Copy)]
struct Style {
    em: f32,
    bold: bool,
    color: RGBColor,
}

const TITLE: Style = Style {
    em: 17.0,
    bold: true,
    color: INK,
};
const LABEL: Style = Style {
    em: 12.0,
    bold: false,
    color: INK,
};
const SMALL: Style = Style {
    em: 11.0,
    bold: false,
    color: MUTED,
};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Align {
    Left,
    Center,
    Right,
}

/// A line of text laid out at the origin: its glyphs and its advance width in pixels.
struct Line<'f> {
    font: &'f FontRef<'static>,
    scale: PxScale,
    glyphs: Vec<(GlyphId, f32)>,
    width: f32,
}

fn lay_out<'f>(fonts: &'f Fonts, text: &str, style: Style) -> Line<'f> {
    let font = if style.bold {
        &fonts.bold
    } else {
        &fonts.regular
    };
    // ab_glyph scales by the font's height (ascent to descent), not its em.
    let em_units = font.units_per_em().unwrap_or(2048.0);
    let scale = PxScale::from(style.em * font.height_unscaled() / em_units);
    let scaled = font.as_scaled(scale);
    let mut pen = 0.0;
    let mut prev: Option<GlyphId> = None;
    let mut glyphs = Vec::new();
    for c in text.chars() {
        let id = scaled.glyph_id(c);
        if let Some(p) = prev {
            pen += scaled.kern(p, id);
        }
        glyphs.push((id, pen));
        pen += scaled.h_advance(id);
        prev = Some(id);
    }
    Line {
        font,
        scale,
        glyphs,
        width: pen,
    }
}

fn text_width(fonts: &Fonts, text: &str, style: Style) -> i32 {
    lay_out(fonts, text, style).width.ceil() as i32
}

/// Draws `text` with its baseline at `y`, starting, centred or ending at `x`.
fn draw_text(
    area: &Area,
    fonts: &Fonts,
    text: &str,
    at: (i32, i32),
    style: Style,
    align: Align,
) -> Result<(), ChartError> {
    paint_text(area, fonts, text, at, style, align, false)
}

/// Draws `text` turned a quarter to the left (read bottom to top, as a y axis' title), starting
/// at `at` on its baseline.
fn draw_text_upward(
    area: &Area,
    fonts: &Fonts,
    text: &str,
    at: (i32, i32),
    style: Style,
) -> Result<(), ChartError> {
    paint_text(area, fonts, text, at, style, Align::Left, true)
}

fn paint_text(
    area: &Area,
    fonts: &Fonts,
    text: &str,
    (x, y): (i32, i32),
    style: Style,
    align: Align,
    upward: bool,
) -> Result<(), ChartError> {
    let line = lay_out(fonts, text, style);
    let start = match align {
        Align::Left => 0.0,
        Align::Center => -(line.width / 2.0).round(),
        Align::Right => -line.width.round(),
    };
    let mut pixels = Vec::new();
    for &(id, pen) in &line.glyphs {
        let glyph = id.with_scale_and_position(line.scale, point(start + pen, 0.0));
        if let Some(outline) = line.font.outline_glyph(glyph) {
            let b = outline.px_bounds();
            let (left, top) = (b.min.x as i32, b.min.y as i32);
            outline.draw(|gx, gy, coverage| {
                // Sixteen shades are as smooth to the eye and keep a chart within a 256-colour
                // palette (see `encode`).
                let coverage = (coverage.min(1.0) * 16.0).round() / 16.0;
                if coverage > 0.0 {
                    let (dx, dy) = (left + gx as i32, top + gy as i32);
                    pixels.push((dx, dy, coverage));
                }
            });
        }
    }
    for (dx, dy, coverage) in pixels {
        let at = if upward {
            (x + dy, y - dx)
        } else {
            (x + dx, y + dy)
        };
        area.draw_pixel(at, &style.color.mix(f64::from(coverage)))?;
    }
    Ok(())
}

/// [`draw_text`] on a white patch, for a label that sits among lines.
fn draw_label(
    area: &Area,
    fonts: &Fonts,
    text: &str,
    (x, y): (i32, i32),
    style: Style,
    align: Align,
) -> Result<(), ChartError> {
    let w = text_width(fonts, text, style);
    let left = match align {
        Align::Left => x,
        Align::Center => x - w / 2,
        Align::Right => x - w,
    };
    let ascent = (style.em * 0.8).round() as i32;
    let descent = (style.em * 0.3).round() as i32;
    area.draw(&Rectangle::new(
        [(left - 3, y - ascent - 1), (left + w + 3, y + descent)],
        WHITE.filled(),
    ))?;
    draw_text(area, fonts, text, (x, y), style, align)
}

/// `text` made fit for one line: control characters become spaces, then it is cut on a character
/// boundary to `max_chars` and to `max_px` wide, with "…" where something was cut.
fn fit(fonts: &Fonts, text: &str, max_chars: usize, max_px: i32, style: Style) -> String {
    let clean: Vec<char> = text
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let mut keep = clean.len();
    let mut cut = false;
    if keep > max_chars {
        keep = max_chars.saturating_sub(1);
        cut = true;
    }
    loop {
        let kept: String = clean.iter().take(keep).collect();
        let candidate = if cut {
            format!("{}…", kept.trim_end())
        } else {
            kept
        };
        if keep == 0 || text_width(fonts, &candidate, style) <= max_px {
            return candidate;
        }
        keep -= 1;
        cut = true;
    }
}

/// A percentage the Vietnamese way, one decimal: "34,4", "1.234,5"; "—" for no number.
fn figure(v: f64) -> String {
    if !v.is_finite() {
        return "—".to_owned();
    }
    if v > FIGURE_CAP {
        return "> 9.999".to_owned();
    }
    if v < -FIGURE_CAP {
        return "< -9.999".to_owned();
    }
    // Whole tenths, so that the figure rounds once, and -0.04 is "0,0", not "-0,0".
    let tenths = (v * 10.0).round() as i64;
    let sign = if tenths < 0 { "-" } else { "" };
    let tenths = tenths.unsigned_abs();
    let whole = (tenths / 10).to_string();
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push('.');
        }
        grouped.push(c);
    }
    format!("{sign}{grouped},{}", tenths % 10)
}

/// A target as written in a plan: "50", "62,5".
fn figure_short(v: f64) -> String {
    let f = figure(v);
    f.strip_suffix(",0").map(str::to_owned).unwrap_or(f)
}

// ---------------------------------------------------------------------------------------------
// Canvas

type Area<'b> = DrawingArea<BitMapBackend<'b, RGBPixel>, Shift>;

/// Draws on a white canvas of `width` × `height` and encodes the result as PNG.
fn render(
    width: u32,
    height: u32,
    draw: impl FnOnce(&Area, &Fonts) -> Result<(), ChartError>,
) -> Result<Vec<u8>, ChartError> {
    let fonts = fonts()?;
    let mut pixels = vec![0u8; width as usize * height as usize * 3];
    {
        let backend =
            BitMapBackend::<RGBPixel>::with_buffer_and_format(&mut pixels, (width, height))
                .map_err(|e| ChartError::Draw(e.to_string()))?;
        let root = backend.into_drawing_area();
        root.fill(&WHITE)?;
        draw(&root, fonts)?;
        root.present()?;
    }
    encode(&pixels, width, height)
}

/// The picture as PNG: indexed when it has at most 256 colours (flat fills, lines, and text in a
/// few shades — a third of the bytes to compress), else RGB. A chart goes with every alert:
/// measured on a curve (release build), RGB with Balanced deflate and the Sub filter was 35 KB in
/// 3.9 ms, High 31 KB in 34 ms, Fast 108 KB in 1.6 ms.
fn encode(pixels: &[u8], width: u32, height: u32) -> Result<Vec<u8>, ChartError> {
    match indexed(pixels) {
        Some((palette, indices)) => {
            let encode_error = |e: png::EncodingError| ChartError::Encode(e.to_string());
            let mut png = Vec::new();
            let mut encoder = png::Encoder::new(&mut png, width, height);
            encoder.set_color(png::ColorType::Indexed);
            encoder.set_depth(png::BitDepth::Eight);
            encoder.set_palette(palette.concat());
            encoder.set_compression(png::Compression::Balanced);
            encoder.set_filter(png::Filter::NoFilter);
            let mut writer = encoder.write_header().map_err(encode_error)?;
            writer.write_image_data(&indices).map_err(encode_error)?;
            writer.finish().map_err(encode_error)?;
            Ok(png)
        }
        None => rgb_png(pixels, width, height),
    }
}

/// Levels per channel in the palette: each channel to the nearest multiple of 8 (a shift no eye
/// sees on flat colours and anti-aliased edges; 255 stays 255, so white stays white).
const LEVELS: usize = 33;

/// The palette and each pixel's index in it, the channels rounded to multiples of 8; None past
/// 256 colours.
fn indexed(pixels: &[u8]) -> Option<(Vec<[u8; 3]>, Vec<u8>)> {
    const NONE: u16 = u16::MAX;
    let level = |c: u8| (usize::from(c) + 4) >> 3;
    let mut slot = vec![NONE; LEVELS * LEVELS * LEVELS];
    let mut palette: Vec<[u8; 3]> = Vec::new();
    let mut indices = Vec::with_capacity(pixels.len() / 3);
    // Runs of one colour (white above all) are the common case: the last pixel is checked first.
    let mut last: Option<(&[u8], u8)> = None;
    for p in pixels.chunks_exact(3) {
        if let Some((colour, index)) = last {
            if colour == p {
                indices.push(index);
                continue;
            }
        }
        let (r, g, b) = (level(p[0]), level(p[1]), level(p[2]));
        let key = (r * LEVELS + g) * LEVELS + b;
        let index = match slot[key] {
            NONE if palette.len() < 256 => {
                let channel = |l: usize| (l * 8).min(255) as u8;
                palette.push([channel(r), channel(g), channel(b)]);
                slot[key] = (palette.len() - 1) as u16;
                palette.len() - 1
            }
            NONE => return None,
            i => usize::from(i),
        };
        last = Some((p, index as u8));
        indices.push(index as u8);
    }
    Some((palette, indices))
}

fn rgb_png(pixels: &[u8], width: u32, height: u32) -> Result<Vec<u8>, ChartError> {
    let encode_error = |e: png::EncodingError| ChartError::Encode(e.to_string());
    let mut png = Vec::new();
    let mut encoder = png::Encoder::new(&mut png, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Balanced);
    encoder.set_filter(png::Filter::Sub);
    let mut writer = encoder.write_header().map_err(encode_error)?;
    writer.write_image_data(pixels).map_err(encode_error)?;
    writer.finish().map_err(encode_error)?;
    Ok(png)
}

/// A chart's title, top left, cut to the width.
fn title(area: &Area, fonts: &Fonts, text: &str) -> Result<(), ChartError> {
    let fitted = fit(fonts, text, 160, WIDTH as i32 - 2 * PAD, TITLE);
    draw_text(
        area,
        fonts,
        &fitted,
        (PAD, TITLE_BASELINE),
        TITLE,
        Align::Left,
    )
}

/// The left and bottom axes of a plot from `top_left` to `bottom_right`.
fn axes(
    area: &Area,
    (left, top): (i32, i32),
    (right, bottom): (i32, i32),
) -> Result<(), ChartError> {
    line(area, (left, top), (left, bottom), AXIS, 1)?;
    line(area, (left, bottom), (right, bottom), AXIS, 1)
}

fn line(
    area: &Area,
    from: (i32, i32),
    to: (i32, i32),
    color: RGBColor,
    width: u32,
) -> Result<(), ChartError> {
    area.draw(&PathElement::new(vec![from, to], color.stroke_width(width)))?;
    Ok(())
}

fn dashed(
    area: &Area,
    points: Vec<(i32, i32)>,
    dash: i32,
    gap: i32,
    color: RGBColor,
    width: u32,
) -> Result<(), ChartError> {
    area.draw(&DashedPathElement::new(
        points,
        dash,
        gap,
        color.stroke_width(width),
    ))?;
    Ok(())
}

fn diamond(area: &Area, (x, y): (i32, i32), r: i32, color: RGBColor) -> Result<(), ChartError> {
    area.draw(&Polygon::new(
        vec![(x, y - r), (x + r, y), (x, y + r), (x - r, y)],
        color.filled(),
    ))?;
    Ok(())
}

/// How a series is drawn, shown again in the legend.
#[derive(Clone, Copy)]
enum Mark {
    Solid(RGBColor),
    SolidDot(RGBColor),
    Dashed(RGBColor),
    DashedDiamond(RGBColor),
    Upright(RGBColor),
}

/// Draws a row of legend entries from `x` with their baseline at `y`; labels are cut so that the
/// row stays inside the picture.
fn legend(
    area: &Area,
    fonts: &Fonts,
    entries: &[(Mark, &str)],
    (x, y): (i32, i32),
) -> Result<(), ChartError> {
    let right = WIDTH as i32 - PAD;
    let mid = y - 4;
    let mut x = x;
    for &(mark, label) in entries {
        if x + 60 > right {
            break;
        }
        match mark {
            Mark::Solid(c) | Mark::SolidDot(c) => line(area, (x, mid), (x + 28, mid), c, 2)?,
            Mark::Dashed(c) | Mark::DashedDiamond(c) => {
                dashed(area, vec![(x, mid), (x + 28, mid)], 6, 4, c, 2)?
            }
            Mark::Upright(c) => line(area, (x + 14, mid - 7), (x + 14, mid + 7), c, 2)?,
        }
        match mark {
            Mark::SolidDot(c) => {
                area.draw(&Circle::new((x + 14, mid), 4, c.filled()))?;
            }
            Mark::DashedDiamond(c) => diamond(area, (x + 14, mid), 5, c)?,
            Mark::Solid(_) | Mark::Dashed(_) | Mark::Upright(_) => {}
        }
        let label = fit(fonts, label, 80, right - (x + 36), LABEL);
        draw_text(area, fonts, &label, (x + 36, y), LABEL, Align::Left)?;
        x += 36 + text_width(fonts, &label, LABEL) + 28;
    }
    Ok(())
}

/// The top of a percent axis: 100, or the largest figure rounded up to 20 (the ticks above 100
/// are every 20, so the axis ends on one), at most [`AXIS_CAP`].
fn axis_max(values: impl Iterator<Item = f64>) -> f64 {
    let top = values.filter(|v| v.is_finite()).fold(100.0, f64::max);
    ((top.min(AXIS_CAP) / 20.0).ceil() * 20.0).max(100.0)
}

/// The ticks of a percent axis running to `max` (from [`axis_max`]).
fn percent_ticks(max: f64) -> impl Iterator<Item = i32> {
    let step = if max > 100.0 { 20 } else { 10 };
    (0..=max.round() as i32).step_by(step)
}

/// Maps a percentage onto pixels `from..to` (either way round) of an axis running `0..max`:
/// figures off the axis go to its ends, NaN to 0.
fn scale_to(v: f64, max: f64, from: i32, to: i32) -> i32 {
    let v = if v.is_nan() { 0.0 } else { v.clamp(0.0, max) };
    from + (v / max * f64::from(to - from)).round() as i32
}

// ---------------------------------------------------------------------------------------------
// Ranking

/// A reference line's rate, if there is one to draw: no rate, or no number, draws no line and
/// no legend for it.
fn reference(rate: Option<f64>) -> Option<f64> {
    rate.filter(|v| v.is_finite())
}

/// Where the rows start: under the title, and under the legend when there is one.
fn ranking_top(r: &Ranking) -> i32 {
    if reference(r.expected).is_some() || reference(r.average).is_some() {
        LEGEND_BASELINE + 22
    } else {
        TITLE_BASELINE + 20
    }
}

/// The ranking as a PNG: one horizontal bar per unit, coloured by tone, its figure at the end,
/// with the expected and average rates as vertical lines. The picture grows with the bars.
pub fn ranking_png(r: &Ranking) -> Result<Vec<u8>, ChartError> {
    let (bars, _) = shown(r.bars);
    let rows = i32::try_from(bars.len().max(1)).unwrap_or(1);
    let plot_top = ranking_top(r);
    let plot_bottom = plot_top + rows * ROW;
    let height = plot_bottom + 30 + if r.caption.is_some() { 24 } else { 0 } + PAD / 2;
    let height = u32::try_from(height).unwrap_or(CURVE_HEIGHT);
    render(WIDTH, height, |root, fonts| {
        draw_ranking(root, fonts, r, bars, (plot_top, plot_bottom))
    })
}

fn draw_ranking(
    root: &Area,
    fonts: &Fonts,
    r: &Ranking,
    bars: &[Bar],
    (plot_top, plot_bottom): (i32, i32),
) -> Result<(), ChartError> {
    let width = WIDTH as i32;
    title(root, fonts, r.title)?;

    let labels: Vec<String> = bars
        .iter()
        .map(|b| fit(fonts, &b.label, LABEL_CHARS, LABEL_MAX_PX, LABEL))
        .collect();
    let figures: Vec<String> = bars.iter().map(|b| figure(b.rate)).collect();
    let label_w = labels
        .iter()
        .map(|l| text_width(fonts, l, LABEL))
        .max()
        .unwrap_or(0);
    let figure_w = figures
        .iter()
        .map(|f| text_width(fonts, f, SMALL))
        .chain([text_width(fonts, "100,0", SMALL)])
        .max()
        .unwrap_or(0);
    let plot_left = PAD + label_w + 12;
    let plot_right = width - PAD - figure_w - 8;
    let xmax = axis_max(
        bars.iter()
            .map(|b| b.rate)
            .chain(r.expected)
            .chain(r.average),
    );
    let x_of = |v: f64| scale_to(v, xmax, plot_left, plot_right);

    let mut entries = Vec::new();
    if reference(r.expected).is_some() {
        entries.push((Mark::Solid(EXPECTED), r.expected_label));
    }
    if reference(r.average).is_some() {
        entries.push((Mark::Dashed(AVERAGE), r.average_label));
    }
    legend(root, fonts, &entries, (PAD, LEGEND_BASELINE))?;

    // Stripes, then the grid, then the bars, so that the bars cover the grid.
    for i in (1..bars.len()).step_by(2) {
        let top = plot_top + i32::try_from(i).unwrap_or(0) * ROW;
        root.draw(&Rectangle::new(
            [(PAD, top), (width - PAD, top + ROW)],
            STRIPE.filled(),
        ))?;
    }
    let last_tick = xmax.round() as i32;
    for tick in percent_ticks(xmax) {
        let x = x_of(f64::from(tick));
        if tick > 0 {
            line(root, (x, plot_top), (x, plot_bottom), GRID, 1)?;
        }
        line(root, (x, plot_bottom), (x, plot_bottom + 4), AXIS, 1)?;
        draw_text(
            root,
            fonts,
            &tick.to_string(),
            (x, plot_bottom + 17),
            SMALL,
            Align::Center,
        )?;
        if tick == last_tick {
            let after = x + text_width(fonts, &tick.to_string(), SMALL) / 2 + 4;
            draw_text(
                root,
                fonts,
                "%",
                (after, plot_bottom + 17),
                SMALL,
                Align::Left,
            )?;
        }
    }

    for (i, ((bar, label), fig)) in bars.iter().zip(&labels).zip(&figures).enumerate() {
        let mid = plot_top + i32::try_from(i).unwrap_or(0) * ROW + ROW / 2;
        let end = x_of(bar.rate);
        if end > plot_left {
            root.draw(&Rectangle::new(
                [(plot_left, mid - BAR / 2), (end, mid + BAR / 2)],
                tone_color(bar.tone).filled(),
            ))?;
        }
        draw_text(
            root,
            fonts,
            label,
            (plot_left - 10, mid + 4),
            LABEL,
            Align::Right,
        )?;
        draw_text(root, fonts, fig, (end + 5, mid + 4), SMALL, Align::Left)?;
    }

    // The axes over the bars' ends, and the reference lines over everything.
    axes(root, (plot_left, plot_top), (plot_right, plot_bottom))?;
    if let Some(v) = reference(r.expected) {
        let x = x_of(v);
        line(root, (x, plot_top - 6), (x, plot_bottom), EXPECTED, 2)?;
    }
    if let Some(v) = reference(r.average) {
        let x = x_of(v);
        dashed(
            root,
            vec![(x, plot_top - 6), (x, plot_bottom)],
            6,
            4,
            AVERAGE,
            2,
        )?;
    }

    if let Some(caption) = r.caption {
        let style = Style { em: 12.0, ..SMALL };
        let caption = fit(fonts, caption, 200, width - 2 * PAD, style);
        draw_text(
            root,
            fonts,
            &caption,
            (PAD, plot_bottom + 44),
            style,
            Align::Left,
        )?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Curve

/// The first day of each month on the axis, as days from `start`: every month on a year's axis,
/// every few months on a longer one, so that the labels never crowd.
fn month_ticks(start: NaiveDate, span: i32) -> Vec<(i32, NaiveDate)> {
    let months = span / 30 + 1;
    let every = [1, 2, 3, 6, 12, 24, 60]
        .into_iter()
        .find(|e| months / e <= 14)
        .unwrap_or(120);
    let Some(first) = start.with_day(1) else {
        return Vec::new();
    };
    let mut ticks = Vec::new();
    for i in 0..=u32::try_from(months + 1).unwrap_or(0) {
        let Some(day) = first.checked_add_months(Months::new(i)) else {
            break;
        };
        let offset = (day - start).num_days();
        if offset > i64::from(span) {
            break;
        }
        let month = day.year().rem_euclid(1000) * 12 + i32::try_from(day.month0()).unwrap_or(0);
        if offset >= 0 && month % every == 0 {
            ticks.push((i32::try_from(offset).unwrap_or(0), day));
        }
    }
    ticks
}

/// `day` as days from `start`, if it is on an axis `span` days long.
fn day_on_axis(start: NaiveDate, day: NaiveDate, span: i32) -> Option<i32> {
    i32::try_from((day - start).num_days())
        .ok()
        .filter(|d| (0..=span).contains(d))
}

/// A line's points with those closer than 3 px across to the last one kept left out (the last
/// point always kept): a daily series is some 2 px a day, and a thick line through every day
/// draws as a row of lumps.
fn smooth(points: &[((i32, i32), f64)]) -> Vec<(i32, i32)> {
    let mut kept: Vec<(i32, i32)> = Vec::new();
    for (i, &(p, _)) in points.iter().enumerate() {
        let last = i + 1 == points.len();
        match kept.last() {
            Some(&(x, _)) if !last && p.0 - x < 3 => {}
            _ => kept.push(p),
        }
    }
    kept
}

/// Whether a line through `path` passes through the box `xs` × `ys` (pixels, ends included).
fn crosses(path: &[(i32, i32)], xs: (i32, i32), ys: (i32, i32)) -> bool {
    let through = |(x0, y0): (i32, i32), (x1, y1): (i32, i32)| {
        let (from, to) = (x0.max(xs.0), x1.min(xs.1));
        if from > to {
            return false;
        }
        let at =
            |x: i32| f64::from(y0) + f64::from(y1 - y0) * f64::from(x - x0) / f64::from(x1 - x0);
        // A vertical segment covers all its height at its one x.
        let (a, b) = if x1 == x0 {
            (f64::from(y0), f64::from(y1))
        } else {
            (at(from), at(to))
        };
        a.min(b) <= f64::from(ys.1) && a.max(b) >= f64::from(ys.0)
    };
    match path {
        [only] => through(*only, *only),
        _ => path.windows(2).any(|w| through(w[0], w[1])),
    }
}

/// The unit's curve as a PNG: its cumulative rate through the year (blue), the milestones'
/// expected line (dashed, with a point at each), last year's curve (grey, dashed) and a marker
/// for today, under a legend.
pub fn curve_png(c: &CurveChart) -> Result<Vec<u8>, ChartError> {
    render(WIDTH, CURVE_HEIGHT, |root, fonts| {
        draw_curve(root, fonts, c)
    })
}

fn draw_curve(root: &Area, fonts: &Fonts, c: &CurveChart) -> Result<(), ChartError> {
    let width = WIDTH as i32;
    title(root, fonts, c.title)?;

    let span = i32::try_from((c.end - c.start).num_days().clamp(1, MAX_SPAN_DAYS)).unwrap_or(1);
    let last_year = c.last_year.unwrap_or(&[]);
    let ymax = axis_max(
        c.unit
            .iter()
            .chain(c.milestones)
            .chain(last_year)
            .map(|&(_, v)| v),
    );

    let plot_left = PAD + 70;
    let plot_right = width - PAD - 12;
    let plot_top = LEGEND_BASELINE + 26;
    let plot_bottom = CURVE_HEIGHT as i32 - PAD - 20;
    let x_of = |day: i32| {
        plot_left
            + (f64::from(day) / f64::from(span) * f64::from(plot_right - plot_left)).round() as i32
    };
    let y_of = |v: f64| scale_to(v, ymax, plot_bottom, plot_top);
    // A series in pixels, each point with its figure: unreadable figures and days off the axis
    // are left out.
    let in_pixels = |series: &[(NaiveDate, f64)]| -> Vec<((i32, i32), f64)> {
        series
            .iter()
            .filter(|(_, v)| v.is_finite())
            .filter_map(|&(d, v)| Some(((x_of(day_on_axis(c.start, d, span)?), y_of(v)), v)))
            .collect()
    };

    let today = day_on_axis(c.start, c.today, span);
    let mut entries = vec![
        (Mark::SolidDot(UNIT), c.unit_label),
        (Mark::DashedDiamond(MILESTONE), c.milestone_label),
    ];
    if c.last_year.is_some() {
        entries.push((Mark::Dashed(LAST_YEAR), c.last_year_label));
    }
    if today.is_some() {
        entries.push((Mark::Upright(TODAY), c.today_label));
    }
    legend(root, fonts, &entries, (PAD, LEGEND_BASELINE))?;

    // Grid and axes.
    for tick in percent_ticks(ymax) {
        let y = y_of(f64::from(tick));
        if tick > 0 {
            line(root, (plot_left, y), (plot_right, y), GRID, 1)?;
        }
        draw_text(
            root,
            fonts,
            &tick.to_string(),
            (plot_left - 8, y + 4),
            SMALL,
            Align::Right,
        )?;
    }
    for (day, date) in month_ticks(c.start, span) {
        let x = x_of(day);
        if day > 0 {
            line(root, (x, plot_top), (x, plot_bottom), GRID, 1)?;
        }
        line(root, (x, plot_bottom), (x, plot_bottom + 4), AXIS, 1)?;
        // The year once, at January (and at the first tick): "01/2026", "02", … "12", "01/2027".
        let label = match date.month() == 1 || day == 0 {
            true => date.format("%m/%Y").to_string(),
            false => date.format("%m").to_string(),
        };
        let half = text_width(fonts, &label, SMALL) / 2;
        let align = if x + half > width - 4 {
            Align::Right
        } else {
            Align::Center
        };
        draw_text(root, fonts, &label, (x, plot_bottom + 17), SMALL, align)?;
    }
    axes(root, (plot_left, plot_top), (plot_right, plot_bottom))?;
    let y_title = fit(fonts, c.y_label, 60, plot_bottom - plot_top, LABEL);
    let y_mid = (plot_top + plot_bottom) / 2 + text_width(fonts, &y_title, LABEL) / 2;
    draw_text_upward(root, fonts, &y_title, (PAD + 12, y_mid), LABEL)?;

    if let Some(day) = today {
        let x = x_of(day);
        line(root, (x, plot_top), (x, plot_bottom), TODAY, 1)?;
    }

    let last: Vec<(i32, i32)> = in_pixels(last_year).into_iter().map(|(p, _)| p).collect();
    if last.len() > 1 {
        dashed(root, last, 7, 5, LAST_YEAR, 2)?;
    }

    // The expected line: from (start, 0 %) through each target in date order.
    let mut targets = in_pixels(c.milestones);
    targets.sort_by_key(|&((x, _), _)| x);
    let expected: Vec<(i32, i32)> = std::iter::once((plot_left, plot_bottom))
        .chain(targets.iter().map(|&(p, _)| p))
        .collect();
    dashed(root, expected, 8, 5, MILESTONE, 2)?;
    for &(p, _) in &targets {
        diamond(root, p, 5, MILESTONE)?;
    }

    let unit = in_pixels(c.unit);
    let path = smooth(&unit);

    // The targets' figures on white patches, above the point, or under it where the unit's line
    // would run through the figure; drawn before that line so that nothing hides it.
    let target_style = Style {
        color: MILESTONE,
        ..SMALL
    };
    for &((x, y), v) in &targets {
        let label = format!("{} %", figure_short(v));
        let w = text_width(fonts, &label, target_style);
        let (align, left) = if x + w / 2 > width - 4 {
            (Align::Right, x - w)
        } else {
            (Align::Center, x - w / 2)
        };
        let above = y - 11;
        let below = y + 21;
        let clear = |baseline: i32| {
            !crosses(
                &path,
                (left - 4, left + w + 4),
                (baseline - 12, baseline + 5),
            )
        };
        // Under the point only while it stays above the date labels.
        let below_fits = below + 5 < plot_bottom;
        let baseline = if clear(above) || !below_fits || !clear(below) {
            above
        } else {
            below
        };
        draw_label(root, fonts, &label, (x, baseline), target_style, align)?;
    }

    // The unit last, over everything. A dot on every point while they are few (monthly
    // figures); on a daily series only on the latest, which is labelled.
    if unit.len() > 1 {
        // A 3 px brush: plotters draws a wide polyline segment by segment, with notches at
        // every joint, where nine 1 px lines side by side draw an even stroke.
        for (dx, dy) in (-1..=1).flat_map(|dx| (-1..=1).map(move |dy| (dx, dy))) {
            let shifted: Vec<(i32, i32)> = path.iter().map(|&(x, y)| (x + dx, y + dy)).collect();
            root.draw(&PathElement::new(shifted, UNIT.stroke_width(1)))?;
        }
    }
    if unit.len() <= 40 {
        for &(p, _) in &unit {
            root.draw(&Circle::new(p, 3, UNIT.filled()))?;
        }
    }
    if let Some(&((x, y), v)) = unit.last() {
        root.draw(&Circle::new((x, y), 7, WHITE.filled()))?;
        root.draw(&Circle::new((x, y), 5, UNIT.filled()))?;
        let label = format!("{} %", figure(v));
        let style = Style {
            bold: true,
            color: UNIT,
            ..LABEL
        };
        if x + 12 + text_width(fonts, &label, style) > width - PAD {
            draw_label(root, fonts, &label, (x - 12, y - 6), style, Align::Right)?;
        } else {
            draw_label(root, fonts, &label, (x + 12, y - 6), style, Align::Left)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(png_bytes: &[u8]) -> (u32, u32, Vec<u8>) {
        let mut decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
        // An indexed chart read as the RGB it shows.
        decoder.set_transformations(png::Transformations::EXPAND);
        let mut reader = decoder.read_info().expect("a PNG header");
        assert_eq!(
            reader.output_color_type(),
            (png::ColorType::Rgb, png::BitDepth::Eight)
        );
        let size = reader.output_buffer_size().expect("a sane size");
        let mut buf = vec![0; size];
        let info = reader.next_frame(&mut buf).expect("one frame");
        buf.truncate(info.buffer_size());
        (info.width, info.height, buf)
    }

    fn pixels(rgb: &[u8]) -> impl Iterator<Item = [u8; 3]> + '_ {
        rgb.chunks_exact(3).map(|p| [p[0], p[1], p[2]])
    }

    /// A colour as the palette keeps it (each channel to a multiple of 8, see `indexed`).
    fn on_palette(color: RGBColor) -> [u8; 3] {
        let c = |v: u8| (((usize::from(v) + 4) >> 3) * 8).min(255) as u8;
        [c(color.0), c(color.1), c(color.2)]
    }

    fn count(rgb: &[u8], color: RGBColor) -> usize {
        pixels(rgb).filter(|p| *p == on_palette(color)).count()
    }

    fn non_white(rgb: &[u8]) -> usize {
        pixels(rgb).filter(|p| *p != [255, 255, 255]).count()
    }

    fn bar(label: &str, rate: f64, tone: Tone) -> Bar {
        Bar {
            label: label.to_owned(),
            rate,
            tone,
        }
    }

    fn bars(n: usize) -> Vec<Bar> {
        (0..n)
            .map(|i| {
                let rate = 95.0 - i as f64 * 1.3;
                let tone = match i % 4 {
                    0 => Tone::OnTrack,
                    1 => Tone::Behind,
                    2 => Tone::Critical,
                    _ => Tone::Neutral,
                };
                bar(&format!("Ủy ban nhân dân xã Nậm Ty {i}"), rate, tone)
            })
            .collect()
    }

    fn ranking(bars: &[Bar]) -> Ranking<'_> {
        Ranking {
            title: "Tỷ lệ giải ngân kế hoạch vốn năm 2026 — các đơn vị thấp nhất",
            bars,
            expected: Some(64.2),
            average: Some(58.1),
            expected_label: "Mức cần đạt 64,2 %",
            average_label: "Bình quân 58,1 %",
            caption: Some("30 đơn vị thấp nhất / 412; 120 chậm, 12 rất chậm"),
        }
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("a real date")
    }

    const NO_POINTS: [(NaiveDate, f64); 0] = [];

    fn milestones() -> Vec<(NaiveDate, f64)> {
        vec![
            (day(2026, 6, 30), 50.0),
            (day(2026, 9, 30), 60.0),
            (day(2026, 12, 31), 95.0),
            (day(2027, 1, 31), 100.0),
        ]
    }

    fn monthly(year: i32, rates: &[f64]) -> Vec<(NaiveDate, f64)> {
        rates
            .iter()
            .enumerate()
            .filter_map(|(i, &r)| {
                let first = day(year, 1, 1).checked_add_months(Months::new(i as u32 + 1))?;
                Some((first.pred_opt()?, r))
            })
            .collect()
    }

    fn curve<'a>(
        unit: &'a [(NaiveDate, f64)],
        milestones: &'a [(NaiveDate, f64)],
        last_year: Option<&'a [(NaiveDate, f64)]>,
    ) -> CurveChart<'a> {
        CurveChart {
            title: "Ủy ban nhân dân xã Nậm Ty — tiến độ giải ngân 2026",
            start: day(2026, 1, 1),
            end: day(2027, 1, 31),
            unit,
            milestones,
            last_year,
            today: day(2026, 5, 15),
            unit_label: "Đơn vị (lũy kế)",
            milestone_label: "Kế hoạch vốn: mốc cần đạt",
            last_year_label: "Cùng kỳ năm trước",
            today_label: "Hôm nay 15/05",
            y_label: "Tỷ lệ giải ngân (%)",
        }
    }

    #[test]
    fn a_ranking_is_a_png_of_the_promised_size_with_its_tones() {
        let bars = bars(12);
        let png = ranking_png(&ranking(&bars)).expect("a chart");
        let (w, h, rgb) = decode(&png);
        assert_eq!(w, WIDTH);
        assert!(h > 12 * ROW as u32, "height {h} leaves no room for 12 rows");
        assert!(non_white(&rgb) > 10_000, "the chart is almost blank");
        assert!(count(&rgb, CRITICAL) > 200, "no Critical-red bar pixels");
        assert!(count(&rgb, ON_TRACK) > 200, "no OnTrack-green bar pixels");
        assert!(count(&rgb, BEHIND) > 200, "no Behind-amber bar pixels");
    }

    #[test]
    fn each_tone_has_its_colour_and_no_other() {
        let tones = [
            (Tone::Critical, CRITICAL),
            (Tone::Behind, BEHIND),
            (Tone::OnTrack, ON_TRACK),
        ];
        for (tone, _) in tones {
            let bars = [bar("Xã A", 50.0, tone), bar("Xã B", 30.0, tone)];
            let (_, _, rgb) = decode(&ranking_png(&ranking(&bars)).expect("a chart"));
            for (other, other_colour) in tones {
                let n = count(&rgb, other_colour);
                if other == tone {
                    assert!(n > 1_000, "{tone:?}: only {n} pixels of its colour");
                } else {
                    assert_eq!(n, 0, "{tone:?} bars drew {other:?} pixels");
                }
            }
        }
    }

    #[test]
    fn the_font_has_every_vietnamese_letter() {
        let fonts = fonts().expect("the embedded fonts");
        let letters = "aàảãáạăằẳẵắặâầẩẫấậbcdđeèẻẽéẹêềểễếệghiìỉĩíịklmnoòỏõóọôồổỗốộơờởỡớợ\
                       pqrstuùủũúụưừửữứựvxyỳỷỹýỵ%…—";
        for c in letters
            .chars()
            .flat_map(|c| [c].into_iter().chain(c.to_uppercase()))
        {
            for (name, font) in [("regular", &fonts.regular), ("bold", &fonts.bold)] {
                assert_ne!(
                    font.glyph_id(c).0,
                    0,
                    "{name} DejaVu Sans has no glyph for {c:?}"
                );
            }
        }
    }

    #[test]
    fn month_ticks_are_monthly_on_a_plan_year_and_sparse_on_a_decade() {
        let year = month_ticks(day(2026, 1, 1), 395);
        let labels: Vec<String> = year
            .iter()
            .map(|(_, d)| d.format("%m/%Y").to_string())
            .collect();
        assert_eq!(labels.len(), 13, "{labels:?}");
        assert_eq!(labels.first().map(String::as_str), Some("01/2026"));
        assert_eq!(labels.last().map(String::as_str), Some("01/2027"));
        assert_eq!(year.get(1).map(|&(d, _)| d), Some(31));

        let decade = month_ticks(day(2020, 3, 15), 3_660);
        assert!((5..=15).contains(&decade.len()), "{} ticks", decade.len());
        assert!(decade.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn a_ranking_grows_with_its_bars() {
        let heights: Vec<u32> = [1, 10, 30, 60]
            .iter()
            .map(|&n| {
                let bars = bars(n);
                decode(&ranking_png(&ranking(&bars)).expect("a chart")).1
            })
            .collect();
        assert!(heights.windows(2).all(|w| w[0] < w[1]), "{heights:?}");
        assert_eq!(heights[3] - heights[2], 30 * ROW as u32);
    }

    #[test]
    fn shown_keeps_all_of_60_and_the_lowest_30_of_61() {
        let sixty = bars(60);
        let (kept, cut) = shown(&sixty);
        assert_eq!((kept.len(), cut), (60, false));

        let sixty_one = bars(61);
        let (kept, cut) = shown(&sixty_one);
        assert!(cut);
        assert_eq!(kept, &sixty_one[31..]);
        assert_eq!(
            shown(kept),
            (kept, false),
            "cutting twice cuts nothing more"
        );
    }

    #[test]
    fn hostile_figures_give_a_chart_not_a_panic() {
        let mut many = bars(500);
        many.extend([
            bar("NaN", f64::NAN, Tone::Critical),
            bar("âm", -5.0, Tone::Critical),
            bar("khổng lồ", 1e300, Tone::OnTrack),
            bar("vô cực", f64::INFINITY, Tone::Behind),
            bar("", f64::NEG_INFINITY, Tone::Neutral),
            bar(&"Ủy ban nhân dân ".repeat(500), 12.0, Tone::Neutral),
            bar("dòng\nmới\t\u{0}", 12.0, Tone::Neutral),
        ]);
        let r = Ranking {
            expected: Some(f64::NAN),
            average: Some(1e300),
            caption: Some(&"x".repeat(10_000)),
            ..ranking(&many)
        };
        let (w, h, _) = decode(&ranking_png(&r).expect("a chart"));
        let (shown_bars, _) = shown(&many);
        assert_eq!(w, WIDTH);
        assert_eq!(
            h,
            decode(&ranking_png(&ranking(shown_bars)).expect("a chart")).1,
            "500 bars are cut as `shown` cuts them"
        );

        let empty = Ranking {
            expected: None,
            average: None,
            caption: None,
            ..ranking(&[])
        };
        let (_, _, rgb) = decode(&ranking_png(&empty).expect("a chart with no bars"));
        assert!(non_white(&rgb) > 500, "the title is drawn");
        assert_eq!(count(&rgb, CRITICAL) + count(&rgb, ON_TRACK), 0);

        let nasty = [
            (day(2026, 3, 1), f64::NAN),
            (day(2026, 4, 1), -5.0),
            (day(2026, 5, 1), 1e300),
            (day(1900, 1, 1), 40.0),
            (day(2300, 1, 1), 40.0),
            (day(2026, 2, 1), f64::NEG_INFINITY),
        ];
        for c in [
            curve(&nasty, &nasty, Some(&nasty)),
            curve(&[], &[], None),
            CurveChart {
                end: day(2025, 1, 1),
                today: day(1, 1, 1),
                ..curve(&nasty, &NO_POINTS, Some(&NO_POINTS))
            },
            CurveChart {
                start: day(-200_000, 1, 1),
                end: day(200_000, 1, 1),
                ..curve(&nasty, &nasty, None)
            },
        ] {
            let (w, h, rgb) = decode(&curve_png(&c).expect("a chart"));
            assert_eq!((w, h), (WIDTH, CURVE_HEIGHT));
            assert!(non_white(&rgb) > 1_000);
        }
    }

    #[test]
    fn vietnamese_text_draws_glyphs() {
        let plain = bar("", 40.0, Tone::OnTrack);
        let named = bar("Ủy ban nhân dân xã Nậm Ty", 40.0, Tone::OnTrack);
        let draw = |b: &Bar| {
            let bars = [b.clone()];
            let r = Ranking {
                title: "",
                caption: None,
                ..ranking(&bars)
            };
            decode(&ranking_png(&r).expect("a chart")).2
        };
        let (a, b) = (draw(&plain), draw(&named));
        assert_eq!(a.len(), b.len());
        let differing = a.chunks(3).zip(b.chunks(3)).filter(|(x, y)| x != y).count();
        assert!(differing > 300, "only {differing} pixels show the label");

        // The diacritics themselves: "Ủ" differs from "U" only by its hook above.
        let glyph = |s: &str| {
            let bars = [bar("", 40.0, Tone::OnTrack)];
            let r = Ranking {
                title: s,
                caption: None,
                expected: None,
                average: None,
                ..ranking(&bars)
            };
            decode(&ranking_png(&r).expect("a chart")).2
        };
        assert_ne!(glyph("Ủy ban"), glyph("Uy ban"));
        assert_ne!(glyph("Nậm"), glyph("Nam"));
    }

    #[test]
    fn a_curve_is_a_png_of_the_promised_size_with_its_lines() {
        let unit = monthly(2026, &[2.0, 5.5, 11.0, 18.4, 27.0]);
        let last = monthly(
            2026,
            &[
                1.0, 3.0, 9.0, 15.0, 24.0, 41.0, 48.0, 56.0, 63.0, 70.0, 82.0, 97.0,
            ],
        );
        let ms = milestones();
        let png = curve_png(&curve(&unit, &ms, Some(&last))).expect("a chart");
        let (w, h, rgb) = decode(&png);
        assert_eq!((w, h), (WIDTH, CURVE_HEIGHT));
        assert!(non_white(&rgb) > 10_000);
        assert!(count(&rgb, UNIT) > 300, "the unit's blue line is missing");
        assert!(
            count(&rgb, LAST_YEAR) > 100,
            "last year's grey line is missing"
        );
        assert!(count(&rgb, TODAY) > 100, "the today marker is missing");
    }

    #[test]
    fn the_same_input_gives_the_same_bytes() {
        let bars = bars(20);
        assert_eq!(
            ranking_png(&ranking(&bars)).expect("a chart"),
            ranking_png(&ranking(&bars)).expect("a chart")
        );
        let unit = monthly(2026, &[2.0, 5.5, 11.0]);
        let ms = milestones();
        assert_eq!(
            curve_png(&curve(&unit, &ms, None)).expect("a chart"),
            curve_png(&curve(&unit, &ms, None)).expect("a chart")
        );
    }

    #[test]
    fn figures_are_written_the_vietnamese_way() {
        assert_eq!(figure(34.42), "34,4");
        assert_eq!(figure(34.46), "34,5");
        assert_eq!(figure(0.0), "0,0");
        assert_eq!(figure(-0.04), "0,0");
        assert_eq!(figure(-5.0), "-5,0");
        assert_eq!(figure(1234.56), "1.234,6");
        assert_eq!(figure(1e300), "> 9.999");
        assert_eq!(figure(f64::NAN), "—");
        assert_eq!(figure_short(50.0), "50");
        assert_eq!(figure_short(62.5), "62,5");
    }

    #[test]
    fn axes_run_to_100_or_the_largest_figure_up_to_the_cap() {
        assert_eq!(axis_max([34.0, f64::NAN].into_iter()), 100.0);
        assert_eq!(axis_max([123.4].into_iter()), 140.0);
        assert_eq!(axis_max([100.4].into_iter()), 120.0);
        assert_eq!(axis_max([1e300, f64::INFINITY].into_iter()), AXIS_CAP);
        assert_eq!(axis_max(std::iter::empty()), 100.0);
    }

    /// Writes one example of each chart to /tmp, to look at: run with
    #[test]
    #[ignore = "prints how long a chart takes"]
    fn time_charts() {
        let unit = monthly(2026, &[2.0, 5.5, 11.0, 18.4, 27.0]);
        let ms = milestones();
        #[allow(clippy::disallowed_methods)]
        let t = std::time::Instant::now();
        let mut size = 0;
        for _ in 0..20 {
            size = curve_png(&curve(&unit, &ms, None)).unwrap().len();
        }
        eprintln!("curve: {:?} each, {size} bytes", t.elapsed() / 20);
        let png = curve_png(&curve(&unit, &ms, None)).unwrap();
        let info = png::Decoder::new(std::io::Cursor::new(png))
            .read_info()
            .unwrap()
            .info()
            .color_type;
        eprintln!("colour type {info:?}");
    }

    /// `cargo test --lib chart::tests::write_examples -- --ignored`.
    #[test]
    #[ignore = "writes files for a person to look at"]
    fn write_examples() {
        let mut many: Vec<Bar> = (0..412)
            .map(|i| {
                let rate = 98.0 - f64::from(i) * 0.23;
                let tone = if rate < 40.0 {
                    Tone::Critical
                } else if rate < 58.0 {
                    Tone::Behind
                } else {
                    Tone::OnTrack
                };
                bar(&format!("Ủy ban nhân dân xã Nậm Ty số {i}"), rate, tone)
            })
            .collect();
        many[400].label = "Ban Quản lý dự án đầu tư xây dựng các công trình dân dụng và công nghiệp tỉnh Hà Giang".to_owned();
        many[405].tone = Tone::Neutral;
        many[411].rate = 0.0;
        let (kept, _) = shown(&many);
        let png = ranking_png(&ranking(kept)).expect("a chart");
        std::fs::write("/tmp/chart-ranking.png", png).expect("write /tmp");

        let unit = monthly(2026, &[2.0, 5.5, 11.0, 18.4, 27.0]);
        let last = monthly(
            2026,
            &[
                1.0, 3.0, 9.0, 15.0, 24.0, 41.0, 48.0, 56.0, 63.0, 70.0, 82.0, 97.0,
            ],
        );
        let ms = milestones();
        let png = curve_png(&curve(&unit, &ms, Some(&last))).expect("a chart");
        std::fs::write("/tmp/chart-curve.png", png).expect("write /tmp");

        // A daily series, no last year, milestones off the usual dates.
        let daily: Vec<(NaiveDate, f64)> = (0..200u64)
            .filter_map(|i| {
                let d = day(2026, 1, 1).checked_add_days(chrono::Days::new(i))?;
                Some((d, (i as f64 / 200.0).powi(2) * 71.0))
            })
            .collect();
        let c = CurveChart {
            today: day(2026, 7, 19),
            today_label: "Hôm nay 19/07",
            ..curve(&daily, &ms, None)
        };
        let png = curve_png(&c).expect("a chart");
        std::fs::write("/tmp/chart-curve-daily.png", png).expect("write /tmp");
    }
}
