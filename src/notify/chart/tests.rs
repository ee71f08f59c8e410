//! Charts from hostile figures never panic; the pictures hold what they promise (bars, lines,
//! labels in the reader's number style), checked on the decoded pixels.

use super::canvas::*;
use super::curve::*;
use super::look::*;
use super::ranking::*;
use super::spec::*;
use super::text::*;
use crate::domain::money::Language;
use ab_glyph::Font;
use chrono::NaiveDate;
use chrono::{Datelike, Months};
use plotters::prelude::*;

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
        lang: Language::Vi,
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
        lang: Language::Vi,
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
fn month_ticks_stand_at_month_ends_labelled_by_their_month() {
    let start = day(2026, 1, 1);
    let year = month_ticks(start, 395);
    assert_eq!(year.len(), 13, "{year:?}");
    // 31/1 is day 30 of the axis; 31/10 is October's tick, 31/1 of the next year the last.
    assert_eq!(year.first(), Some(&(30, day(2026, 1, 31))));
    assert!(year.contains(&(303, day(2026, 10, 31))));
    assert_eq!(year.last(), Some(&(395, day(2027, 1, 31))));
    let vi = month_labels(start, &year, Language::Vi);
    assert_eq!(vi[0], "T1");
    assert_eq!(vi[9], "T10");
    assert_eq!(vi[11], "T12");
    assert_eq!(vi[12], "T1/2027");
    let en = month_labels(start, &year, Language::En);
    assert_eq!(en[0], "Jan");
    assert_eq!(en[9], "Oct");
    assert_eq!(en[12], "Jan 2027");
    assert_eq!(day_label(day(2026, 6, 30), Language::Vi), "30/6");
    assert_eq!(day_label(day(2027, 1, 31), Language::Vi), "31/1");
    assert_eq!(day_label(day(2026, 6, 30), Language::En), "30 Jun");

    let decade = month_ticks(day(2020, 3, 15), 3_660);
    assert!((5..=15).contains(&decade.len()), "{} ticks", decade.len());
    assert!(decade.windows(2).all(|w| w[0].0 < w[1].0));
    // Sparse ticks are still month ends, and each year is written once.
    assert!(decade
        .iter()
        .all(|(_, d)| d.succ_opt().is_some_and(|n| n.day() == 1)));
    let labels = month_labels(day(2020, 3, 15), &decade, Language::Vi);
    assert!(labels.iter().skip(1).all(|l| l.contains('/')), "{labels:?}");
}

#[test]
fn a_label_goes_where_it_hides_no_other_label() {
    let bounds = Bounds {
        left: 0,
        right: 700,
        top: 20,
        bottom: 300,
    };
    let nothing: &[(i32, i32)] = &[];
    // Free: centred above the point.
    assert_eq!(place(60, (200, 100), &[], bounds, &[nothing]), (170, 89));
    // Above taken: under it.
    let above = Boxed::around(170, 60, 89);
    assert_eq!(
        place(60, (200, 100), &[above], bounds, &[nothing]),
        (170, 121)
    );
    // A line through the place above, none under it: under it.
    let line: &[(i32, i32)] = &[(100, 85), (300, 85)];
    assert_eq!(place(60, (200, 100), &[], bounds, &[line]), (170, 121));
    // The placed boxes never overlap, whatever is already there.
    let mut taken = vec![above, Boxed::around(170, 60, 121)];
    let at = place(60, (200, 100), &taken, bounds, &[nothing]);
    let b = Boxed::around(at.0, 60, at.1);
    assert!(!taken.iter().any(|t| t.overlaps(&b)), "{at:?}");
    taken.push(b);
    // At the right edge: the label ends at the point, inside the chart.
    let (left, _) = place(60, (690, 100), &[], bounds, &[nothing]);
    assert!(left + 60 + 4 <= 700, "{left}");
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
        lang: Language::Vi,
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
        lang: Language::Vi,
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
            lang: Language::Vi,
            end: day(2025, 1, 1),
            today: day(1, 1, 1),
            ..curve(&nasty, &NO_POINTS, Some(&NO_POINTS))
        },
        CurveChart {
            lang: Language::Vi,
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
            lang: Language::Vi,
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
            lang: Language::Vi,
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
    let (vi, en) = (Language::Vi, Language::En);
    assert_eq!(figure(34.42, vi), "34,4");
    assert_eq!(figure(34.46, vi), "34,5");
    assert_eq!(figure(0.0, vi), "0,0");
    assert_eq!(figure(-0.04, vi), "0,0");
    assert_eq!(figure(-5.0, vi), "-5,0");
    assert_eq!(figure(1234.56, vi), "1.234,6");
    assert_eq!(figure(1e300, vi), "> 9.999");
    assert_eq!(figure(f64::NAN, vi), "—");
    assert_eq!(figure_short(50.0, vi), "50");
    assert_eq!(figure_short(62.5, vi), "62,5");
    // An English chart writes numbers the English way.
    assert_eq!(figure(34.42, en), "34.4");
    assert_eq!(figure(1234.56, en), "1,234.6");
    assert_eq!(figure(-1e300, en), "< -9,999");
    assert_eq!(figure_short(62.5, en), "62.5");
    assert_eq!(figure_short(50.0, en), "50");
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
    many[400].label =
        "Ban Quản lý dự án đầu tư xây dựng các công trình dân dụng và công nghiệp tỉnh Hà Giang"
            .to_owned();
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
        lang: Language::Vi,
        today: day(2026, 7, 19),
        today_label: "Hôm nay 19/07",
        ..curve(&daily, &ms, None)
    };
    let png = curve_png(&c).expect("a chart");
    std::fs::write("/tmp/chart-curve-daily.png", png).expect("write /tmp");
}
