//! Text on a chart, laid out and drawn here with ab_glyph from the DejaVu Sans built into the
//! binary, and the figures written in the reader's number style.

use super::look::{Area, FIGURE_CAP, INK, MUTED};
use super::spec::ChartError;
use crate::domain::money::{format_number, Language};
use ab_glyph::{point, Font, FontRef, GlyphId, PxScale, ScaleFont};
use plotters::prelude::*;
use std::sync::OnceLock;

/// DejaVu Sans, the charts' font and the dashboard's (served with its pages).
pub const REGULAR_TTF: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/assets/fonts/DejaVuSans.ttf"
));

pub(super) const BOLD_TTF: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/assets/fonts/DejaVuSans-Bold.ttf"
));

pub(super) struct Fonts {
    pub(super) regular: FontRef<'static>,
    pub(super) bold: FontRef<'static>,
}

/// The embedded fonts, parsed once per process; a failure is remembered so that every chart
/// reports it rather than parsing again.
pub(super) fn fonts() -> Result<&'static Fonts, ChartError> {
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
pub(super) struct Style {
    pub(super) em: f32,
    pub(super) bold: bool,
    pub(super) color: RGBColor,
}

pub(super) const TITLE: Style = Style {
    em: 17.0,
    bold: true,
    color: INK,
};

pub(super) const LABEL: Style = Style {
    em: 12.0,
    bold: false,
    color: INK,
};

pub(super) const SMALL: Style = Style {
    em: 11.0,
    bold: false,
    color: MUTED,
};

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Align {
    Left,
    Center,
    Right,
}

/// A line of text laid out at the origin: its glyphs and its advance width in pixels.
pub(super) struct Line<'f> {
    pub(super) font: &'f FontRef<'static>,
    pub(super) scale: PxScale,
    pub(super) glyphs: Vec<(GlyphId, f32)>,
    pub(super) width: f32,
}

pub(super) fn lay_out<'f>(fonts: &'f Fonts, text: &str, style: Style) -> Line<'f> {
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

pub(super) fn text_width(fonts: &Fonts, text: &str, style: Style) -> i32 {
    lay_out(fonts, text, style).width.ceil() as i32
}

/// Draws `text` with its baseline at `y`, starting, centred or ending at `x`.
pub(super) fn draw_text(
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
pub(super) fn draw_text_upward(
    area: &Area,
    fonts: &Fonts,
    text: &str,
    at: (i32, i32),
    style: Style,
) -> Result<(), ChartError> {
    paint_text(area, fonts, text, at, style, Align::Left, true)
}

pub(super) fn paint_text(
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
pub(super) fn draw_label(
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
pub(super) fn fit(
    fonts: &Fonts,
    text: &str,
    max_chars: usize,
    max_px: i32,
    style: Style,
) -> String {
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

/// A percentage in the reader's number style, one decimal: "34,4", "1.234,5" in Vietnamese,
/// "34.4", "1,234.5" in English; "—" for no number, and a cap on absurd ones.
pub(super) fn figure(v: f64, lang: Language) -> String {
    if !v.is_finite() {
        return "—".to_owned();
    }
    let cap = format_number(FIGURE_CAP, 0, lang);
    if v > FIGURE_CAP {
        return format!("> {cap}");
    }
    if v < -FIGURE_CAP {
        return format!("< -{cap}");
    }
    format_number(v, 1, lang)
}

/// A target as written in a plan: "50", "62,5" ("62.5" in English).
pub(super) fn figure_short(v: f64, lang: Language) -> String {
    let f = figure(v, lang);
    let whole = match lang {
        Language::Vi => ",0",
        Language::En => ".0",
    };
    f.strip_suffix(whole).map(str::to_owned).unwrap_or(f)
}
