//! A unit's curve: its cumulative rate through the plan year against its milestones, last
//! year's beside it, and the as-of day.

use super::canvas::*;
use super::look::*;
use super::spec::{ChartError, CurveChart};
use super::text::*;
use chrono::{Datelike, Months, NaiveDate};
use plotters::prelude::*;

/// The first day of each month on the axis, as days from `start`: every month on a year's axis,
/// every few months on a longer one, so that the labels never crowd.
pub(super) fn month_ticks(start: NaiveDate, span: i32) -> Vec<(i32, NaiveDate)> {
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
        let label = format!("{} %", figure_short(v, c.lang));
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
