//! Hand-worked cases for the computation, through the library: files on disk → validated ledger →
//! rates, ranks and statuses. Each expected figure is worked out in the comments.

use chrono::NaiveDate;
use disbmon::app::assessment::{assess_with, Assessment};
use disbmon::config::{job, job_load};
use disbmon::domain::rates::UnitRate;
use disbmon::domain::rule::Status;
use std::path::Path;

const MILESTONES: &str = r#"
[rule]
milestones = [
  { date = "03-31", pct = 11.05 },
  { date = "06-30", pct = 50 },
  { date = "09-30", pct = 60 },
  { date = "12-31", pct = 95 },
  { date = "01-31", pct = 100 },
]
tolerance_pct = 5
critical_gap_pct = 20
"#;

struct Case {
    dir: tempfile::TempDir,
}

impl Case {
    fn new() -> Case {
        Case {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn file(&self, name: &str, text: &str) -> &Self {
        std::fs::write(self.dir.path().join(name), text).unwrap();
        self
    }

    /// Writes `job.toml` from the given sources section (plus the standard rule) and loads it.
    fn job(&self, head: &str) -> job::Job {
        let text = format!("schedule = \"0 8 * * MON\"\n{head}\n{MILESTONES}");
        let path = self.dir.path().join("job.toml");
        std::fs::write(&path, text).unwrap();
        job_load::load(&path, chrono_tz::Asia::Ho_Chi_Minh)
            .unwrap_or_else(|p| panic!("{:#?}", p.list))
    }
}

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).unwrap()
}

async fn run(job: &job::Job, as_of: NaiveDate) -> Assessment {
    // "Now" is the evening of the as-of date: nothing here depends on the real date.
    let now = as_of.and_hms_opt(12, 0, 0).unwrap().and_utc();
    let mail = disbmon::config::daemon::MailConfig::default();
    assess_with(
        job,
        &mail,
        as_of,
        None,
        &disbmon::base::clock::FixedClock(now),
    )
    .await
    .expect("the run itself does not fail")
}

fn unit<'a>(a: &'a Assessment, id: &str) -> &'a UnitRate {
    a.rates
        .as_ref()
        .expect("accepted")
        .units
        .iter()
        .find(|u| u.unit_id == id)
        .unwrap_or_else(|| panic!("no unit {id}"))
}

const UNITS: &str = "Mã ĐV,Tên đơn vị,Email\nA,Sở A,a@x.vn\nB,Sở B,b@x.vn\nC,Sở C,c@x.vn\nD,Ban D,d@x.vn\nE,Xã E,\n";

fn transactions_job(case: &Case) -> job::Job {
    case.job(
        r#"plan_year = 2026
[sources.units]
location = "units.csv"
columns = { unit_id = "Mã ĐV", unit_name = "Tên đơn vị", email = "Email" }
[sources.plans]
location = "plans.csv"
columns = { unit_id = "Mã ĐV", plan_year = "Năm", amount = "Kế hoạch (triệu đồng)" }
number_format = "vi"
amount_unit = "million"
[sources.disbursements]
location = "paid.csv"
columns = { unit_id = "Mã ĐV", date = "Ngày", amount = "Số tiền" }
date_format = "%d/%m/%Y"
number_format = "vi"
"#,
    )
}

/// Plans (million đồng): A 1.000, B 2.000, C 2.000, D 500 (+ a 2025 line that must not count),
/// E 0 (nothing allocated). Payments (đồng) up to 30/06/2026 (expected 50 %): A 600 M = 60 %, B 1.000 M = 50 %,
/// C 1.000 M = 50 % (tie with B), D nothing = 0 %.
fn transactions_case() -> Case {
    let case = Case::new();
    case.file("units.csv", UNITS)
        .file(
            "plans.csv",
            "Mã ĐV,Năm,Kế hoạch (triệu đồng)\nA,2026,\"1.000\"\nB,2026,\"1.500\"\nB,2026,500\nC,2026,\"2.000,000\"\nD,2026,500\nD,2025,\"9.999\"\nE,2026,0\n",
        )
        .file(
            "paid.csv",
            "Ngày,Mã ĐV,Số tiền\n\
             31/12/2025,A,999.000.000\n\
             15/02/2026,A,250.000.000\n\
             20/06/2026,A,350.000.000\n\
             30/06/2026,B,1.000.000.000\n\
             01/07/2026,B,777.000.000\n\
             10/03/2026,C,400.000.000\n\
             11/03/2026,C,600.000.000\n",
        );
    case
}

