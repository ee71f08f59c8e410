//! The daily cube against a fresh read: random sequences of what happens to a payments log
//! between runs — rows appended, a run at a random as-of date, a row edited in the middle, the
//! successors changed — and at each step every figure from the stored cube equals a fresh read's.

use crate::config::job::{DisbursementKind, Job};
use crate::data::compute::aggregate::aggregate_all;
use crate::data::compute::query::{Aggregate, Query, Scope};
use crate::data::reuse;
use crate::domain::id::{PlanYear, UnitId};
use crate::domain::issue::Reuse;
use chrono::{Days, NaiveDate};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Row {
    day: u32,
    unit: &'static str,
    amount: i64,
    year: i32,
    capital: &'static str,
}

#[derive(Debug, Clone)]
enum Step {
    Append(Vec<Row>),
    Run,
    Edit { at: usize, amount: i64 },
    Successors,
    Bad,
}

fn row() -> impl Strategy<Value = Row> {
    (
        0u32..760,
        proptest::sample::select(&["A", "B", "C", "OLD"][..]),
        -50i64..1_000_000,
        proptest::sample::select(&[2025, 2026][..]),
        proptest::sample::select(&["NSTW", "NSĐP", ""][..]),
    )
        .prop_map(|(day, unit, amount, year, capital)| Row {
            day,
            unit,
            amount,
            year,
            capital,
        })
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => proptest::collection::vec(row(), 1..6).prop_map(Step::Append),
        3 => Just(Step::Run),
        2 => (any::<usize>(), 1i64..99_999).prop_map(|(at, amount)| Step::Edit { at, amount }),
        1 => Just(Step::Successors),
        1 => Just(Step::Bad),
    ]
}

fn day(offset: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 1, 1).unwrap() + Days::new(offset.into())
}

fn write(dir: &std::path::Path, rows: &[Row], bad: bool) {
    let mut text = String::from("ngay,dv,tien,nam,nguon\n");
    for r in rows {
        text.push_str(&format!(
            "{},{},{},{},{}\n",
            day(r.day),
            r.unit,
            r.amount,
            r.year,
            r.capital
        ));
    }
    if bad {
        text.push_str("2026-02-30,A,1,2026,NSTW\n");
    }
    std::fs::write(dir.join("paid.csv"), text).unwrap();
}

/// The job; with `labelled`, the payments' capital source is mapped (the cube then keys its
/// cells by label too, the other way of building it).
fn job(dir: &std::path::Path, successor: &str, labelled: bool) -> Job {
    let capital = if labelled {
        ", capital_source = \"nguon\""
    } else {
        ""
    };
    std::fs::write(
        dir.join("units.csv"),
        "id,name,email\nA,a,a@x.vn\nB,b,b@x.vn\nC,c,c@x.vn\n",
    )
    .unwrap();
    std::fs::write(dir.join("plans.csv"), "id,amount\nA,1\n").unwrap();
    std::fs::write(
        dir.join("job.toml"),
        format!(
            r#"schedule = "0 8 * * MON"
successors = {{ OLD = "{successor}" }}
[sources.units]
location = "units.csv"
columns = {{ unit_id = "id", unit_name = "name", email = "email" }}
[sources.plans]
location = "plans.csv"
columns = {{ unit_id = "id", amount = "amount" }}
[sources.disbursements]
location = "paid.csv"
columns = {{ unit_id = "dv", date = "ngay", amount = "tien", plan_year = "nam"{capital} }}
[rule]
milestones = [{{ date = "12-31", pct = 95 }}]
"#
        ),
    )
    .unwrap();
    crate::config::job_load::load(&dir.join("job.toml"), chrono_tz::Asia::Ho_Chi_Minh)
        .unwrap_or_else(|p| panic!("{:?}", p.list))
}

/// What a run asks of the payments as of `as_of`: this year, a year earlier, one capital
/// source, and last year's month ends.
fn queries(as_of: NaiveDate) -> Vec<Query> {
    let paid = |year: i32, start: NaiveDate, end: NaiveDate, capital: Option<&str>| Query {
        scope: Scope::Disbursements {
            year: PlanYear::new(year),
            kind: DisbursementKind::Transactions,
            start,
            end,
        },
        layer: None,
        capital_source: capital.map(str::to_string),
    };
    let d = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
    let mut q = vec![
        paid(2026, d(2026, 1, 1), as_of, None),
        paid(
            2025,
            d(2025, 1, 1),
            crate::data::measure::years_earlier(as_of, 1),
            None,
        ),
        paid(2026, d(2026, 1, 1), as_of, Some("NSTW")),
        paid(2026, d(2026, 1, 1), as_of, Some("KHÔNG CÓ")),
    ];
    for m in [3, 6, 12] {
        let end = d(2025, m, 1)
            .checked_add_months(chrono::Months::new(1))
            .unwrap()
            - Days::new(1);
        q.push(paid(2025, d(2025, 1, 1), end, None));
    }
    q.push(paid(2025, d(2025, 1, 1), d(2026, 1, 31), None));
    q
}

