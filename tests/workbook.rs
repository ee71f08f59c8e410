//! `disbmon report --xlsx`: the official table, read back with calamine, equals the run report.

mod support;

use calamine::{open_workbook, Data, Reader, Xlsx};
use support::Project;

#[test]
fn the_workbook_holds_every_unit_with_the_run_reports_figures() {
    let p = Project::new();
    p.copy_from_repo("config/disbmon.toml")
        .copy_from_repo("jobs/sample.toml")
        .copy_from_repo("jobs/sample");
    let wrote = p.run(&[
        "report",
        "sample",
        "--as-of",
        "2026-10-31",
        "--xlsx",
        "bang.xlsx",
    ]);
    wrote.expect_code(0).expect_stdout("bang.xlsx");
    let run = p.run(&[
        "once",
        "sample",
        "--as-of",
        "2026-10-31",
        "--dry-run",
        "--json",
    ]);
    let report = run.json();
    let units = report["units"].as_array().expect("units in the report");

    let mut book: Xlsx<_> = open_workbook(p.path().join("bang.xlsx")).expect("a workbook");
    assert_eq!(book.sheet_names()[0], "Tổng hợp");
    let sheet = book.worksheet_range("Tổng hợp").unwrap();
    let text = |r: u32, c: u32| {
        sheet
            .get_value((r, c))
            .map(|v| v.to_string())
            .unwrap_or_default()
    };
    let number = |r: u32, c: u32| match sheet.get_value((r, c)) {
        Some(Data::Float(f)) => Some(*f),
        Some(Data::Int(i)) => Some(*i as f64),
        _ => None,
    };
    assert!(
        text(0, 0).contains("NĂM 2026") && text(0, 0).contains("31/10/2026"),
        "{}",
        text(0, 0)
    );
    assert_eq!(text(3, 1), "Đơn vị");
    let dong = |tỷ: Option<f64>| tỷ.map(|t| (t * 1e9).round() as i64);
    for u in units {
        let name = u["unit_name"].as_str().unwrap();
        let found = (4..4 + units.len() as u32)
            .find(|r| text(*r, 1) == name)
            .unwrap_or_else(|| panic!("{name} is not in the sheet"));
        assert_eq!(dong(number(found, 2)), u["plan"].as_i64(), "{name}: plan");
        assert_eq!(
            dong(number(found, 3)),
            u["disbursed"].as_i64(),
            "{name}: disbursed"
        );
        assert_eq!(
            number(found, 7).map(|r| r as u64),
            u["rank"].as_u64(),
            "{name}: rank"
        );
        if let Some(rate) = u["rate_pct"].as_f64() {
            assert!(
                (number(found, 4).unwrap() - rate).abs() < 1e-9,
                "{name}: rate"
            );
        }
    }
    let total = 4 + units.len() as u32;
    assert_eq!(text(total, 1), "Tổng cộng");
    let plans: i64 = units.iter().map(|u| u["plan"].as_i64().unwrap()).sum();
    assert_eq!(dong(number(total, 2)), Some(plans));
}
