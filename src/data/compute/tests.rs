//! The readers side by side: the fast and the exact one give the same figures, blocks hold whole
//! rows, a loop of parents is broken and named.

use super::exact::exact_all;
use super::query::countable;
use super::query::Aggregate;
use super::query::Has;
use super::query::Query;
use super::query::Scope;
use super::typed::fast_all;
use super::typed::typed_blocks;
use crate::config::job::DisbursementKind;
use crate::config::job::Source;
use crate::data::source::Table;
use crate::domain::id::PlanYear;
use crate::domain::money;
use chrono::NaiveDate;
use proptest::prelude::*;

/// Cells people write, valid and not, so that many generated tables are read by the fast
/// reader (every row valid) and many are not.
fn cell(pool: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        8 => proptest::sample::select(pool).prop_map(str::to_string),
        1 => any::<String>(),
    ]
}

/// Loads `dir/job.toml` and pulls one of its sources as a run would.
fn job_and_table(
    dir: &std::path::Path,
    which: fn(&crate::config::job::Job) -> &Source,
) -> (crate::config::job::Job, Table) {
    let job = crate::config::job_load::load(&dir.join("job.toml"), chrono_tz::Asia::Ho_Chi_Minh)
        .unwrap_or_else(|p| panic!("{:?}", p.list));
    let clock = crate::base::clock::FixedClock(chrono::DateTime::UNIX_EPOCH);
    let clients = crate::data::source::Clients::new().unwrap();
    let table = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(crate::data::source::pull(
            which(&job),
            &clients,
            dir,
            None,
            &clock,
        ))
        .unwrap();
    (job, table)
}

const IDS: &[&str] = &["A", "B", "OLD", "A", "B", " A", "Z", ""];
const AMOUNTS: &[&str] = &[
    "123",
    "1234567",
    "1.234.567",
    "1,234,567",
    "-5",
    "+7",
    "12,5",
    "12.5",
    "1.234,567",
    " 9",
    "(3)",
    "1e5",
    "007",
    "-0",
    "9223372036854775807",
    "1000000000000000000",
    "1000000000000000001",
    "999.999.999.999.999.999",
    "12,50",
    "1.000.000,123456789",
    "",
];
const DATES: &[&str] = &[
    "2026-03-01",
    "2025-03-01",
    "2026-10-31",
    "2026-11-01",
    "2025-10-31",
    "2025-11-01",
    "2026-3-1",
    "01/03/2026",
    "2026-13-01",
    " 2026-03-01",
    "",
];

/// Writes a job and its payments, pulls the table as a run would, and returns both readers'
/// figures for this year and a year earlier.
fn both(
    rows: &[(String, String, String)],
    format: &str,
    unit: &str,
) -> (Option<Vec<Aggregate>>, Vec<Aggregate>) {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["ngay", "dv", "tien"]).unwrap();
    for (id, amount, date) in rows {
        w.write_record([date, id, amount]).unwrap();
    }
    both_text(&w.into_inner().unwrap(), format, unit)
}