#[tokio::test(flavor = "multi_thread")]
async fn transactions_are_summed_in_the_window_and_ranked_with_ties() {
    let case = transactions_case();
    let a = run(&transactions_job(&case), d(2026, 6, 30)).await;
    assert!(a.issues.is_empty(), "{:#?}", a.issues);
    let rates = a.rates.as_ref().unwrap();
    assert_eq!(rates.expected_pct, 50.0);
    // Σ disbursed / Σ plan = (0.6 + 1 + 1 + 0) / (1 + 2 + 2 + 0.5) = 2.6 / 5.5.
    assert!((rates.average_pct.unwrap() - 100.0 * 2.6 / 5.5).abs() < 1e-9);

    let ua = unit(&a, "A");
    assert_eq!(
        (ua.plan, ua.disbursed),
        (1_000_000_000_000 / 1000, 600_000_000)
    );
    assert_eq!(
        (ua.rate_pct, ua.rank, ua.status, ua.shortfall),
        (Some(60.0), Some(1), Status::OnTrack, 0)
    );
    assert!(!ua.below_average);
    let ub = unit(&a, "B");
    assert_eq!(
        (ub.plan, ub.disbursed, ub.rate_pct, ub.rank),
        (2_000_000_000, 1_000_000_000, Some(50.0), Some(2))
    );
    let uc = unit(&a, "C");
    assert_eq!(
        (uc.rate_pct, uc.rank, uc.gap_pct),
        (Some(50.0), Some(2), Some(0.0))
    );
    let ud = unit(&a, "D");
    // Nothing paid: 0 %, gap 50 points ≥ 20 → critical; must still pay 50 % of 500 M.
    assert_eq!(
        (ud.disbursed, ud.rate_pct, ud.rank, ud.status),
        (0, Some(0.0), Some(4), Status::Critical)
    );
    assert_eq!(ud.shortfall, 250_000_000);
    assert!(ud.below_average);
    let ue = unit(&a, "E");
    assert_eq!(
        (ue.plan, ue.rate_pct, ue.rank, ue.status, ue.below_average),
        (0, None, None, Status::NoPlan, false)
    );
    // Ranked order, no-plan last.
    let order: Vec<&str> = rates.units.iter().map(|u| u.unit_id.as_str()).collect();
    assert_eq!(order, ["A", "B", "C", "D", "E"]);
    // Rows accounted for: 7 payments, 5 in the window, 2 outside it (2025 and after as-of).
    let paid = &a.sources[2];
    assert_eq!(
        (paid.rows, paid.used, paid.out_of_scope, paid.rejected),
        (7, 5, 2, 0)
    );
    assert_eq!((a.sources[1].used, a.sources[1].out_of_scope), (6, 1));
}

#[tokio::test(flavor = "multi_thread")]
async fn behind_between_tolerance_and_critical() {
    // On 31/10/2026 the expected rate is 60 + 35 × 31/92 = 71.793…%; B at 1.777 M of 2.000 M is
    // 88.85 % (on track), A at 600 M / 1.000 M is 60 % → gap 11.79 → behind.
    let case = transactions_case();
    let a = run(&transactions_job(&case), d(2026, 10, 31)).await;
    let ua = unit(&a, "A");
    assert_eq!(ua.status, Status::Behind);
    assert!((ua.gap_pct.unwrap() - (60.0 + 35.0 * 31.0 / 92.0 - 60.0)).abs() < 1e-9);
    // 71.793…% of 1 000 000 000 đồng, rounded up, minus 600 000 000.
    assert_eq!(ua.shortfall, 717_934_783 - 600_000_000);
    assert_eq!(unit(&a, "B").status, Status::OnTrack);
}