fn without_reuse(mut a: Vec<Aggregate>) -> Vec<Aggregate> {
    for x in &mut a {
        x.stats.sums = None;
    }
    a
}

fn pulled(dir: &std::path::Path, job: &Job) -> crate::data::source::Table {
    let clock = crate::base::clock::FixedClock(chrono::DateTime::UNIX_EPOCH);
    let clients = crate::data::source::Clients::new().unwrap();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(crate::data::source::pull(
            &job.disbursements,
            &clients,
            dir,
            None,
            &clock,
        ))
        .unwrap()
}

const KNOWN: [&str; 3] = ["A", "B", "C"];

/// The figures kept in `dir/cache` and a fresh read's, for `job`'s payments as of `as_of`.
type Both = (
    Result<Vec<Aggregate>, crate::domain::issue::DataIssue>,
    Result<Vec<Aggregate>, crate::domain::issue::DataIssue>,
);

fn kept_and_fresh(dir: &std::path::Path, job: &Job, as_of: u32) -> Both {
    let known: Vec<UnitId> = KNOWN.into_iter().map(UnitId::from).collect();
    let table = pulled(dir, job);
    let q = queries(day(as_of));
    let fresh = aggregate_all(&table, &job.disbursements, &known, &job.successors, &q);
    let kept = reuse::aggregate(
        Some(&dir.join("cache")),
        &table,
        &job.disbursements,
        &known,
        &job.successors,
        &q,
    );
    (kept, fresh)
}

/// What became of the stored sums as of `as_of`, the figures checked against a fresh read's.
fn answered(dir: &std::path::Path, job: &Job, as_of: u32) -> Option<Reuse> {
    let (kept, fresh) = kept_and_fresh(dir, job, as_of);
    let kept = kept.unwrap();
    assert_eq!(
        format!("{:?}", without_reuse(kept.clone())),
        format!("{:?}", fresh.unwrap()),
        "as of {}",
        day(as_of)
    );
    kept[0].stats.sums
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn every_step_answered_from_the_cube_equals_a_fresh_read(
        first in proptest::collection::vec(row(), 0..12),
        steps in proptest::collection::vec((step(), 300u32..760), 1..8),
        labelled in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut rows = first;
        let mut successor = "A";
        let mut bad = false;
        write(dir.path(), &rows, bad);
        for (i, (step, as_of)) in std::iter::once((Step::Run, 500)).chain(steps).enumerate() {
            let mut expect_kept = None;
            match &step {
                Step::Append(more) => {
                    rows.extend(more.iter().cloned());
                    expect_kept = (!bad).then_some(Reuse::Appended { rows: more.len() as u64 });
                }
                Step::Run => expect_kept = (!bad && i > 0).then_some(Reuse::Unchanged),
                Step::Edit { at, amount } if !rows.is_empty() => {
                    let at = at % rows.len();
                    rows[at].amount = *amount;
                }
                Step::Edit { .. } => {}
                Step::Successors => successor = if successor == "A" { "B" } else { "A" },
                Step::Bad => bad = !bad,
            }
            write(dir.path(), &rows, bad);
            let job = job(dir.path(), successor, labelled);
            let (kept, fresh) = kept_and_fresh(dir.path(), &job, as_of);
            match (fresh, kept) {
                (Ok(fresh), Ok(kept)) => {
                    let how = kept.first().and_then(|a| a.stats.sums);
                    prop_assert_eq!(
                        format!("{:?}", without_reuse(kept)),
                        format!("{:?}", fresh),
                        "step {} {:?} as of {}", i, step, day(as_of)
                    );
                    if let Some(expected) = expect_kept {
                        prop_assert_eq!(how, Some(expected), "step {} {:?}", i, step);
                    }
                }
                (Err(a), Err(b)) => prop_assert_eq!(a, b),
                (a, b) => prop_assert!(false, "fresh {:?} but kept {:?}", a, b),
            }
        }
    }
}

#[test]
fn a_damaged_or_truncated_cube_is_never_read() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let rows: Vec<Row> = (0..50)
        .map(|i| Row {
            day: 400 + i,
            unit: ["A", "B", "C"][i as usize % 3],
            amount: 1_000 + i64::from(i),
            year: 2026,
            capital: "NSTW",
        })
        .collect();
    write(dir.path(), &rows, false);
    let job = job(dir.path(), "A", false);
    assert_eq!(answered(dir.path(), &job, 700), Some(Reuse::Read));
    let file = cache.join("cube-disbursements.bin");
    let bytes = std::fs::read(&file).unwrap();
    // A byte of a sum changed, then the file cut short: each read whole (another day's queries,
    // so the stored answers do not serve), the figures a fresh read's.
    let mut damaged = bytes.clone();
    let at = damaged.len() - 20;
    damaged[at] ^= 0x40;
    for (as_of, broken) in [(701, damaged), (702, bytes[..bytes.len() / 2].to_vec())] {
        std::fs::write(&file, broken).unwrap();
        assert_eq!(answered(dir.path(), &job, as_of), Some(Reuse::Read));
    }
    // The cube rebuilt, another day is answered from it.
    assert_eq!(answered(dir.path(), &job, 703), Some(Reuse::Unchanged));
}

