//! A unit's curve: its cumulative rate through the plan year against its milestones, last
//! year's beside it, and the as-of day.

use super::canvas::*;
use super::look::*;
use super::spec::{ChartError, CurveChart};
use super::text::*;
use crate::domain::money::Language;
use chrono::{Datelike, Months, NaiveDate};
use plotters::prelude::*;

/// The last day of each month on the axis, as days from `start`: a month's figure is the one at
/// its end (the milestones fall on month ends, and officers read "T10" as October's result).
/// Every month on a year's axis, every few months (quarters, years) on a longer one, so that the
/// labels never crowd.
pub(super) fn month_ticks(start: NaiveDate, span: i32) -> Vec<(i32, NaiveDate)> {
    let months = span / 30 + 1;
    let every = [1, 3, 6, 12, 24, 60]
        .into_iter()
        .find(|e| months / e <= 14)
        .unwrap_or(120);
    let Some(first) = start.with_day(1) else {
        return Vec::new();
    };
    let mut ticks = Vec::new();
    for i in 1..=u32::try_from(months + 2).unwrap_or(0) {
        let Some(end) = first
            .checked_add_months(Months::new(i))
            .and_then(|d| d.pred_opt())
        else {
            break;
        };
        let offset = (end - start).num_days();
        if offset > i64::from(span) {
            break;
        }
        let month = end.year().rem_euclid(1000) * 12 + i32::try_from(end.month()).unwrap_or(0);
        if offset >= 0 && month % every == 0 {
            ticks.push((i32::try_from(offset).unwrap_or(0), end));
        }
    }
    ticks
}

/// The month ticks' labels: "T1" … "T12" (tháng), the year added where the axis enters a year
/// after the first ("T1/2027", the plan year's close); in English "Jan" … "Dec", "Jan 2027".
pub(super) fn month_labels(
    start: NaiveDate,
    ticks: &[(i32, NaiveDate)],
    lang: Language,
) -> Vec<String> {
    let mut year = start.year();
    ticks
        .iter()
        .map(|&(_, d)| {
            let new_year = d.year() != year;
            year = d.year();
            match (lang, new_year) {
                (Language::Vi, false) => format!("T{}", d.month()),
                (Language::Vi, true) => format!("T{}/{}", d.month(), d.year()),
                (Language::En, false) => d.format("%b").to_string(),
                (Language::En, true) => d.format("%b %Y").to_string(),
            }
        })
        .collect()
}

/// A day as officers write it on a chart: "30/6" (no leading zeros); in English "30 Jun".
pub(super) fn day_label(d: NaiveDate, lang: Language) -> String {
    match lang {
        Language::Vi => format!("{}/{}", d.day(), d.month()),
        Language::En => d.format("%-d %b").to_string(),
    }
}

/// `day` as days from `start`, if it is on an axis `span` days long.
pub(super) fn day_on_axis(start: NaiveDate, day: NaiveDate, span: i32) -> Option<i32> {
    i32::try_from((day - start).num_days())
        .ok()
        .filter(|d| (0..=span).contains(d))
}