#[tokio::test(flavor = "multi_thread")]
async fn january_belongs_to_the_closing_plan_year() {
    let case = Case::new();
    case.file("units.csv", "Mã ĐV,Tên đơn vị,Email\nA,Sở A,a@x.vn\n")
        .file("plans.csv", "Mã ĐV,Năm,KH\nA,2026,100\nA,2027,100\n")
        .file(
            "paid.csv",
            "Ngày,Mã ĐV,Số tiền\n2026-01-02,A,10\n2026-12-30,A,80\n2027-01-20,A,5\n2027-01-25,A,5\n2027-02-01,A,50\n",
        );
    let job = case.job(
        r#"[sources.units]
location = "units.csv"
columns = { unit_id = "Mã ĐV", unit_name = "Tên đơn vị", email = "Email" }
[sources.plans]
location = "plans.csv"
columns = { unit_id = "Mã ĐV", plan_year = "Năm", amount = "KH" }
[sources.disbursements]
location = "paid.csv"
columns = { unit_id = "Mã ĐV", date = "Ngày", amount = "Số tiền" }
"#,
    );
    // No plan_year in the job: on 20/01/2027 the measured year is 2026 (its window runs to 31/01).
    let a = run(&job, d(2027, 1, 20)).await;
    assert_eq!(a.plan_year.get(), 2026);
    assert!((a.expected_pct - (95.0 + 5.0 * 20.0 / 31.0)).abs() < 1e-9);
    let u = unit(&a, "A");
    assert_eq!((u.plan, u.disbursed), (100, 95));
    // At the close, 31/01/2027: everything up to then, nothing after.
    let a = run(&job, d(2027, 1, 31)).await;
    assert_eq!((a.expected_pct, unit(&a, "A").disbursed), (100.0, 100));
    // From February the new year is measured.
    let a = run(&job, d(2027, 2, 1)).await;
    assert_eq!(a.plan_year.get(), 2027);
    assert_eq!(unit(&a, "A").disbursed, 5 + 5 + 50);
}

#[tokio::test(flavor = "multi_thread")]
async fn cumulative_takes_the_latest_total_per_project_on_or_before_as_of() {
    let case = Case::new();
    case.file("units.csv", "id,name,email\nA,Sở A,a@x.vn\nB,Sở B,b@x.vn\n")
        .file("plans.csv", "id,amount\nA,\"1,5\"\nB,1\n")
        .file(
            "cum.csv",
            "id,project,date,total\n\
             A,P1,2026-03-31,\"0,2\"\n\
             A,P1,2026-06-30,\"0,5\"\n\
             A,P2,2026-05-31,\"0,1\"\n\
             A,P1,2026-07-31,\"0,9\"\n\
             B,,2026-06-30,\"0,25\"\n\
             B,,2025-12-31,\"0,99\"\n",
        );
    let job = case.job(
        r#"plan_year = 2026
[sources.units]
location = "units.csv"
columns = { unit_id = "id", unit_name = "name", email = "email" }
[sources.plans]
location = "plans.csv"
columns = { unit_id = "id", amount = "amount" }
number_format = "vi"
amount_unit = "billion"
[sources.disbursements]
location = "cum.csv"
kind = "cumulative"
columns = { unit_id = "id", project_id = "project", date = "date", amount = "total" }
number_format = "vi"
amount_unit = "billion"
"#,
    );
    let a = run(&job, d(2026, 6, 30)).await;
    assert!(a.issues.is_empty(), "{:#?}", a.issues);
    // A: P1 0.5 (30/06) + P2 0.1 (31/05) = 0.6 tỷ of 1.5 → 40 %; the 31/07 total is after as-of.
    let ua = unit(&a, "A");
    assert_eq!((ua.plan, ua.disbursed), (1_500_000_000, 600_000_000));
    assert_eq!(ua.rate_pct, Some(40.0));
    // B: 0.25 tỷ; last year's snapshot does not count.
    assert_eq!(unit(&a, "B").disbursed, 250_000_000);
}

