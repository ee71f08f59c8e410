//! Stored sums (issue: no recomputation of unchanged data): the real binary on the sample job,
//! run again unchanged, after rows are appended, after a byte is edited in the middle and after a
//! rule changes — each time with the figures of a cold run on the same files.

use crate::support::{Project, Run};
use serde_json::Value;

fn project() -> Project {
    let p = Project::new();
    p.copy_from_repo("config/disbmon.toml")
        .copy_from_repo("jobs/sample.toml")
        .copy_from_repo("jobs/sample");
    p
}

fn once(p: &Project) -> Run {
    let run = p.run(&[
        "once",
        "sample",
        "--as-of",
        "2026-10-31",
        "--dry-run",
        "--json",
    ]);
    run.expect_code(0);
    run
}

/// What the sources say: each unit's figures, and each source's row counts (without `sums`).
fn figures(run: &Run) -> (Value, Vec<Value>) {
    let json = run.json();
    let sources = json["sources"]
        .as_array()
        .unwrap_or_else(|| panic!("no sources in the report\n{run}"))
        .iter()
        .map(|s| {
            let mut s = s.clone();
            s.as_object_mut().map(|o| o.remove("sums"));
            s
        })
        .collect();
    (json["units"].clone(), sources)
}

fn sums(run: &Run, source: &str) -> Value {
    run.json()["sources"]
        .as_array()
        .and_then(|all| all.iter().find(|s| s["source"] == source).cloned())
        .map(|s| s["sums"].clone())
        .unwrap_or_else(|| panic!("no source {source}\n{run}"))
}

/// A run on the same files with the stored sums removed first.
fn cold(p: &Project) -> Run {
    let _ = std::fs::remove_dir_all(p.path().join("var/cache"));
    once(p)
}

fn edit(p: &Project, rel: &str, change: impl FnOnce(String) -> String) {
    let path = p.path().join(rel);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, change(text)).unwrap();
}

#[test]
fn unchanged_sources_are_not_read_again_and_appended_rows_are_added() {
    let p = project();
    let first = once(&p);
    assert_eq!(sums(&first, "disbursements"), "read", "{first}");
    let again = once(&p);
    assert_eq!(sums(&again, "disbursements"), "unchanged", "{again}");
    assert_eq!(sums(&again, "plans"), "unchanged", "{again}");
    assert_eq!(figures(&again), figures(&first));

    // Three payments appended (one after the as-of date): only they are read.
    edit(&p, "jobs/sample/giai_ngan.csv", |t| {
        t + "15/10/2026,BCHQS,1.000.000,2026\n16/10/2026,X-MUONGLA,2.500.000.000,2026\n02/11/2026,BCHQS,7,2026\n"
    });
    let grown = once(&p);
    assert_eq!(
        sums(&grown, "disbursements"),
        serde_json::json!({ "appended": { "rows": 3 } }),
        "{grown}"
    );
    assert_eq!(sums(&grown, "plans"), "unchanged", "{grown}");
    assert_ne!(figures(&grown), figures(&first), "the new payments count");
    assert_eq!(figures(&grown), figures(&cold(&p)), "appended = cold");
}

#[test]
fn an_edit_in_the_middle_or_a_changed_rule_reads_everything_again() {
    let p = project();
    once(&p);
    // One digit of one payment in the middle, the file's size unchanged.
    edit(&p, "jobs/sample/giai_ngan.csv", |t| {
        let at = t.len() / 2;
        let line = at + t[at..].find('\n').unwrap() + 1;
        let digit = line
            + t[line..]
                .find(|c: char| c.is_ascii_digit() && c != '9')
                .unwrap();
        let mut t = t.into_bytes();
        t[digit] += 1;
        String::from_utf8(t).unwrap()
    });
    let edited = once(&p);
    assert_eq!(sums(&edited, "disbursements"), "read", "{edited}");
    assert_eq!(figures(&edited), figures(&cold(&p)), "edited = cold");

    // A milestone changes nothing in the sums: they are reused. A column mapping does.
    edit(&p, "jobs/sample.toml", |t| {
        t.replace("pct = 60 }", "pct = 65 }")
    });
    assert_eq!(sums(&once(&p), "disbursements"), "unchanged");
    edit(&p, "jobs/sample.toml", |t| {
        t.replace(
            "plan_year = 2026",
            "plan_year = 2026\nsuccessors = { \"X-NONE\" = \"BCHQS\" }",
        )
    });
    let remapped = once(&p);
    assert_eq!(sums(&remapped, "disbursements"), "read", "{remapped}");
    assert_eq!(figures(&remapped), figures(&cold(&p)));
}

#[test]
fn a_source_with_a_problem_row_is_read_whole_each_time_and_named() {
    let p = project();
    let dry = || {
        p.run(&[
            "once",
            "sample",
            "--as-of",
            "2026-10-31",
            "--dry-run",
            "--json",
        ])
    };
    edit(&p, "jobs/sample/giai_ngan.csv", |t| {
        t + "15/10/2026,BCHQS,abc,2026\n"
    });
    dry().expect_stdout("abc");
    edit(&p, "jobs/sample/giai_ngan.csv", |t| {
        t + "16/10/2026,BCHQS,1.000,2026\n"
    });
    let second = dry();
    assert_eq!(sums(&second, "disbursements"), "read", "{second}");
    second.expect_stdout("abc");
}

#[test]
fn backtest_report_and_preview_read_and_keep_the_cube_a_run_reads() {
    let p = project();
    let cache = p.path().join("var/cache/sample");
    // A backtest from no state builds the cube in its one read and keeps it: the run after it
    // reads nothing.
    p.run(&["backtest", "sample", "--as-of", "2026-10-31", "--json"])
        .expect_code(0);
    assert!(cache.join("cube-disbursements.bin").is_file());
    let after_backtest = once(&p);
    assert_eq!(
        sums(&after_backtest, "disbursements"),
        "unchanged",
        "{after_backtest}"
    );

    // Rows appended: a report of another date reads them alone and keeps them in the cube's
    // journal (of the run's own date, the answers kept beside the cube would take them in).
    edit(&p, "jobs/sample/giai_ngan.csv", |t| {
        t + "15/10/2026,BCHQS,1.000.000,2026\n"
    });
    let xlsx = p.path().join("report.xlsx");
    p.run(&[
        "report",
        "sample",
        "--as-of",
        "2026-10-20",
        "--xlsx",
        xlsx.to_str().unwrap(),
    ])
    .expect_code(0);
    let journal = cache.join("cube-disbursements.more.bin");
    assert!(
        journal.is_file(),
        "the report added the appended rows to the stored cube"
    );
    // A preview of another date answers from the cube as it is, untouched.
    let before = std::fs::read(&journal).unwrap();
    p.run(&[
        "preview",
        "sample",
        "--unit",
        "BCHQS",
        "--as-of",
        "2026-09-30",
    ])
    .expect_code(0);
    assert_eq!(std::fs::read(&journal).unwrap(), before);
    let day = |p: &Project, as_of: &str| {
        let run = p.run(&["once", "sample", "--as-of", as_of, "--dry-run", "--json"]);
        run.expect_code(0);
        run
    };
    let stored = day(&p, "2026-10-25");
    assert_eq!(sums(&stored, "disbursements"), "unchanged", "{stored}");
    let _ = std::fs::remove_dir_all(p.path().join("var/cache"));
    assert_eq!(
        figures(&stored),
        figures(&day(&p, "2026-10-25")),
        "stored = cold"
    );
}
