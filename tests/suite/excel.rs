//! Excel sources in the shapes real exports have, built here with rust_xlsxwriter: title rows, a
//! two-row header with merged cells, an STT numbering row, group sub-headings, total rows, numbers
//! stored as text in Vietnamese style, numeric cells, date serials and text dates. Each must read to
//! the same figures as the equivalent CSV.

use crate::support::fixtures::{JOB, PAID, PLANS, UNITS};
use crate::support::Project;
use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};

enum Cell {
    Text(&'static str),
    Number(f64),
    Date(u16, u8, u8),
    Serial(u16, u8, u8),
}

fn serial(y: u16, m: u8, d: u8) -> f64 {
    let day = chrono::NaiveDate::from_ymd_opt(y.into(), m.into(), d.into()).unwrap();
    (day - chrono::NaiveDate::from_ymd_opt(1899, 12, 30).unwrap()).num_days() as f64
}

/// The payments of `fixtures::PAID`, laid out as a Treasury export; `bad` replaces one amount.
fn workbook(path: &std::path::Path, bad_amount: Option<&'static str>) {
    let mut book = Workbook::new();
    let ws = book.add_worksheet();
    ws.set_name("Giải ngân").unwrap();
    let plain = Format::new();
    let date = Format::new().set_num_format("dd/mm/yyyy");
    ws.merge_range(
        0,
        0,
        0,
        4,
        "BÁO CÁO TÌNH HÌNH GIẢI NGÂN VỐN ĐẦU TƯ CÔNG NĂM 2026",
        &plain,
    )
    .unwrap();
    ws.write_string(1, 0, "Số liệu đến ngày 31/10/2026")
        .unwrap();
    // A two-row header: three headings merged down, "Giải ngân" merged across two columns.
    ws.merge_range(2, 0, 3, 0, "STT", &plain).unwrap();
    ws.merge_range(2, 1, 3, 1, "Mã ĐV", &plain).unwrap();
    ws.merge_range(2, 2, 3, 2, "Đơn vị", &plain).unwrap();
    ws.merge_range(2, 3, 2, 4, "Giải ngân", &plain).unwrap();
    ws.write_string(3, 3, "Ngày").unwrap();
    ws.write_string(3, 4, "Số tiền (đồng)").unwrap();
    for (c, n) in ["1", "2", "3", "4", "5"].iter().enumerate() {
        ws.write_string(4, c as u16, *n).unwrap();
    }
    use Cell::*;
    let rows: Vec<Vec<Cell>> = vec![
        vec![Text("I. Các sở, ban, ngành")],
        vec![
            Text("1"),
            Text("SYT"),
            Text("Sở Y tế"),
            Serial(2026, 6, 1),
            Text("60.000.000.000"),
        ],
        vec![
            Text("2"),
            Text("XMT"),
            Text("UBND xã Mường Tè & Pa Ủ"),
            Text("02/07/2026"),
            Number(16_000_000_000.0),
        ],
        vec![
            Text("Cộng I"),
            Text(""),
            Text(""),
            Text(""),
            Text("76.000.000.000"),
        ],
        vec![Text("II. Các ban quản lý dự án")],
        vec![
            Text("3"),
            Text("BQLGT"),
            Text("Ban QLDA Giao thông"),
            Text("15/03/2026"),
            Text(bad_amount.unwrap_or("138.000.000.000")),
        ],
        vec![
            Text("4"),
            Text("BQLGT"),
            Text("Ban QLDA Giao thông"),
            Date(2026, 9, 20),
            Number(300_000_000_000.0),
        ],
        vec![
            Text("5"),
            Text("BQLGT"),
            Text("Ban QLDA Giao thông"),
            Date(2026, 11, 5),
            Text("50.000.000.000"),
        ],
        vec![
            Text("6"),
            Text("SNN"),
            Text("Sở Nông nghiệp và Môi trường"),
            Text("30/10/2026"),
            Text("100.000.000.000"),
        ],
        vec![
            Text("Tổng cộng"),
            Text(""),
            Text(""),
            Text(""),
            Number(664_000_000_000.0),
        ],
    ];
    for (i, row) in rows.iter().enumerate() {
        let r = 5 + i as u32;
        if row.len() == 1 {
            // A group heading merged across the row.
            if let Text(t) = row[0] {
                ws.merge_range(r, 0, r, 4, t, &plain).unwrap();
            }
            continue;
        }
        for (c, cell) in row.iter().enumerate() {
            let c = c as u16;
            match cell {
                Text("") => {}
                Text(t) => {
                    ws.write_string(r, c, *t).unwrap();
                }
                Number(n) => {
                    ws.write_number(r, c, *n).unwrap();
                }
                Date(y, m, d) => {
                    ws.write_datetime_with_format(
                        r,
                        c,
                        ExcelDateTime::from_ymd(*y, *m, *d).unwrap(),
                        &date,
                    )
                    .unwrap();
                }
                Serial(y, m, d) => {
                    ws.write_number(r, c, serial(*y, *m, *d)).unwrap();
                }
            }
        }
    }
    book.save(path).unwrap();
}

fn project(xlsx: bool) -> Project {
    let p = Project::new();
    p.write(
        "config/disbmon.toml",
        "jobs_dir = \"../jobs\"\nstate_dir = \"../var\"\n[admin]\nlisten = \"off\"\n",
    )
    .write("jobs/don_vi.csv", UNITS)
    .write("jobs/ke_hoach.csv", PLANS)
    .write("jobs/giai_ngan.csv", PAID);
    let mut job = JOB
        .replace("http://127.0.0.1:8000/don_vi.csv", "don_vi.csv")
        .replace("http://127.0.0.1:8000/giai_ngan.csv", "giai_ngan.csv");
    if xlsx {
        job = job
            .replace(
                "location = \"giai_ngan.csv\"",
                "location = \"giai_ngan.xlsx\"\nsheet = \"Giải ngân\"",
            )
            .replace(
                "date = \"Ngày\", amount = \"Số tiền (đồng)\"",
                "date = \"Giải ngân Ngày\", amount = \"Giải ngân Số tiền (đồng)\"",
            );
    }
    p.write("jobs/weekly.toml", &job);
    p
}

#[test]
fn a_treasury_style_sheet_reads_to_the_same_figures_as_the_csv() {
    let csv = project(false);
    let csv_run = csv.run(&[
        "once",
        "weekly",
        "--as-of",
        "2026-10-31",
        "--dry-run",
        "--json",
    ]);
    csv_run.expect_code(0);
    let xlsx = project(true);
    workbook(&xlsx.path().join("jobs/giai_ngan.xlsx"), None);
    let run = xlsx.run(&[
        "once",
        "weekly",
        "--as-of",
        "2026-10-31",
        "--dry-run",
        "--json",
    ]);
    run.expect_code(0);
    let (a, b) = (csv_run.json(), run.json());
    assert_eq!(a["units"], b["units"], "{run}");
    assert_eq!(a["average_pct"], b["average_pct"]);
    let paid = &b["sources"][2];
    // 6 data rows; the numbering row, two headings, a sub-total and the total are not data.
    assert_eq!(
        (
            paid["rows"].as_u64(),
            paid["used"].as_u64(),
            paid["not_data"].as_u64()
        ),
        (Some(6), Some(5), Some(5)),
        "{run}"
    );
}

#[test]
fn a_bad_cell_is_reported_with_sheet_and_worksheet_row() {
    let p = project(true);
    workbook(
        &p.path().join("jobs/giai_ngan.xlsx"),
        Some("138.000,000.000"),
    );
    let run = p.run(&["once", "weekly", "--as-of", "2026-10-31", "--json"]);
    run.expect_code(4).expect_stderr(
        "disbursements: sheet `Giải ngân`: row 11: column `Giải ngân Số tiền (đồng)`: value `138.000,000.000`",
    );
    // A sheet that is not there, and a header that is not found, say so.
    let job = std::fs::read_to_string(p.path().join("jobs/weekly.toml")).unwrap();
    p.write(
        "jobs/weekly.toml",
        &job.replace("sheet = \"Giải ngân\"", "sheet = \"Kế hoạch\""),
    );
    p.run(&["once", "weekly", "--as-of", "2026-10-31"])
        .expect_code(4)
        .expect_stderr("has no sheet")
        .expect_stderr("Giải ngân");
    p.write(
        "jobs/weekly.toml",
        &job.replace("Giải ngân Ngày", "Ngày thanh toán"),
    );
    p.run(&["once", "weekly", "--as-of", "2026-10-31"])
        .expect_code(4)
        .expect_stderr("has no header row with the columns")
        .expect_stderr("`Ngày thanh toán`");
}