/// A line's points with those closer than 3 px across to the last one kept left out (the last
/// point always kept): a daily series is some 2 px a day, and a thick line through every day
/// draws as a row of lumps.
pub(super) fn smooth(points: &[((i32, i32), f64)]) -> Vec<(i32, i32)> {
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
pub(super) fn crosses(path: &[(i32, i32)], xs: (i32, i32), ys: (i32, i32)) -> bool {
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

pub(super) fn draw_curve(root: &Area, fonts: &Fonts, c: &CurveChart) -> Result<(), ChartError> {
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
    let ticks = month_ticks(c.start, span);
    for (&(day, _), label) in ticks.iter().zip(month_labels(c.start, &ticks, c.lang)) {
        let x = x_of(day);
        if day > 0 {
            line(root, (x, plot_top), (x, plot_bottom), GRID, 1)?;
        }
        line(root, (x, plot_bottom), (x, plot_bottom + 4), AXIS, 1)?;
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

    let last: Vec<(i32, i32)> = smooth(&in_pixels(last_year));
    if last.len() > 1 {
        dashed(root, last.clone(), 7, 5, LAST_YEAR, 2)?;
    }

    // The expected line: from (start, 0 %) through each target in date order.
    let targets = target_points(c, span, &x_of, &y_of);
    let expected: Vec<(i32, i32)> = std::iter::once((plot_left, plot_bottom))
        .chain(targets.iter().map(|&(p, _, _)| p))
        .collect();
    dashed(root, expected.clone(), 8, 5, MILESTONE, 2)?;
    for &(p, _, _) in &targets {
        diamond(root, p, 5, MILESTONE)?;
    }

    let unit = in_pixels(c.unit);
    let path = smooth(&unit);

    // The labels on white patches, drawn before the unit's line so that nothing hides it: the
    // as-of line's date at its top, then each target's date and figure ("30/6: 50 %") where it
    // hides no other label and, if it can, neither line.
    let mut taken: Vec<Boxed> = Vec::new();
    let label_style = |color| Style { color, ..SMALL };
    if let Some(day) = today {
        let x = x_of(day);
        let label = day_label(c.today, c.lang);
        let w = text_width(fonts, &label, label_style(TODAY));
        let (left, align, at) = if x + 5 + w > plot_right {
            (x - 5 - w, Align::Right, x - 5)
        } else {
            (x + 5, Align::Left, x + 5)
        };
        let baseline = plot_top + 13;
        taken.push(Boxed::around(left, w, baseline));
        draw_label(
            root,
            fonts,
            &label,
            (at, baseline),
            label_style(TODAY),
            align,
        )?;
    }
    let bounds = Bounds {
        left: plot_left,
        right: width - 4,
        top: plot_top - 11,
        bottom: plot_bottom,
    };
    // The origin (1/1, 0 %) needs no words.
    for &((x, y), v, date) in targets
        .iter()
        .filter(|&&(_, v, d)| d != c.start || v != 0.0)
    {
        let label = format!("{}: {} %", day_label(date, c.lang), figure_short(v, c.lang));
        let w = text_width(fonts, &label, label_style(MILESTONE));
        let (left, baseline) = place(w, (x, y), &taken, bounds, &[&path, &last, &expected]);
        taken.push(Boxed::around(left, w, baseline));
        draw_label(
            root,
            fonts,
            &label,
            (left, baseline),
            label_style(MILESTONE),
            Align::Left,
        )?;
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
        let label = format!("{} %", figure(v, c.lang));
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

/// The targets on the axis, in pixels with their figures and dates, left to right.
fn target_points(
    c: &CurveChart,
    span: i32,
    x_of: &dyn Fn(i32) -> i32,
    y_of: &dyn Fn(f64) -> i32,
) -> Vec<((i32, i32), f64, NaiveDate)> {
    let mut out: Vec<_> = c
        .milestones
        .iter()
        .filter(|(_, v)| v.is_finite())
        .filter_map(|&(d, v)| {
            let day = day_on_axis(c.start, d, span)?;
            Some(((x_of(day), y_of(v)), v, d))
        })
        .collect();
    out.sort_by_key(|&((x, _), _, _)| x);
    out
}

/// A label's box in pixels, with the white patch's margin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Boxed {
    pub(super) x: (i32, i32),
    pub(super) y: (i32, i32),
}

impl Boxed {
    /// The box of a label `w` wide from `left`, on `baseline`.
    pub(super) fn around(left: i32, w: i32, baseline: i32) -> Boxed {
        Boxed {
            x: (left - 4, left + w + 4),
            y: (baseline - 12, baseline + 5),
        }
    }

    pub(super) fn overlaps(&self, o: &Boxed) -> bool {
        self.x.0 < o.x.1 && o.x.0 < self.x.1 && self.y.0 < o.y.1 && o.y.0 < self.y.1
    }
}

/// Where a label's box may go: its left edge, its right edge, the highest baseline and the
/// lowest bottom.
#[derive(Debug, Clone, Copy)]
pub(super) struct Bounds {
    pub(super) left: i32,
    pub(super) right: i32,
    pub(super) top: i32,
    pub(super) bottom: i32,
}

/// Where the label `w` wide of the point `(x, y)` goes (its left edge and baseline): above the
/// point, under it, a line further up, a line further down; centred, else ending or starting at
/// the point; the first place inside `bounds` that
/// overlaps no label already `taken` and crosses none of `lines` (the earlier a line, the more
/// it matters); else the first that overlaps no label; else above the point.
pub(super) fn place(
    w: i32,
    (x, y): (i32, i32),
    taken: &[Boxed],
    bounds: Bounds,
    lines: &[&[(i32, i32)]],
) -> (i32, i32) {
    let mut best: Option<(usize, (i32, i32))> = None;
    for baseline in [y - 11, y + 21, y - 28, y + 38] {
        for left in [x - w / 2, x - w + 6, x - 6] {
            let b = Boxed::around(left, w, baseline);
            let inside = b.x.0 >= bounds.left - 4
                && b.x.1 <= bounds.right
                && baseline >= bounds.top
                && b.y.1 < bounds.bottom;
            if !inside || taken.iter().any(|t| t.overlaps(&b)) {
                continue;
            }
            // Crossing the first line (the unit's) costs more than crossing all the others.
            let cost: usize = lines
                .iter()
                .enumerate()
                .filter(|(_, l)| crosses(l, b.x, b.y))
                .map(|(i, _)| 1 << (lines.len() - i))
                .sum();
            if cost == 0 {
                return (left, baseline);
            }
            if best.is_none_or(|(c, _)| cost < c) {
                best = Some((cost, (left, baseline)));
            }
        }
    }
    best.map_or((x - w / 2, y - 11), |(_, at)| at)
}
