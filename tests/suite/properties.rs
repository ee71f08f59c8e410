//! Property tests: arbitrary text and bytes fed to the parsers (money, numbers, dates, addresses,
//! the text cleaners, answer-link tokens) and to the real CSV, JSON and Excel readers and the
//! answers source's reader. Any of them may refuse what it
//! is given; none may panic, and what they accept stays within bounds. Case counts are small, so
//! that CI stays fast; `PROPTEST_CASES` raises them for a longer hunt.

use disbmon::domain::money::{parse_dong, AmountUnit, NumberFormat, MAX_DONG};
use proptest::prelude::*;
use std::path::Path;

fn cases(n: u32) -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(n),
        // Failures are reported with their input; no files are written into the repository.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

const FORMATS: [NumberFormat; 3] = [NumberFormat::Vi, NumberFormat::En, NumberFormat::Plain];
const UNITS: [AmountUnit; 4] = [
    AmountUnit::Dong,
    AmountUnit::Thousand,
    AmountUnit::Million,
    AmountUnit::Billion,
];

/// Text that looks like numbers more often than chance would make it.
fn numberish() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[-+( ]?[0-9.,]{0,30}[) ]?",
        "[0-9]{1,25}",
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>().prop_map(|f| f.to_string()),
    ]
}

proptest! {
    #![proptest_config(cases(2_000))]

    #[test]
    fn amounts_parse_or_refuse_and_never_exceed_the_bound(text in numberish(), f in 0..3usize, u in 0..4usize) {
        if let Ok(v) = parse_dong(&text, FORMATS[f], UNITS[u]) {
            prop_assert!(v.unsigned_abs() <= MAX_DONG as u64, "{text:?} → {v}");
        }
    }

    #[test]
    fn published_rates_parse_or_refuse(text in numberish(), vi in any::<bool>()) {
        let _ = disbmon::domain::ledger::Published::parse(&text, vi);
    }

    #[test]
    fn excel_date_serials_convert_or_refuse(serial in any::<f64>(), format in "(%[a-zA-Z%:.0-9+-]|[ /.-]){0,8}") {
        if let Some(text) = disbmon::data::source::excel_date(serial, &format) {
            prop_assert!(text.len() < 1_000);
        }
    }

    #[test]
    fn cleaned_text_holds_no_control_characters(text in any::<String>()) {
        let line = disbmon::base::text::one_line(&text);
        prop_assert!(!disbmon::base::text::has_unsafe(&line));
        prop_assert!(!disbmon::base::text::escape(&text).chars().any(|c| c.is_control()));
        let _ = disbmon::base::text::truncate(&text, 7);
        let _ = disbmon::base::text::redact_url(&text);
        let _ = disbmon::domain::address::parse_list(&text, &text);
    }
}

/// A job reading `units.csv`, `plans.*` and `paid.*` in `dir`, with every column mapped.
fn job(dir: &Path, plans: &str, paid: &str) -> disbmon::config::job::Job {
    let text = format!(
        r#"schedule = "0 8 * * MON"
plan_year = 2026
[sources.units]
location = "units.csv"
columns = {{ unit_id = "id", unit_name = "name", email = "email" }}
[sources.plans]
location = "{plans}"
columns = {{ unit_id = "id", amount = "plan" }}
number_format = "vi"
[sources.disbursements]
location = "{paid}"
columns = {{ unit_id = "id", date = "date", amount = "amount" }}
date_format = "%d/%m/%Y"
number_format = "vi"
[rule]
milestones = [{{ date = "12-31", pct = 95 }}]
"#
    );
    std::fs::write(dir.join("job.toml"), text).unwrap();
    std::fs::write(
        dir.join("units.csv"),
        "id,name,email\nA,Đơn vị A,a@x.gov.vn\nB,Đơn vị B,b@x.gov.vn\n",
    )
    .unwrap();
    disbmon::config::job_load::load(&dir.join("job.toml"), chrono_tz::Asia::Ho_Chi_Minh)
        .unwrap_or_else(|p| panic!("{:?}", p.list))
}

/// Runs the real readers and the figures over the job's files: any outcome but a panic.
fn assess(job: &disbmon::config::job::Job) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let as_of = chrono::NaiveDate::from_ymd_opt(2026, 10, 31).unwrap();
    let now = disbmon::base::clock::FixedClock(as_of.and_hms_opt(12, 0, 0).unwrap().and_utc());
    let mail = disbmon::config::daemon::MailConfig::default();
    let a = runtime
        .block_on(disbmon::app::assessment::assess_with(
            job, &mail, as_of, None, &now,
        ))
        .expect("bad data is a data issue, not a failed run");
    if let Some(rates) = &a.rates {
        for u in &rates.units {
            assert!(u.plan.unsigned_abs() <= MAX_DONG as u64);
            assert!(u.disbursed.unsigned_abs() <= MAX_DONG as u64);
        }
    }
}