/// [`both`] on the payments file as written.
fn both_text(paid: &[u8], format: &str, unit: &str) -> (Option<Vec<Aggregate>>, Vec<Aggregate>) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("paid.csv"), paid).unwrap();
    std::fs::write(
        dir.path().join("units.csv"),
        "id,name,email\nA,a,a@x.vn\nB,b,b@x.vn\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("plans.csv"), "id,amount\nA,1\n").unwrap();
    let job = format!(
        r#"schedule = "0 8 * * MON"
plan_year = 2026
successors = {{ OLD = "A" }}
[sources.units]
location = "units.csv"
columns = {{ unit_id = "id", unit_name = "name", email = "email" }}
[sources.plans]
location = "plans.csv"
columns = {{ unit_id = "id", amount = "amount" }}
[sources.disbursements]
location = "paid.csv"
columns = {{ unit_id = "dv", date = "ngay", amount = "tien" }}
number_format = "{format}"
amount_unit = "{unit}"
[rule]
milestones = [{{ date = "12-31", pct = 95 }}]
"#
    );
    std::fs::write(dir.path().join("job.toml"), job).unwrap();
    let (job, table) = job_and_table(dir.path(), |j| &j.disbursements);
    let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
    let query = |start, end| Query {
        scope: Scope::Disbursements {
            year: PlanYear::new(2026),
            kind: DisbursementKind::Transactions,
            start,
            end,
        },
        layer: None,
        capital_source: None,
    };
    let queries = [
        query(d(2026, 1, 1), d(2026, 10, 31)),
        query(d(2025, 1, 1), d(2025, 10, 31)),
    ];
    let ids = countable(&["A".into(), "B".into()], &job.successors);
    let has = Has::of(&table);
    (
        fast_all(&table, &job.disbursements, &ids, has, &queries),
        exact_all(&table, &job.disbursements, &ids, has, &queries).unwrap(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    /// The fast reader answers only when its figures are the exact reader's.
    #[test]
    fn the_fast_reader_agrees_with_the_exact_one(
        rows in proptest::collection::vec((cell(IDS), cell(AMOUNTS), cell(DATES)), 0..8),
        format in proptest::sample::select(&["vi", "en", "plain"][..]),
        unit in proptest::sample::select(&["dong", "million"][..]),
    ) {
        let (fast, exact) = both(&rows, format, unit);
        if let Some(fast) = fast {
            prop_assert_eq!(format!("{fast:?}"), format!("{exact:?}"));
        }
    }
}

#[test]
fn blocks_hold_whole_rows_even_with_line_breaks_inside_quotes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.csv");
    let rows = "A,\"x\ny\",1\nB,\"\"\"q\"\"\n\n\",2\nC,z,3\nD,\"long\nlong\nlong\",4\n";
    std::fs::write(&path, format!("h1,\"h\n2\",h3\n{rows}")).unwrap();
    for size in [1, 2, 5, 7, 13, 64, 1000] {
        let mut blocks = Vec::new();
        typed_blocks(&path, (size, b','), |b| {
            blocks.push(String::from_utf8(b).unwrap());
            Ok(())
        })
        .unwrap();
        assert_eq!(blocks.concat(), rows, "block size {size}");
        for b in &blocks {
            assert!(
                b.ends_with('\n') && b.matches('"').count() % 2 == 0,
                "{size}: {b:?}"
            );
        }
    }
}

#[test]
fn a_loop_of_parents_is_broken_where_it_closes_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("units.csv"),
        "id,name,email,parent\nA,a,a@x.vn,C\nB,b,b@x.vn,A\nC,c,c@x.vn,B\nD,d,d@x.vn,A\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("plans.csv"), "id,amount\nA,1\n").unwrap();
    std::fs::write(
        dir.path().join("paid.csv"),
        "id,date,amount\nA,2026-01-01,1\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("job.toml"),
        r#"schedule = "0 8 * * MON"
[sources.units]
location = "units.csv"
columns = { unit_id = "id", unit_name = "name", email = "email", parent_id = "parent" }
[sources.plans]
location = "plans.csv"
columns = { unit_id = "id", amount = "amount" }
[sources.disbursements]
location = "paid.csv"
columns = { unit_id = "id", date = "date", amount = "amount" }
date_format = "%Y-%m-%d"
[rule]
milestones = [{ date = "12-31", pct = 95 }]
"#,
    )
    .unwrap();
    let (_, table) = job_and_table(dir.path(), |j| &j.units);
    let (units, issues, _, _) = super::units::units(&table, money::NumberFormat::Vi).unwrap();
    let loops: Vec<_> = issues
        .iter()
        .filter(|i| i.problem.contains("the parents loop"))
        .collect();
    assert_eq!(loops.len(), 1, "{issues:?}");
    assert_eq!(units.iter().filter(|u| u.parent_id.is_none()).count(), 1);
    let sums = crate::domain::ledger::rollups(&units, |_| [1, 0]);
    assert_eq!(sums.values().map(|v| v.0).max(), Some(4), "{sums:?}");
}

#[test]
fn clean_rows_are_read_by_the_fast_reader_with_the_exact_figures() {
    let rows = |cells: &[(&str, &str, &str)]| -> Vec<(String, String, String)> {
        cells
            .iter()
            .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
            .collect()
    };
    let vi = rows(&[
        ("A", "1.234.567", "2026-03-01"),
        ("OLD", "-5", "2026-10-31"),
        ("B", "12,5", "2025-03-01"),
        ("A", "7", "2026-11-01"),
    ]);
    let (fast, exact) = both(&vi, "vi", "million");
    let fast = fast.expect("every row is valid");
    assert_eq!(format!("{fast:?}"), format!("{exact:?}"));
    assert_eq!(fast[0].by_unit["A"], 1_234_567_000_000 - 5_000_000);
    assert_eq!(fast[1].by_unit["B"], 12_500_000);
    assert_eq!(fast[0].stats.out_of_scope, 2);
    let plain = rows(&[
        ("A", "1000000000000000000", "2026-03-01"),
        ("A", "1", "2025-01-01"),
    ]);
    let (fast, exact) = both(&plain, "plain", "dong");
    assert_eq!(format!("{fast:?}"), format!("{:?}", Some(exact)));
}

#[test]
fn blank_lines_are_skipped_and_counted_alike_by_both_readers() {
    for eol in ["\n", "\r\n"] {
        // At the end (what exports leave): the fast reader cuts them off and counts them.
        let text = [
            "ngay,dv,tien",
            "2026-03-01,A,5",
            "2026-03-02,B,7",
            "",
            " ",
            ",,",
            "",
        ]
        .join(eol);
        let (fast, exact) = both_text(text.as_bytes(), "plain", "dong");
        let fast = fast.expect("blank lines at the end do not send the fast reader away");
        assert_eq!(format!("{fast:?}"), format!("{exact:?}"));
        let s = &exact[0].stats;
        assert_eq!(
            (s.rows, s.used, s.rejected, s.blank),
            (2, 2, 0, 3),
            "{eol:?}"
        );
        // Inside the file: the exact reader reads it, with the same figures.
        let text = [
            "ngay,dv,tien",
            "2026-03-01,A,5",
            "",
            "   ",
            ",,",
            "2026-03-02,B,7",
            "",
        ]
        .join(eol);
        let (fast, exact) = both_text(text.as_bytes(), "plain", "dong");
        assert!(fast.is_none());
        let s = &exact[0].stats;
        assert_eq!(
            (s.rows, s.used, s.rejected, s.blank),
            (2, 2, 0, 3),
            "{eol:?}"
        );
        assert!(exact[0].issues.is_empty(), "{:?}", exact[0].issues);
        assert_eq!(exact[0].by_unit["A"], 5);
    }
}
