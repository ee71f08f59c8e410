//! The year-end projection, its backtest, the reallocation proposal and escalation after missed
//! milestones, on the bundled sample (three whole past years and 2026 so far), through the real
//! binary: each figure checked against one computed here from the sample's CSV files.

use crate::support::Project;
use calamine::{open_workbook, Data, Reader, Xlsx};
use chrono::NaiveDate;
use std::collections::BTreeMap;

fn sample() -> Project {
    let p = Project::new();
    p.copy_from_repo("config")
        .copy_from_repo("jobs/sample.toml")
        .copy_from_repo("jobs/sample");
    p
}

/// The run report of a dry run of the sample on 31/10/2026, which must succeed.
fn dry_report(p: &Project) -> serde_json::Value {
    let run = p.run(&[
        "once",
        "sample",
        "--as-of",
        "2026-10-31",
        "--dry-run",
        "--json",
    ]);
    run.expect_code(0);
    run.json()
}

/// The sample's payments: (plan year, unit) → (date, đồng), read straight from the CSV.
fn payments(p: &Project) -> BTreeMap<(i32, String), Vec<(NaiveDate, i64)>> {
    let text = std::fs::read_to_string(p.path().join("jobs/sample/giai_ngan.csv")).unwrap();
    let mut out: BTreeMap<(i32, String), Vec<(NaiveDate, i64)>> = BTreeMap::new();
    for line in text.lines().skip(1) {
        let cells: Vec<&str> = line.split(',').collect();
        let day = NaiveDate::parse_from_str(cells[0], "%d/%m/%Y").unwrap();
        let amount: i64 = cells[2].replace('.', "").parse().unwrap();
        let year: i32 = cells[3].parse().unwrap();
        out.entry((year, cells[1].to_string()))
            .or_default()
            .push((day, amount));
    }
    out
}

fn paid_by(p: &[(NaiveDate, i64)], day: NaiveDate) -> i64 {
    p.iter().filter(|(d, _)| *d <= day).map(|(_, a)| a).sum()
}

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