/// A cell of a generated table: text, a number written various ways, or something odd.
fn cell() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-B]",
        numberish(),
        "[0-3][0-9]/[01][0-9]/(19|20|99)[0-9][0-9]",
        any::<String>(),
        Just(String::new()),
    ]
}

proptest! {
    #![proptest_config(cases(24))]

    #[test]
    fn csv_sources_of_arbitrary_bytes_are_read_or_refused(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("plans.csv"), b"id,plan\nA,1\n").unwrap();
        let mut paid = b"date,id,amount\n".to_vec();
        paid.extend(&bytes);
        std::fs::write(dir.path().join("paid.csv"), paid).unwrap();
        assess(&job(dir.path(), "plans.csv", "paid.csv"));
    }

    #[test]
    fn csv_sources_of_arbitrary_cells_are_read_or_refused(rows in proptest::collection::vec((cell(), cell(), cell()), 0..30)) {
        let dir = tempfile::tempdir().unwrap();
        let mut plans = csv::Writer::from_path(dir.path().join("plans.csv")).unwrap();
        let mut paid = csv::Writer::from_path(dir.path().join("paid.csv")).unwrap();
        plans.write_record(["id", "plan"]).unwrap();
        paid.write_record(["date", "id", "amount"]).unwrap();
        for (a, b, c) in &rows {
            plans.write_record([a, c]).unwrap();
            paid.write_record([b, a, c]).unwrap();
        }
        plans.flush().unwrap();
        paid.flush().unwrap();
        drop((plans, paid));
        assess(&job(dir.path(), "plans.csv", "paid.csv"));
    }

    #[test]
    fn json_sources_of_arbitrary_values_are_read_or_refused(records in proptest::collection::vec(
        prop_oneof![
            (cell(), cell(), cell()).prop_map(|(d, i, a)| serde_json::json!({"date": d, "id": i, "amount": a})),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<String>().prop_map(|k| serde_json::json!({ k: [1, {"x": null}] })),
            Just(serde_json::Value::Null),
        ], 0..30)) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("plans.csv"), b"id,plan\nA,1\n").unwrap();
        std::fs::write(dir.path().join("paid.json"), serde_json::Value::Array(records).to_string()).unwrap();
        assess(&job(dir.path(), "plans.csv", "paid.json"));
    }

    #[test]
    fn excel_sources_of_arbitrary_cells_are_read_or_refused(cells in proptest::collection::vec(
        (0u32..60, 0u16..6, prop_oneof![
            cell().prop_map(Err),
            prop_oneof![any::<f64>(), Just(1e12), Just(-1e300), Just(f64::NAN), Just(46_000.5)].prop_map(Ok),
        ]), 0..40), dated in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        let mut book = rust_xlsxwriter::Workbook::new();
        let ws = book.add_worksheet();
        let date = rust_xlsxwriter::Format::new().set_num_format("dd/mm/yyyy");
        for (c, h) in ["date", "id", "amount"].iter().enumerate() {
            ws.write_string(0, c as u16, *h).unwrap();
        }
        for (r, c, v) in &cells {
            match v {
                Err(text) => { let _ = ws.write_string(r + 1, *c, text); }
                Ok(f) if dated => { let _ = ws.write_number_with_format(r + 1, *c, *f, &date); }
                Ok(f) => { let _ = ws.write_number(r + 1, *c, *f); }
            }
        }
        book.save(dir.path().join("paid.xlsx")).unwrap();
        std::fs::write(dir.path().join("plans.csv"), b"id,plan\nA,1\n").unwrap();
        assess(&job(dir.path(), "plans.csv", "paid.xlsx"));
    }

    #[test]
    fn excel_files_with_damaged_bytes_are_refused_not_crashed(damage in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let dir = tempfile::tempdir().unwrap();
        let mut book = rust_xlsxwriter::Workbook::new();
        let ws = book.add_worksheet();
        for (r, row) in [["date", "id", "amount"], ["01/06/2026", "A", "1.000"]].iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                ws.write_string(r as u32, c as u16, *v).unwrap();
            }
        }
        let mut bytes = book.save_to_buffer().unwrap();
        for (at, b) in &damage {
            let i = at.index(bytes.len());
            bytes[i] = *b;
        }
        std::fs::write(dir.path().join("paid.xlsx"), bytes).unwrap();
        std::fs::write(dir.path().join("plans.csv"), b"id,plan\nA,1\n").unwrap();
        assess(&job(dir.path(), "plans.csv", "paid.xlsx"));
    }
}