#[tokio::test(flavor = "multi_thread")]
async fn each_amount_unit_is_exact() {
    let case = Case::new();
    case.file(
        "units.csv",
        "id,name,email\nA,A,a@x.vn\nB,B,b@x.vn\nC,C,c@x.vn\n",
    )
    .file(
        "plans.csv",
        "id,amount\nA,\"1.234,567891\"\nB,\"0,000001\"\nC,\"999.999.999,999999\"\n",
    )
    .file(
        "paid.csv",
        "id,date,amount\nA,2026-05-01,\"1.234.567,891\"\nB,2026-05-01,1\nC,2026-05-01,\"0,001\"\n",
    );
    let job = case.job(
        r#"plan_year = 2026
[sources.units]
location = "units.csv"
columns = { unit_id = "id", unit_name = "name", email = "email" }
[sources.plans]
location = "plans.csv"
columns = { unit_id = "id", amount = "amount" }
number_format = "vi"
amount_unit = "million"
[sources.disbursements]
location = "paid.csv"
columns = { unit_id = "id", date = "date", amount = "amount" }
number_format = "vi"
amount_unit = "thousand"
"#,
    );
    let a = run(&job, d(2026, 6, 30)).await;
    assert!(a.issues.is_empty(), "{:#?}", a.issues);
    assert_eq!(
        (unit(&a, "A").plan, unit(&a, "A").disbursed),
        (1_234_567_891, 1_234_567_891)
    );
    assert_eq!(
        (
            unit(&a, "B").plan,
            unit(&a, "B").disbursed,
            unit(&a, "B").rate_pct
        ),
        (1, 1000, Some(100_000.0))
    );
    assert_eq!(
        (unit(&a, "C").plan, unit(&a, "C").disbursed),
        (999_999_999_999_999, 1)
    );
}

