//! `disbmon report --xlsx`: the official table, read back with calamine, equals the run report.

use crate::support::Project;
use calamine::{open_workbook, Data, Reader, Xlsx};

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

#[test]
fn groups_and_capital_sources_get_their_own_sheets_with_subtotals_that_add_up() {
    let p = Project::new();
    p.copy_from_repo("config/disbmon.toml");
    p.write(
        "jobs/d/units.csv",
        "id,name,email,group\nA,Sở A,a@x.vn,Sở ngành\nB,Sở B,b@x.vn,Sở ngành\nC,Xã C,c@x.vn,Cấp xã\nD,Xã D,d@x.vn,Cấp xã\nE,Ban E,e@x.vn,\n",
    )
    .write(
        "jobs/d/plans.csv",
        "id,source,amount\nA,NSTW,100\nA,NSDP,50\nB,NSTW,80\nC,NSDP,40\nD,NSDP,60\nD,NSTW,20\nE,NSTW,10\n",
    )
    .write(
        "jobs/d/paid.csv",
        "id,date,source,amount\nA,2026-03-01,NSTW,30\nA,2026-03-02,NSDP,25\nB,2026-05-01,NSTW,70\nC,2026-06-01,NSDP,4\nD,2026-07-01,NSTW,20\nE,2026-08-01,NSTW,9\n",
    )
    .write(
        "jobs/d.toml",
        r#"schedule = "0 8 * * MON"
plan_year = 2026
rate_capital_sources = ["NSTW", "NSDP"]
[sources.units]
location = "d/units.csv"
columns = { unit_id = "id", unit_name = "name", email = "email", group = "group" }
[sources.plans]
location = "d/plans.csv"
columns = { unit_id = "id", capital_source = "source", amount = "amount" }
amount_unit = "billion"
[sources.disbursements]
location = "d/paid.csv"
columns = { unit_id = "id", date = "date", capital_source = "source", amount = "amount" }
amount_unit = "billion"
[rule]
milestones = [{ date = "12-31", pct = 95 }]
[alerts]
digest_to = ["lanhdao@stc.example.gov.vn"]
"#,
    );
    p.run(&["report", "d", "--as-of", "2026-10-31", "--xlsx", "d.xlsx"])
        .expect_code(0);
    let mut book: Xlsx<_> = open_workbook(p.path().join("d.xlsx")).expect("a workbook");
    assert_eq!(
        book.sheet_names(),
        vec!["Tổng hợp", "Theo nhóm", "Theo nguồn vốn"]
    );
    let mut cells = |name: &str| {
        let sheet = book.worksheet_range(name).unwrap();
        let (rows, cols) = sheet.get_size();
        (0..rows as u32)
            .map(|r| {
                (0..cols as u32)
                    .map(|c| match sheet.get_value((r, c)) {
                        Some(Data::Float(f)) => format!("{f}"),
                        Some(v) => v.to_string(),
                        None => String::new(),
                    })
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>()
    };
    let row = |sheet: &[Vec<String>], name: &str| {
        sheet
            .iter()
            .find(|r| r[1] == name)
            .unwrap_or_else(|| panic!("no row {name}: {sheet:?}"))
            .clone()
    };
    // By group: each section's subtotal is its members' sum; the units in no group come last.
    let groups = cells("Theo nhóm");
    assert_eq!(row(&groups, "Cấp xã")[..4], ["I", "Cấp xã", "120", "24"]);
    assert_eq!(
        row(&groups, "Sở ngành")[..4],
        ["II", "Sở ngành", "230", "125"]
    );
    assert_eq!(
        row(&groups, "Đơn vị không thuộc nhóm")[..4],
        ["III", "Đơn vị không thuộc nhóm", "10", "9"]
    );
    assert_eq!(row(&groups, "Tổng cộng")[2..4], ["360", "158"]);
    // Members ranked inside their group: B (87.5 %) before A (36.7 %).
    let at = |name: &str| groups.iter().position(|r| r[1] == name).unwrap();
    assert!(at("Sở ngành") < at("Sở B") && at("Sở B") < at("Sở A") && at("Sở A") < at("Ban E"));
    assert_eq!(row(&groups, "Sở B")[5], "1");
    // By capital source: each unit's plan and disbursement per source, and the totals.
    let sources = cells("Theo nguồn vốn");
    assert!(
        sources
            .iter()
            .any(|r| r[2] == "Nguồn vốn NSDP" && r[5] == "Nguồn vốn NSTW"),
        "{sources:?}"
    );
    assert_eq!(
        row(&sources, "Sở A")[2..8],
        ["50", "25", "50", "100", "30", "30"]
    );
    assert_eq!(
        row(&sources, "Xã D")[2..8],
        ["60", "0", "0", "20", "20", "100"]
    );
    assert_eq!(row(&sources, "Tổng cộng")[2..4], ["150", "29"]);
    assert_eq!(row(&sources, "Tổng cộng")[5..7], ["210", "129"]);
}