#[test]
fn a_day_s_rows_go_to_the_journal_and_a_stale_journal_is_never_applied() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let row = |i: u32| Row {
        day: 300 + i % 400,
        unit: ["A", "B", "C", "OLD"][i as usize % 4],
        amount: 1_000 + i64::from(i),
        year: 2026,
        capital: "NSTW",
    };
    let mut rows: Vec<Row> = (0..100).map(row).collect();
    write(dir.path(), &rows, false);
    let job = job(dir.path(), "A", false);
    let run = |as_of: u32| answered(dir.path(), &job, as_of);
    let whole = cache.join("cube-disbursements.bin");
    let journal = cache.join("cube-disbursements.more.bin");
    assert_eq!(run(600), Some(Reuse::Read));
    let cube = std::fs::read(&whole).unwrap();
    // Five rows: into the journal, the cube file as it was.
    rows.extend((100..105).map(row));
    write(dir.path(), &rows, false);
    assert_eq!(run(601), Some(Reuse::Appended { rows: 5 }));
    assert_eq!(std::fs::read(&whole).unwrap(), cube);
    assert!(journal.exists());
    assert_eq!(run(602), Some(Reuse::Unchanged));
    // Twenty more: beyond a tenth of the cube, which is written whole again.
    rows.extend((105..125).map(row));
    write(dir.path(), &rows, false);
    assert_eq!(run(603), Some(Reuse::Appended { rows: 20 }));
    assert_ne!(std::fs::read(&whole).unwrap(), cube);
    assert!(!journal.exists());
    // A journal left beside another cube (restored from a backup, say) is not applied.
    rows.push(row(125));
    write(dir.path(), &rows, false);
    assert_eq!(run(604), Some(Reuse::Appended { rows: 1 }));
    let old_journal = std::fs::read(&journal).unwrap();
    rows[3].amount += 7;
    write(dir.path(), &rows, false);
    assert_eq!(run(605), Some(Reuse::Read));
    std::fs::write(&journal, old_journal).unwrap();
    assert_eq!(run(606), Some(Reuse::Unchanged));
}

/// Running totals take each unit's latest row, so rows appended to them are not sums to add to
/// the stored answers: a run after an append gives a fresh read's figures.
#[test]
fn running_totals_with_rows_appended_are_a_fresh_read() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::write(
        dir.join("units.csv"),
        "id,name,email\nA,a,a@x.vn\nB,b,b@x.vn\n",
    )
    .unwrap();
    std::fs::write(dir.join("plans.csv"), "id,amount\nA,1000\nB,1000\n").unwrap();
    std::fs::write(
        dir.join("job.toml"),
        r#"schedule = "0 8 * * MON"
[sources.units]
location = "units.csv"
columns = { unit_id = "id", unit_name = "name", email = "email" }
[sources.plans]
location = "plans.csv"
columns = { unit_id = "id", amount = "amount" }
[sources.disbursements]
location = "cum.csv"
kind = "cumulative"
columns = { unit_id = "dv", date = "ngay", amount = "tien" }
[rule]
milestones = [{ date = "12-31", pct = 95 }]
"#,
    )
    .unwrap();
    let job = crate::config::job_load::load(&dir.join("job.toml"), chrono_tz::Asia::Ho_Chi_Minh)
        .unwrap_or_else(|p| panic!("{:?}", p.list));
    let known: Vec<UnitId> = ["A", "B"].into_iter().map(UnitId::from).collect();
    let d = |m, day| NaiveDate::from_ymd_opt(2026, m, day).unwrap();
    let q = vec![Query {
        scope: Scope::Disbursements {
            year: PlanYear::new(2026),
            kind: DisbursementKind::Cumulative,
            start: d(1, 1),
            end: d(6, 30),
        },
        layer: None,
        capital_source: None,
    }];
    let both = |dir: &std::path::Path| {
        let table = pulled(dir, &job);
        let (s, succ) = (&job.disbursements, &job.successors);
        let fresh = aggregate_all(&table, s, &known, succ, &q).unwrap();
        let kept = reuse::aggregate(Some(&dir.join("cache")), &table, s, &known, succ, &q);
        (without_reuse(kept.unwrap()), fresh)
    };
    let mut text = String::from("ngay,dv,tien\n2026-03-01,A,100\n2026-04-01,B,50\n");
    std::fs::write(dir.join("cum.csv"), &text).unwrap();
    let (kept, fresh) = both(dir);
    assert_eq!(kept, fresh);
    assert_eq!(kept[0].by_unit[&UnitId::from("A")], 100);
    // A's later running total, appended: it replaces the earlier one.
    text.push_str("2026-05-01,A,300\n");
    std::fs::write(dir.join("cum.csv"), &text).unwrap();
    let (kept, fresh) = both(dir);
    assert_eq!(fresh[0].by_unit[&UnitId::from("A")], 300);
    assert_eq!(kept, fresh);
}