fn issues_text(a: &Assessment) -> String {
    a.issues
        .iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_rows_reject_the_run_and_say_where_and_why() {
    let case = transactions_case();
    case.file("units.csv", &format!("{UNITS}A,Sở A lần hai,a2@x.vn\n,Không mã,z@x.vn\nF,Sở F,not-an-address\n"))
        .file("plans.csv", "Mã ĐV,Năm,Kế hoạch (triệu đồng)\nA,2026,\"1.000\"\nB,2026,\"1,000.5\"\nZZ,2026,5\nC,năm nay,1\n")
        .file("paid.csv", "Ngày,Mã ĐV,Số tiền\n31/02/2026,A,1\n15/02/2026,A,abc\n15/02/2026,,1\n");
    let a = run(&transactions_job(&case), d(2026, 6, 30)).await;
    assert!(a.rejected());
    let text = issues_text(&a);
    for want in [
        "units: row 7: column `Mã ĐV`: value `A`: unit `A` is listed twice (first in row 2)",
        "units: row 8: column `Mã ĐV`: the unit id is empty",
        "units: row 9: column `Email`: value `not-an-address`: not an email address",
        "plans: row 3: column `Kế hoạch (triệu đồng)`: value `1,000.5`: `1,000.5` is not a number in vi",
        "plans: row 4: column `Mã ĐV`: value `ZZ`: unit `ZZ` is not in the units source",
        "plans: row 5: column `Năm`: value `năm nay`: not a year",
        "disbursements: row 2: column `Ngày`: value `31/02/2026`: `31/02/2026` is not a date written as %d/%m/%Y",
        "disbursements: row 3: column `Số tiền`: value `abc`",
        "disbursements: row 4: column `Mã ĐV`: the unit id is empty",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    assert_eq!(a.issues.len(), 9, "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn skip_leaves_bad_rows_out_and_lists_them() {
    let case = transactions_case();
    case.file(
        "paid.csv",
        "Ngày,Mã ĐV,Số tiền\n15/02/2026,A,250.000.000\n15/02/2026,A,1.2.3\n16/02/2026,GHOST,5\n",
    );
    let mut job = transactions_job(&case);
    job.disbursements.on_error = job::OnError::Skip;
    let a = run(&job, d(2026, 6, 30)).await;
    assert!(!a.rejected(), "{}", issues_text(&a));
    assert_eq!(unit(&a, "A").disbursed, 250_000_000);
    assert_eq!(a.issues.len(), 2, "{}", issues_text(&a));
    assert_eq!(a.sources[2].rejected, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn json_sources_read_the_same_as_csv() {
    let case = transactions_case();
    let csv = run(&transactions_job(&case), d(2026, 6, 30)).await;
    case.file(
        "paid.json",
        r#"[
  {"Ngày": "31/12/2025", "Mã ĐV": "A", "Số tiền": "999.000.000"},
  {"Ngày": "15/02/2026", "Mã ĐV": "A", "Số tiền": 250000000},
  {"Ngày": "20/06/2026", "Mã ĐV": "A", "Số tiền": "350.000.000"},
  {"Ngày": "30/06/2026", "Mã ĐV": "B", "Số tiền": "1.000.000.000"},
  {"Ngày": "01/07/2026", "Mã ĐV": "B", "Số tiền": "777.000.000"},
  {"Ngày": "10/03/2026", "Mã ĐV": "C", "Số tiền": "400.000.000"},
  {"Ngày": "11/03/2026", "Mã ĐV": "C", "Số tiền": "600.000.000", "Ghi chú": "thêm cột"}
]"#,
    );
    let mut job = transactions_job(&case);
    job.disbursements.location = job::Location::File(case.dir.path().join("paid.json"));
    job.disbursements.format = job::Format::Json;
    let json = run(&job, d(2026, 6, 30)).await;
    assert!(json.issues.is_empty(), "{}", issues_text(&json));
    assert_eq!(json.rates, csv.rates);
}

#[test]
fn files_are_found_relative_to_the_job() {
    let case = transactions_case();
    let job = transactions_job(&case);
    let job::Location::File(p) = &job.plans.location else {
        panic!()
    };
    assert_eq!(p.parent(), Some(Path::new(case.dir.path())));
}

/// Plans by layer and capital source with dated changes (billion đồng): A has 100 PM-assigned
/// (`ttg`, NSTW) + 50 locally assigned (`dp`, NSĐP), a 20 supplement from 15/07 and a 10 cut from
/// 15/11; B has 80 `ttg`. Payments: A 30 `ttg` and 25 `dp`; B nothing; C has no plan at all.
fn layered_case() -> Case {
    let case = Case::new();
    case.file("units.csv", "id,name,email\nA,Sở A,a@x.vn\nB,Sở B,b@x.vn\nC,Xã C,c@x.vn\n")
        .file(
            "plans.csv",
            "id,layer,source,effective,amount\n\
             A,ttg,NSTW,,100\nA,dp,NSDP,,50\nA,ttg,NSTW,2026-07-15,20\nA,ttg,NSTW,2026-11-15,-10\nB,ttg,NSTW,,80\n",
        )
        .file("paid.csv", "id,date,layer,source,amount\nA,2026-03-01,ttg,NSTW,30\nA,2026-03-02,dp,NSDP,25\n");
    case
}

fn layered_job(case: &Case, extra: &str) -> job::Job {
    case.job(&format!(
        r#"plan_year = 2026
{extra}
[sources.units]
location = "units.csv"
columns = {{ unit_id = "id", unit_name = "name", email = "email" }}
[sources.plans]
location = "plans.csv"
columns = {{ unit_id = "id", layer = "layer", capital_source = "source", effective_date = "effective", amount = "amount" }}
amount_unit = "billion"
[sources.disbursements]
location = "paid.csv"
columns = {{ unit_id = "id", date = "date", layer = "layer", capital_source = "source", amount = "amount" }}
amount_unit = "billion"
"#
    ))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_denominator_is_the_chosen_layer_in_force_on_the_as_of_date() {
    const BN: i64 = 1_000_000_000;
    let case = layered_case();
    // The PM-assigned plan: 100 + the 20 supplement (in force since 15/07); the 15/11 cut is not yet.
    let a = run(&layered_job(&case, "plan_layer = \"ttg\""), d(2026, 10, 31)).await;
    assert!(a.issues.is_empty(), "{}", issues_text(&a));
    let ua = unit(&a, "A");
    assert_eq!(
        (ua.plan, ua.disbursed, ua.rate_pct),
        (120 * BN, 30 * BN, Some(25.0))
    );
    assert_eq!(ua.plan_changed_on, Some(d(2026, 7, 15)));
    // 0 % two ways: B has a plan and nothing paid; C has nothing allocated.
    let (ub, uc) = (unit(&a, "B"), unit(&a, "C"));
    assert!(ub.nothing_paid && ub.rate_pct == Some(0.0) && ub.status == Status::Critical);
    assert!(!uc.nothing_paid && uc.status == Status::NoPlan);
    // After 15/11 the cut is in force.
    let a = run(&layered_job(&case, "plan_layer = \"ttg\""), d(2026, 11, 20)).await;
    assert_eq!(
        (unit(&a, "A").plan, unit(&a, "A").plan_changed_on),
        (110 * BN, Some(d(2026, 11, 15)))
    );
    // All layers together.
    let a = run(&layered_job(&case, ""), d(2026, 10, 31)).await;
    assert_eq!(
        (unit(&a, "A").plan, unit(&a, "A").disbursed),
        (170 * BN, 55 * BN)
    );
    // Further denominators beside the main one, each varying one thing from it.
    let a = run(
        &layered_job(
            &case,
            "plan_layer = \"ttg\"\nrate_layers = [\"dp\"]\nrate_capital_sources = [\"NSTW\"]",
        ),
        d(2026, 10, 31),
    )
    .await;
    let ua = unit(&a, "A");
    assert_eq!(ua.rate_pct, Some(25.0));
    assert_eq!(ua.other_rates.get("layer:dp"), Some(&Some(50.0)));
    assert_eq!(ua.other_rates.get("capital_source:NSTW"), Some(&Some(25.0)));
    assert_eq!(unit(&a, "C").other_rates.get("layer:dp"), Some(&None));
    // One capital source: the local budget only.
    let a = run(
        &layered_job(&case, "capital_source = \"NSDP\""),
        d(2026, 10, 31),
    )
    .await;
    assert_eq!(
        (
            unit(&a, "A").plan,
            unit(&a, "A").disbursed,
            unit(&a, "A").rate_pct
        ),
        (50 * BN, 25 * BN, Some(50.0))
    );
    assert_eq!(unit(&a, "B").status, Status::NoPlan);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_effective_date_is_a_data_issue() {
    let case = layered_case();
    case.file(
        "plans.csv",
        "id,layer,source,effective,amount\nA,ttg,NSTW,15/07/2026,20\n",
    );
    let a = run(&layered_job(&case, ""), d(2026, 10, 31)).await;
    assert!(a.rejected());
    assert!(issues_text(&a).contains("plans: row 2: column `effective`: value `15/07/2026`: `15/07/2026` is not a date written as %Y-%m-%d"), "{}", issues_text(&a));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_merged_unit_counts_for_its_successor() {
    // After the July 2025 merger, district H-ML's plan and payments belong to commune X-ML.
    let case = Case::new();
    case.file(
        "units.csv",
        "id,name,email\nX-ML,UBND xã Mường La,ml@x.vn\n",
    )
    .file("plans.csv", "id,amount\nH-ML,100\nX-ML,50\n")
    .file(
        "paid.csv",
        "id,date,amount\nH-ML,2026-03-01,30\nX-ML,2026-08-01,15\nH-OLD,2026-08-02,5\n",
    );
    let job = |extra: &str| {
        case.job(&format!(
            r#"plan_year = 2026
{extra}
[sources.units]
location = "units.csv"
columns = {{ unit_id = "id", unit_name = "name", email = "email" }}
[sources.plans]
location = "plans.csv"
columns = {{ unit_id = "id", amount = "amount" }}
[sources.disbursements]
location = "paid.csv"
columns = {{ unit_id = "id", date = "date", amount = "amount" }}
"#
        ))
    };
    // Without the mapping the old ids are unknown units.
    assert!(run(&job(""), d(2026, 10, 31)).await.rejected());
    // A chain of successors is followed: H-OLD → H-ML → X-ML.
    let a = run(
        &job("successors = { \"H-ML\" = \"X-ML\", \"H-OLD\" = \"H-ML\" }"),
        d(2026, 10, 31),
    )
    .await;
    assert!(a.issues.is_empty(), "{}", issues_text(&a));
    let u = unit(&a, "X-ML");
    assert_eq!((u.plan, u.disbursed), (150, 50));
}

#[tokio::test(flavor = "multi_thread")]
async fn peer_groups_rank_and_average_within_themselves_and_the_hierarchy_rolls_up() {
    // Province P with two boards under it; two communes in working group "TCT1", one in "TCT2".
    let case = Case::new();
    case.file(
        "units.csv",
        "id,name,email,parent,group\nP,Tỉnh,p@x.vn,,\nB1,Ban 1,b1@x.vn,P,\nB2,Ban 2,b2@x.vn,P,\nX1,Xã 1,x1@x.vn,,TCT1\nX2,Xã 2,x2@x.vn,,TCT1\nX3,Xã 3,x3@x.vn,,TCT2\n",
    )
    .file("plans.csv", "id,amount\nP,100\nB1,100\nB2,300\nX1,100\nX2,100\nX3,100\n")
    .file("paid.csv", "id,date,amount\nP,2026-05-01,10\nB1,2026-05-01,80\nB2,2026-05-01,60\nX1,2026-05-01,50\nX2,2026-05-01,30\nX3,2026-05-01,90\n");
    let job = case.job(
        r#"plan_year = 2026
[sources.units]
location = "units.csv"
columns = { unit_id = "id", unit_name = "name", email = "email", parent_id = "parent", group = "group" }
[sources.plans]
location = "plans.csv"
columns = { unit_id = "id", amount = "amount" }
[sources.disbursements]
location = "paid.csv"
columns = { unit_id = "id", date = "date", amount = "amount" }
"#,
    );
    let a = run(&job, d(2026, 6, 30)).await;
    assert!(a.issues.is_empty(), "{}", issues_text(&a));
    let rates = a.rates.as_ref().unwrap();
    // Siblings under P: B1 80 %, B2 20 %; their average is 140/400 = 35 %.
    let (b1, b2) = (unit(&a, "B1"), unit(&a, "B2"));
    assert_eq!(
        (b1.group.as_deref(), b1.group_rank, b2.group_rank),
        (Some("under P"), Some(1), Some(2))
    );
    assert_eq!(b1.group_average_pct, Some(35.0));
    assert!(!b1.below_group_average && b2.below_group_average);
    // Working group TCT1: X1 50 %, X2 30 %, average 40 %: 1 of 2 at or above it.
    let tct1 = rates.groups.iter().find(|g| g.group == "TCT1").unwrap();
    assert_eq!(
        (tct1.units, tct1.at_or_above_average, tct1.average_pct),
        (2, 1, Some(40.0))
    );
    assert_eq!(unit(&a, "X3").group_rank, Some(1));
    // P rolls up itself and both boards: 150 of 500 = 30 %.
    let p = rates.rollups.iter().find(|r| r.unit_id == "P").unwrap();
    assert_eq!(
        (p.plan, p.disbursed, p.units, p.rate_pct),
        (500, 150, 3, Some(30.0))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn each_unit_is_compared_with_its_own_rate_a_year_earlier() {
    let case = Case::new();
    case.file("units.csv", "id,name,email\nA,Sở A,a@x.vn\nB,Sở B,b@x.vn\nC,Sở C,c@x.vn\n")
        .file("plans.csv", "id,year,amount\nA,2025,100\nA,2026,100\nB,2025,200\nB,2026,100\nC,2026,100\n")
        .file(
            "paid.csv",
            // Last year by 30/06/2025: A 60 %, B 25 %; after that date nothing counts for the comparison.
            "id,date,amount\nA,2025-05-01,60\nA,2025-07-01,30\nB,2025-06-30,50\nA,2026-05-01,40\nB,2026-05-01,40\nC,2026-05-01,10\n",
        );
    let job = case.job(
        r#"[sources.units]
location = "units.csv"
columns = { unit_id = "id", unit_name = "name", email = "email" }
[sources.plans]
location = "plans.csv"
columns = { unit_id = "id", plan_year = "year", amount = "amount" }
[sources.disbursements]
location = "paid.csv"
columns = { unit_id = "id", date = "date", amount = "amount" }
"#,
    );
    let a = run(&job, d(2026, 6, 30)).await;
    assert!(a.issues.is_empty(), "{}", issues_text(&a));
    let (ua, ub, uc) = (unit(&a, "A"), unit(&a, "B"), unit(&a, "C"));
    assert_eq!(
        (ua.rate_pct, ua.rate_last_year, ua.worse_than_last_year),
        (Some(40.0), Some(60.0), true)
    );
    assert_eq!(
        (ub.rate_pct, ub.rate_last_year, ub.worse_than_last_year),
        (Some(40.0), Some(25.0), false)
    );
    // No plan last year: nothing to compare with.
    assert_eq!((uc.rate_last_year, uc.worse_than_last_year), (None, false));
}

#[tokio::test(flavor = "multi_thread")]
async fn json_records_can_sit_inside_the_document() {
    let case = transactions_case();
    let csv = run(&transactions_job(&case), d(2026, 6, 30)).await;
    case.file(
        "paid.json",
        r#"{"status": "ok", "data": {"count": 3, "items": [
  {"Ngày": "15/02/2026", "Mã ĐV": "A", "Số tiền": "250.000.000"},
  {"Ngày": "20/06/2026", "Mã ĐV": "A", "Số tiền": "350.000.000"},
  {"Ngày": "30/06/2026", "Mã ĐV": "B", "Số tiền": "1.000.000.000"},
  {"Ngày": "10/03/2026", "Mã ĐV": "C", "Số tiền": "1.000.000.000"}
]}}"#,
    );
    let mut job = transactions_job(&case);
    job.disbursements.location = job::Location::File(case.dir.path().join("paid.json"));
    job.disbursements.format = job::Format::Json;
    job.disbursements.records = Some("data.items".into());
    let a = run(&job, d(2026, 6, 30)).await;
    assert!(a.issues.is_empty(), "{}", issues_text(&a));
    assert_eq!(
        a.rates.as_ref().unwrap().units,
        csv.rates.as_ref().unwrap().units
    );
    // A wrong path says which key is missing.
    job.disbursements.records = Some("data.rows".into());
    let a = run(&job, d(2026, 6, 30)).await;
    assert!(
        issues_text(&a).contains("has no `rows` on the path `data.rows`"),
        "{}",
        issues_text(&a)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn projects_are_summed_per_unit_and_the_slowest_come_first() {
    const BN: i64 = 1_000_000_000;
    // A's old id A0 now counts for A (successors); its project P2 adds to A's P2.
    let case = Case::new();
    case.file("units.csv", "id,name,email\nA,Sở A,a@x.vn\nB,Sở B,b@x.vn\n")
        .file(
            "plans.csv",
            "id,project,amount\nA,P1,100\nA,P2,50\nA0,P2,50\nA,P3,40\nA,P4,0\nB,Q1,80\n",
        )
        .file(
            "paid.csv",
            "id,date,project,amount\nA,2026-03-01,P1,90\nA,2026-03-02,P2,10\nA0,2026-03-03,P2,10\nA,2026-04-01,P3,4\nB,2026-05-01,Q1,8\nA,2027-03-01,P3,40\n",
        );
    let job = case.job(
        r#"plan_year = 2026
successors = { A0 = "A" }
[sources.units]
location = "units.csv"
columns = { unit_id = "id", unit_name = "name", email = "email" }
[sources.plans]
location = "plans.csv"
columns = { unit_id = "id", project_id = "project", amount = "amount" }
amount_unit = "billion"
[sources.disbursements]
location = "paid.csv"
columns = { unit_id = "id", date = "date", project_id = "project", amount = "amount" }
amount_unit = "billion"
"#,
    );
    let a = run(&job, d(2026, 10, 31)).await;
    assert!(a.issues.is_empty(), "{}", issues_text(&a));
    let p = &a.ledger.projects;
    assert_eq!(
        p.get(&("A".into(), "P2".into())),
        Some(&(100 * BN, 20 * BN))
    );
    // 2027's payment is outside the window: P3 stays at 4 of 40.
    assert_eq!(p.get(&("A".into(), "P3".into())), Some(&(40 * BN, 4 * BN)));
    assert_eq!(
        a.ledger.slowest_projects("A", 5),
        vec![
            ("P3".to_string(), 40 * BN, 4 * BN),
            ("P2".to_string(), 100 * BN, 20 * BN),
            ("P1".to_string(), 100 * BN, 90 * BN),
        ],
        "10 % before 20 % before 90 %; a project without a plan is not ranked"
    );
    assert_eq!(a.ledger.slowest_projects("A", 1).len(), 1);
    // The projects add up to the unit.
    let ua = unit(&a, "A");
    assert_eq!((ua.plan, ua.disbursed), (240 * BN, 114 * BN));
}