/// A signer with a config's answers key, as the daemon makes it.
fn signer() -> disbmon::domain::link::Signer {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("disbmon.toml");
    std::fs::write(
        &file,
        "[answers]\npublic_url = \"https://x.example.gov.vn\"\nkey_env = \"K\"\n",
    )
    .unwrap();
    let setup = disbmon::app::setup::config(Some(&file), &|_| Some("k".repeat(40)))
        .unwrap_or_else(|p| panic!("{p:?}"));
    setup.config.answers.as_ref().expect("[answers]").signer()
}

/// Reads an answers source (`answers.csv` in `dir`) as a run does: any outcome but a panic; what
/// is accepted is within bounds and clean.
fn read_answers(dir: &Path) {
    let job = job(dir, "plans.csv", "paid.csv");
    let with_answers = job.text.replace(
        "[rule]",
        "[sources.answers]\nlocation = \"answers.csv\"\ncolumns = { unit_id = \"id\", date = \"date\", reasons = \"reasons\", note = \"note\", amount = \"amount\", due_date = \"due\" }\ndate_format = \"%d/%m/%Y\"\nnumber_format = \"vi\"\namount_unit = \"billion\"\n[rule]",
    );
    std::fs::write(dir.join("job.toml"), with_answers).unwrap();
    let job = disbmon::config::job_load::load(&dir.join("job.toml"), chrono_tz::Asia::Ho_Chi_Minh)
        .unwrap_or_else(|p| panic!("{:?}", p.list));
    let src = job.answers.as_ref().expect("the answers source");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let now = chrono::NaiveDate::from_ymd_opt(2026, 11, 2)
        .unwrap()
        .and_hms_opt(1, 0, 0)
        .unwrap()
        .and_utc();
    let clock = disbmon::base::clock::FixedClock(now);
    let tmp = tempfile::tempdir().unwrap();
    let clients = disbmon::data::source::Clients::new().unwrap();
    let table = match runtime.block_on(disbmon::data::source::pull(
        src,
        &clients,
        tmp.path(),
        None,
        &clock,
    )) {
        Ok(t) => t,
        Err(_) => return,
    };
    let known: std::collections::HashSet<&str> = ["A", "B"].into_iter().collect();
    let (answers, _) = disbmon::data::answers::from_table(
        &table,
        src,
        "p",
        disbmon::domain::id::PlanYear::new(2026),
        &Default::default(),
        &known,
        &Default::default(),
        (now, chrono_tz::Asia::Ho_Chi_Minh),
    );
    for a in answers {
        assert!(!a.reasons.is_empty() && !disbmon::base::text::has_unsafe(&a.note));
        for (amount, due) in a.commitments {
            assert!(amount > 0 && amount <= MAX_DONG, "{amount}");
            assert!(due <= chrono::NaiveDate::from_ymd_opt(2027, 1, 31).unwrap());
        }
    }
}

proptest! {
    #![proptest_config(cases(48))]

    #[test]
    fn answers_of_arbitrary_cells_are_recorded_or_named(rows in proptest::collection::vec(
        (prop_oneof!["[A-C]", any::<String>()], cell(),
         prop_oneof!["(gpmb|khac|dau_thau|oda)(; ?(gpmb|thu_tuc|x))?", any::<String>()],
         any::<String>(), cell(), cell()), 0..20)) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("plans.csv"), b"id,plan\nA,1\n").unwrap();
        std::fs::write(dir.path().join("paid.csv"), b"date,id,amount\n").unwrap();
        let mut w = csv::Writer::from_path(dir.path().join("answers.csv")).unwrap();
        w.write_record(["id", "date", "reasons", "note", "amount", "due"]).unwrap();
        for (id, date, reasons, note, amount, due) in &rows {
            w.write_record([id, date, reasons, note, amount, due]).unwrap();
        }
        w.flush().unwrap();
        drop(w);
        read_answers(dir.path());
    }

    #[test]
    fn answer_tokens_of_arbitrary_text_verify_or_are_refused(token in prop_oneof![
        any::<String>(),
        "[A-Za-z0-9_-]{0,80}\\.[A-Za-z0-9_-]{0,60}",
    ]) {
        let signer = signer();
        prop_assert!(signer.verify(&token, chrono::DateTime::UNIX_EPOCH).is_err());
    }
}
