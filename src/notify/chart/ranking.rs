//! The ranking chart: units by rate, one horizontal bar each, with the expected and the average
//! rate as vertical lines.

use super::canvas::*;
use super::look::*;
use super::spec::{shown, Bar, ChartError, Ranking};
use super::text::*;
use plotters::prelude::*;

/// Where the rows start: under the title, and under the legend when there is one.
pub(super) fn ranking_top(r: &Ranking) -> i32 {
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

pub(super) fn draw_ranking(
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
    let figures: Vec<String> = bars.iter().map(|b| figure(b.rate, r.lang)).collect();
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
