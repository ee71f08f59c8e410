//! The canvas: a white RGB buffer plotters draws the shapes into, encoded as PNG; the shapes
//! both charts use (title, axes, lines, markers, the legend) and the scales of the rate axis.

use super::look::*;
use super::spec::ChartError;
use super::text::fit;
use super::text::fonts;
use super::text::{draw_text, text_width, Align, Fonts, LABEL, TITLE};
use plotters::backend::RGBPixel;
use plotters::element::DashedPathElement;
use plotters::prelude::*;

/// Draws on a white canvas of `width` × `height` and encodes the result as PNG.
pub(super) fn render(
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
pub(super) fn encode(pixels: &[u8], width: u32, height: u32) -> Result<Vec<u8>, ChartError> {
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
pub(super) const LEVELS: usize = 33;

/// The palette and each pixel's index in it, the channels rounded to multiples of 8; None past
/// 256 colours.
pub(super) fn indexed(pixels: &[u8]) -> Option<(Vec<[u8; 3]>, Vec<u8>)> {
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

pub(super) fn rgb_png(pixels: &[u8], width: u32, height: u32) -> Result<Vec<u8>, ChartError> {
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
pub(super) fn title(area: &Area, fonts: &Fonts, text: &str) -> Result<(), ChartError> {
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
pub(super) fn axes(
    area: &Area,
    (left, top): (i32, i32),
    (right, bottom): (i32, i32),
) -> Result<(), ChartError> {
    line(area, (left, top), (left, bottom), AXIS, 1)?;
    line(area, (left, bottom), (right, bottom), AXIS, 1)
}

pub(super) fn line(
    area: &Area,
    from: (i32, i32),
    to: (i32, i32),
    color: RGBColor,
    width: u32,
) -> Result<(), ChartError> {
    area.draw(&PathElement::new(vec![from, to], color.stroke_width(width)))?;
    Ok(())
}

pub(super) fn dashed(
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

pub(super) fn diamond(
    area: &Area,
    (x, y): (i32, i32),
    r: i32,
    color: RGBColor,
) -> Result<(), ChartError> {
    area.draw(&Polygon::new(
        vec![(x, y - r), (x + r, y), (x, y + r), (x - r, y)],
        color.filled(),
    ))?;
    Ok(())
}

/// How a series is drawn, shown again in the legend.
#[derive(Clone, Copy)]
pub(super) enum Mark {
    Solid(RGBColor),
    SolidDot(RGBColor),
    Dashed(RGBColor),
    DashedDiamond(RGBColor),
    Upright(RGBColor),
}

/// Draws a row of legend entries from `x` with their baseline at `y`; labels are cut so that the
/// row stays inside the picture.
pub(super) fn legend(
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
pub(super) fn axis_max(values: impl Iterator<Item = f64>) -> f64 {
    let top = values.filter(|v| v.is_finite()).fold(100.0, f64::max);
    ((top.min(AXIS_CAP) / 20.0).ceil() * 20.0).max(100.0)
}

/// The ticks of a percent axis running to `max` (from [`axis_max`]).
pub(super) fn percent_ticks(max: f64) -> impl Iterator<Item = i32> {
    let step = if max > 100.0 { 20 } else { 10 };
    (0..=max.round() as i32).step_by(step)
}

/// Maps a percentage onto pixels `from..to` (either way round) of an axis running `0..max`:
/// figures off the axis go to its ends, NaN to 0.
pub(super) fn scale_to(v: f64, max: f64, from: i32, to: i32) -> i32 {
    let v = if v.is_nan() { 0.0 } else { v.clamp(0.0, max) };
    from + (v / max * f64::from(to - from)).round() as i32
}

/// A reference line's rate, if there is one to draw: no rate, or no number, draws no line and
/// no legend for it.
pub(super) fn reference(rate: Option<f64>) -> Option<f64> {
    rate.filter(|v| v.is_finite())
}