#[test]
fn each_unit_is_projected_along_its_own_past_years_as_computed_from_the_csv() {
    let p = sample();
    let report = dry_report(&p);
    let pays = payments(&p);
    let units = report["units"].as_array().unwrap();
    let mut checked = 0;
    for u in units {
        let id = u["unit_id"].as_str().unwrap();
        let plan = u["plan"].as_i64().unwrap();
        if plan == 0 {
            assert!(
                u.get("projection").is_none(),
                "{id}: no plan, no projection"
            );
            continue;
        }
        let proj = &u["projection"];
        assert_eq!(proj["basis"], "unit", "{id}");
        assert_eq!(proj["years"], serde_json::json!([2025, 2024, 2023]), "{id}");
        // Each past year: the share of its whole disbursement reached by 31/10 and by 31/12.
        let rate = u["rate_pct"].as_f64().unwrap();
        let (mut dec, mut close) = (Vec::new(), Vec::new());
        for year in [2025, 2024, 2023] {
            let p = &pays[&(year, id.to_string())];
            let total = paid_by(p, d(year + 1, 1, 31)) as f64;
            let by_day = paid_by(p, d(year, 10, 31)) as f64 / total;
            let by_dec = paid_by(p, d(year, 12, 31)) as f64 / total;
            let cap = rate.max(100.0);
            dec.push((rate * (by_dec / by_day).max(1.0)).min(cap));
            close.push((rate / by_day).max(rate).min(cap));
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let near = |a: f64, b: f64| (a - b).abs() < 1e-6;
        assert!(
            near(proj["dec31"]["mid"].as_f64().unwrap(), mean(&dec)),
            "{id}: {proj}"
        );
        assert!(
            near(proj["jan31"]["mid"].as_f64().unwrap(), mean(&close)),
            "{id}: {proj}"
        );
        let low = close.iter().copied().fold(f64::INFINITY, f64::min);
        let high = close.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        assert!(near(proj["jan31"]["low"].as_f64().unwrap(), low), "{id}");
        assert!(near(proj["jan31"]["high"].as_f64().unwrap(), high), "{id}");
        // Below 95 % by 31/12 or 100 % by 31/1 (the sample's milestones) is at risk.
        let at_risk = mean(&dec) < 95.0 - 0.05 || mean(&close) < 100.0 - 0.05;
        assert_eq!(proj["at_risk"].as_bool().unwrap(), at_risk, "{id}: {proj}");
        checked += 1;
    }
    assert!(checked >= 38, "{checked} units checked");
    // Nothing paid this year projects nothing, whatever the past.
    let sdttg = units.iter().find(|u| u["unit_id"] == "SDTTG").unwrap();
    assert_eq!(sdttg["projection"]["jan31"]["high"], 0.0);
}

#[test]
fn the_backtest_replays_each_past_year_from_the_years_before_it() {
    let p = sample();
    let run = p.run(&["backtest", "sample", "--as-of", "2026-10-31", "--json"]);
    run.expect_code(0);
    let b = run.json();
    assert_eq!(b["years"], serde_json::json!([2025, 2024]), "{run}");
    let months = b["months"].as_array().unwrap();
    assert_eq!(months.len(), 12, "{run}");
    // 39 units with a plan in each of the two replayed years, less those without one.
    assert!(
        months
            .iter()
            .all(|m| m["projections"].as_u64().unwrap() >= 70),
        "{run}"
    );
    let err = |i: usize, k: &str| months[i][k].as_f64().unwrap();
    // The seasonal projection beats a straight line in the first half of the year, and knows
    // more at the end of the year than at its start.
    for i in 0..5 {
        assert!(
            err(i, "mean_abs_error") < err(i, "straight_line_error"),
            "{run}"
        );
    }
    assert!(
        err(11, "mean_abs_error") < err(0, "mean_abs_error"),
        "{run}"
    );
    // The table for people says the same.
    let table = p.run(&["backtest", "sample", "--as-of", "2026-10-31"]);
    table
        .expect_code(0)
        .expect_stdout("2025, 2024 replayed")
        .expect_stdout(&format!("{:.1}", err(9, "mean_abs_error")));
}

#[test]
fn the_workbook_and_the_digest_propose_reallocation_with_totals_that_balance() {
    let p = sample();
    p.run(&[
        "report",
        "sample",
        "--as-of",
        "2026-10-31",
        "--xlsx",
        "bang.xlsx",
    ])
    .expect_code(0);
    let mut book: Xlsx<_> = open_workbook(p.path().join("bang.xlsx")).expect("a workbook");
    let summary = book.worksheet_range("Tổng hợp").unwrap();
    let header: Vec<String> = summary
        .rows()
        .nth(3)
        .unwrap()
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert!(
        header.contains(&"Dự báo 31/1 (%)".to_string()),
        "{header:?}"
    );
    let sheet = book
        .worksheet_range("Đề xuất điều chuyển vốn")
        .expect("the proposal sheet");
    let rows: Vec<Vec<Data>> = sheet.rows().map(|r| r.to_vec()).collect();
    let text = |r: &[Data], c: usize| r.get(c).map(|d| d.to_string()).unwrap_or_default();
    let num = |r: &[Data], c: usize| match r.get(c) {
        Some(Data::Float(f)) => *f,
        _ => 0.0,
    };
    assert!(
        text(&rows[0], 0).contains("DỰ THẢO ĐỂ LÃNH ĐẠO XEM XÉT"),
        "{:?}",
        rows[0]
    );
    let section = |label: &str| rows.iter().position(|r| text(r, 0) == label).unwrap();
    let (a, b, c) = (section("A"), section("B"), section("C"));
    // Units (numbered rows) between the headings; their amounts add up to the heading's.
    let units = |from: usize, to: usize, col: usize| -> f64 {
        rows[from + 1..to]
            .iter()
            .filter(|r| matches!(r.first(), Some(Data::Float(_))))
            .map(|r| num(r, col))
            .sum()
    };
    let releasable = num(&rows[a], 6);
    let absorbable = num(&rows[b], 7);
    assert!(releasable > 0.0 && absorbable > 0.0);
    assert!((units(a, b, 6) - releasable).abs() < 1e-6);
    assert!((units(b, c, 7) - absorbable).abs() < 1e-6);
    let balance: Vec<f64> = rows[c + 1..c + 6].iter().map(|r| num(r, 6)).collect();
    let moved = releasable.min(absorbable);
    assert!((balance[0] - releasable).abs() < 1e-6 && (balance[1] - absorbable).abs() < 1e-6);
    assert!((balance[2] - moved).abs() < 1e-6);
    assert!((balance[3] - (releasable - moved)).abs() < 1e-6);
    assert!((balance[4] - (absorbable - moved)).abs() < 1e-6);
    // Whoever could release is projected under 95 % at 31/1 (column 4), whoever could absorb at
    // 100 % by 31/12 with a need (column 5) above its plan (column 2).
    for r in &rows[a + 1..b] {
        if matches!(r.first(), Some(Data::Float(_))) {
            assert!(num(r, 4) < 95.0, "{r:?}");
        }
    }
    for r in &rows[b + 1..c] {
        if matches!(r.first(), Some(Data::Float(_))) {
            assert!(num(r, 4) >= 99.95 && num(r, 5) > num(r, 2), "{r:?}");
        }
    }

    // The digest (the bundled file transport) carries the same totals.
    p.run(&["once", "sample", "--as-of", "2026-10-31"])
        .expect_code(0);
    let digest = p
        .eml_files("var/outbox")
        .into_iter()
        .map(|f| crate::support::Received {
            raw: std::fs::read(f).unwrap(),
        })
        .find(|m| m.subject().contains("Tổng hợp"))
        .expect("a digest");
    let text = digest.text();
    let vi = |x: f64| {
        // 1040.149 → "1.040,149", as the digest writes tỷ đồng.
        let s = format!("{x:.3}");
        let (int, frac) = s.split_once('.').unwrap();
        let mut grouped = String::new();
        for (i, ch) in int.chars().enumerate() {
            if i > 0 && (int.len() - i) % 3 == 0 {
                grouped.push('.');
            }
            grouped.push(ch);
        }
        format!("{grouped},{frac}")
    };
    assert!(
        text.contains(&format!(
            "Có thể điều chuyển: {} tỷ đồng; có thể tiếp nhận: {} tỷ đồng.",
            vi(releasable),
            vi(absorbable)
        )),
        "{text}"
    );
    assert!(text.contains("Đề xuất điều chuyển vốn (dự thảo để lãnh đạo xem xét, quyết định)"));
    assert!(text.contains("Theo tiến độ hiện nay, dự báo đạt"), "{text}");
    // Each unit's projection in the ranked table: both closes.
    assert!(text.contains("| Dự báo 31/12 | Dự báo 31/1"), "{text}");
}

#[test]
fn a_unit_that_missed_two_milestones_in_a_row_is_escalated_naming_them() {
    let p = sample();
    let report = p
        .run(&["once", "sample", "--as-of", "2026-10-31", "--json"])
        .json();
    let units = report["units"].as_array().unwrap();
    let missed = |id: &str| {
        units.iter().find(|u| u["unit_id"] == id).unwrap()["missed_milestones"]
            .as_array()
            .map(Vec::len)
            .unwrap_or(0)
    };
    let mut escalated = 0;
    for a in report["alerts"].as_array().unwrap() {
        let id = a["unit_id"].as_str().unwrap();
        if a["to"].as_array().unwrap().is_empty() {
            continue;
        }
        // First alerts of the year: only missed milestones escalate (escalate_after = 3 alerts).
        assert_eq!(
            a["escalated"].as_bool().unwrap(),
            missed(id) >= 2,
            "{id}: {a}"
        );
        escalated += usize::from(missed(id) >= 2);
    }
    assert!(escalated > 0);
    // BQLKCN (30.9 % on 31/10) missed every milestone: its alert says which, with the rates.
    let eml = p
        .eml_files("var/outbox")
        .into_iter()
        .map(|f| crate::support::Received {
            raw: std::fs::read(f).unwrap(),
        })
        .find(|m| {
            m.header("Cc").contains("giamdoc@stc.example.gov.vn")
                && m.header("To").contains("<bqlkcn@sonla.example.gov.vn>")
        })
        .expect("BQLKCN's alert goes to the escalation recipient");
    let text = eml.text();
    assert!(
        text.contains("không đạt 3 mốc tiến độ liên tiếp: 31/03/2026"),
        "{text}"
    );
    assert!(text.contains("30/09/2026 (đạt"), "{text}");
    assert!(eml.subject().contains("[Báo cáo cấp trên]"));
}

#[test]
fn an_on_track_unit_projected_to_miss_the_year_end_is_alerted_once_when_asked_to() {
    let p = sample();
    let job = std::fs::read_to_string(p.path().join("jobs/sample.toml"))
        .unwrap()
        .replace("# alert_at_risk = true", "alert_at_risk = true");
    p.write("jobs/sample.toml", &job);
    let first = p.run_env(
        &["once", "sample", "--as-of", "2026-10-31", "--json"],
        &[("DISBMON_NOW", "2026-11-02T08:00:00+07:00")],
    );
    let report = first.json();
    let at_risk: Vec<&serde_json::Value> = report["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["reason"] == "at_risk")
        .collect();
    assert!(!at_risk.is_empty(), "{first}");
    for a in &at_risk {
        assert_eq!(a["status"], "on_track", "{a}");
    }
    // The same day again: nobody is told twice.
    let again = p.run_env(
        &["once", "sample", "--as-of", "2026-10-31", "--json"],
        &[("DISBMON_NOW", "2026-11-02T09:00:00+07:00")],
    );
    let told: Vec<_> = again.json()["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["reason"] == "at_risk")
        .cloned()
        .collect();
    assert!(told.is_empty(), "{again}");
}

#[test]
fn past_years_the_sources_no_longer_hold_come_from_the_runs_the_store_kept() {
    let p = sample();
    // The plan year follows the as-of date (31/1 closes the year before), two past years.
    let job = std::fs::read_to_string(p.path().join("jobs/sample.toml"))
        .unwrap()
        .replace("plan_year = 2026\n", "")
        .replace("years = 3 ", "years = 2 ");
    p.write("jobs/sample.toml", &job);
    let projections = |p: &Project| -> BTreeMap<String, serde_json::Value> {
        dry_report(p)["units"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| {
                (
                    u["unit_id"].as_str().unwrap().to_string(),
                    u["projection"].clone(),
                )
            })
            .collect()
    };
    // From the sources, which hold 2024 and 2025 whole.
    let from_sources = projections(&p);
    // A year of month-end runs, as a department that ran disbmon then would have.
    for year in [2024, 2025] {
        for m in 2..=13 {
            let end = if m == 13 {
                d(year + 1, 1, 31)
            } else if m == 12 {
                d(year, 12, 31)
            } else {
                d(year, m + 1, 1).pred_opt().unwrap()
            };
            p.run(&["once", "sample", "--as-of", &end.to_string()])
                .expect_code(0);
        }
    }
    // Then the sources keep 2026 only.
    let keep = |file: &str, year_col: usize| {
        let path = p.path().join("jobs/sample").join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        let kept: Vec<&str> = text
            .lines()
            .enumerate()
            .filter(|(i, l)| *i == 0 || l.split(',').nth(year_col) == Some("2026"))
            .map(|(_, l)| l)
            .collect();
        std::fs::write(&path, kept.join("\n") + "\n").unwrap();
    };
    keep("giai_ngan.csv", 3);
    keep("ke_hoach.csv", 1);
    let from_store = projections(&p);
    let mut compared = 0;
    for (unit, proj) in &from_sources {
        if proj.is_null() {
            continue;
        }
        let stored = &from_store[unit];
        assert_eq!(
            stored["years"],
            serde_json::json!([2025, 2024]),
            "{unit}: {stored}"
        );
        for close in ["dec31", "jan31"] {
            for k in ["low", "mid", "high"] {
                let (a, b) = (
                    proj[close][k].as_f64().unwrap(),
                    stored[close][k].as_f64().unwrap(),
                );
                assert!(
                    (a - b).abs() < 1e-9,
                    "{unit} {close}.{k}: sources {a}, store {b}"
                );
            }
        }
        compared += 1;
    }
    assert!(compared >= 38, "{compared}");
}

#[test]
fn the_registered_need_counts_only_the_rows_the_plan_counts() {
    let p = sample();
    let proposal = |p: &Project| dry_report(p)["reallocation"].clone();
    let plain = proposal(&p);
    let absorbs = plain["absorbs"]
        .as_array()
        .expect("units that could absorb");
    assert!(!absorbs.is_empty(), "{plain}");
    assert_eq!(
        plain["releasable"].as_i64().unwrap() - plain["movable"].as_i64().unwrap(),
        plain["unplaced"].as_i64().unwrap()
    );
    // The same plans tagged with a capital source, and for every unit with a need a row of
    // another source with a huge need: the job measures NSĐP only, so those rows count for nothing.
    let path = p.path().join("jobs/sample/ke_hoach.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        if i == 0 {
            out.push_str(&format!("{line},Nguồn vốn\n"));
            continue;
        }
        out.push_str(&format!("{line},NSĐP\n"));
        if line.starts_with(|c: char| c.is_ascii_uppercase())
            && line.contains(",2026,")
            && !line.ends_with(',')
        {
            let unit = line.split(',').next().unwrap();
            out.push_str(&format!("{unit},2026,0,999.999.999,NSTW\n"));
        }
    }
    std::fs::write(&path, out).unwrap();
    let job = std::fs::read_to_string(p.path().join("jobs/sample.toml"))
        .unwrap()
        .replace(
            "plan_year = 2026\n",
            "plan_year = 2026\ncapital_source = \"NSĐP\"\n",
        )
        .replace(
            "need = \"Nhu cầu vốn (triệu đồng)\" }",
            "need = \"Nhu cầu vốn (triệu đồng)\", capital_source = \"Nguồn vốn\" }",
        );
    p.write("jobs/sample.toml", &job);
    let tagged = proposal(&p);
    assert_eq!(tagged["absorbs"], plain["absorbs"], "{tagged}");
    assert_eq!(tagged["absorbable"], plain["absorbable"]);
}
