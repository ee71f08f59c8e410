//! The look every chart shares: sizes, margins, caps on absurd figures, and colours.

use super::spec::Tone;
use plotters::backend::RGBPixel;
use plotters::coord::Shift;
use plotters::prelude::{BitMapBackend, DrawingArea, RGBColor};

/// What every chart is drawn on: an RGB buffer in memory.
pub(super) type Area<'b> = DrawingArea<BitMapBackend<'b, RGBPixel>, Shift>;

pub(super) const WIDTH: u32 = 760;

pub(super) const CURVE_HEIGHT: u32 = 360;

/// Outer margin, on every side.
pub(super) const PAD: i32 = 20;

/// Baselines of the title and of the legend under it.
pub(super) const TITLE_BASELINE: i32 = PAD + 16;

pub(super) const LEGEND_BASELINE: i32 = PAD + 44;

/// One ranking row, and the bar inside it.
pub(super) const ROW: i32 = 22;

pub(super) const BAR: i32 = 14;

/// Unit names are cut at this many characters (with "…"), then to the label column's width.
pub(super) const LABEL_CHARS: usize = 40;

pub(super) const LABEL_MAX_PX: i32 = 340;

/// The rate axis stops here: one absurd rate (a plan cut to almost nothing, a typo) would
/// otherwise squash every other bar to a sliver. Its bar runs to the end; its figure is exact.
pub(super) const AXIS_CAP: f64 = 200.0;

/// Figures beyond this are written as "> 9.999": they are data errors, and must not widen the
/// chart.
pub(super) const FIGURE_CAP: f64 = 9_999.0;

/// The longest axis drawn (ten years), so that absurd dates cannot ask for thousands of ticks.
pub(super) const MAX_SPAN_DAYS: i64 = 3_660;

pub(super) const INK: RGBColor = RGBColor(0x21, 0x21, 0x21);

pub(super) const MUTED: RGBColor = RGBColor(0x61, 0x61, 0x61);

pub(super) const AXIS: RGBColor = RGBColor(0x9E, 0x9E, 0x9E);

pub(super) const GRID: RGBColor = RGBColor(0xE6, 0xE6, 0xE6);

pub(super) const STRIPE: RGBColor = RGBColor(0xF6, 0xF7, 0xF9);

pub(super) const CRITICAL: RGBColor = RGBColor(0xC6, 0x28, 0x28);

pub(super) const BEHIND: RGBColor = RGBColor(0xEF, 0x6C, 0x00);

pub(super) const ON_TRACK: RGBColor = RGBColor(0x2E, 0x7D, 0x32);

pub(super) const NEUTRAL: RGBColor = RGBColor(0x9E, 0x9E, 0x9E);

pub(super) const EXPECTED: RGBColor = RGBColor(0x26, 0x32, 0x38);

pub(super) const AVERAGE: RGBColor = RGBColor(0x15, 0x65, 0xC0);

pub(super) const UNIT: RGBColor = RGBColor(0x15, 0x65, 0xC0);

pub(super) const MILESTONE: RGBColor = RGBColor(0x37, 0x47, 0x4F);

pub(super) const LAST_YEAR: RGBColor = RGBColor(0xA8, 0xA8, 0xA8);

pub(super) const TODAY: RGBColor = RGBColor(0x8E, 0x24, 0xAA);

pub(super) fn tone_color(tone: Tone) -> RGBColor {
    match tone {
        Tone::Critical => CRITICAL,
        Tone::Behind => BEHIND,
        Tone::OnTrack => ON_TRACK,
        Tone::Neutral => NEUTRAL,
    }
}
