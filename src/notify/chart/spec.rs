//! What a chart shows, as its caller gives it: plain values and the caller's words, already in
//! the reader's language; and why a chart could not be drawn.

use crate::domain::money::Language;
use chrono::NaiveDate;
use plotters::prelude::DrawingAreaErrorKind;

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
    /// The reader's number style, for the figures the chart writes.
    pub lang: Language,
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
    /// The reader's number style, for the figures the chart writes.
    pub lang: Language,
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
