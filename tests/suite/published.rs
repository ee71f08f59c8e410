//! The published tables in `shared/data/real/`: where a table gives plan and disbursed, disbmon
//! must reproduce each published rate to its published precision, or report the mismatch.

use crate::support::Project;

/// The real tables that carry both plan and disbursed (billion đồng) for their units.
fn real_tables() -> Vec<(String, Vec<[String; 4]>)> {
    // The shared tables beside the repository (as CI lays them out); else the copy of the one table
    // with both figures kept in tests/fixtures/real.
    let shared = crate::support::repo().join("../shared/data/real");
    let dir = if shared.is_dir() {
        shared
    } else {
        crate::support::repo().join("tests/fixtures/real")
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|x| x != "csv") {
            continue;
        }
        let mut reader = csv::Reader::from_path(&path).unwrap();
        let rows: Vec<[String; 4]> = reader
            .records()
            .map(|r| {
                let r = r.unwrap();
                [
                    r[0].to_string(),
                    r[1].to_string(),
                    r[2].to_string(),
                    r[3].to_string(),
                ]
            })
            .filter(|r| !r[1].is_empty() && !r[2].is_empty() && !r[3].is_empty())
            .collect();
        if !rows.is_empty() {
            out.push((
                path.file_stem().unwrap().to_string_lossy().into_owned(),
                rows,
            ));
        }
    }
    assert!(
        !out.is_empty(),
        "no real table with plan and disbursed in {}",
        dir.display()
    );
    out
}

fn job(p: &Project, rows: &[[String; 4]], cut_off: &str) {
    let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let mut units = String::from("id,name,email,rate\n");
    let mut plans = String::from("id,amount\n");
    let mut paid = String::from("id,date,amount\n");
    for [unit, plan, disbursed, rate] in rows {
        units.push_str(&format!("{},{},,{}\n", q(unit), q(unit), rate));
        plans.push_str(&format!("{},{plan}\n", q(unit)));
        paid.push_str(&format!("{},{cut_off},{disbursed}\n", q(unit)));
    }
    p.write(
        "config/disbmon.toml",
        "jobs_dir = \"../jobs\"\nstate_dir = \"../var\"\n[admin]\nlisten = \"off\"\n",
    )
    .write("jobs/units.csv", &units)
    .write("jobs/plans.csv", &plans)
    .write("jobs/paid.csv", &paid)
    .write(
        "jobs/real.toml",
        r#"schedule = "0 8 * * MON"
[sources.units]
location = "units.csv"
columns = { unit_id = "id", unit_name = "name", email = "email", published_rate = "rate" }
number_format = "en"
[sources.plans]
location = "plans.csv"
columns = { unit_id = "id", amount = "amount" }
amount_unit = "billion"
[sources.disbursements]
location = "paid.csv"
kind = "cumulative"
columns = { unit_id = "id", date = "date", amount = "amount" }
amount_unit = "billion"
[rule]
milestones = [{ date = "12-31", pct = 95 }]
"#,
    );
}

#[test]
fn published_rates_are_reproduced_or_the_difference_is_reported() {
    for (name, rows) in real_tables() {
        // The cut-off date is in the file name: moc_2025-03-31_investors.
        let cut_off = name.split('_').nth(1).unwrap().to_string();
        let p = Project::new();
        job(&p, &rows, &cut_off);
        let run = p.run(&["once", "real", "--as-of", &cut_off, "--dry-run", "--json"]);
        run.expect_code(0);
        let checks = run.json()["published"].as_array().unwrap().clone();
        assert_eq!(checks.len(), rows.len(), "{name}: {run}");
        for c in &checks {
            assert_eq!(
                c["agrees"], true,
                "{name}: {c} — published {}, ours {}",
                c["published"], c["computed_pct"]
            );
        }
        // A published figure that does not reconcile is flagged, not hidden.
        let mut wrong = rows.clone();
        wrong[0][3] = format!("{}", wrong[0][3].parse::<f64>().unwrap() + 1.0);
        job(&p, &wrong, &cut_off);
        let run = p.run(&["once", "real", "--as-of", &cut_off, "--dry-run"]);
        run.expect_code(0)
            .expect_stdout(&format!(
                "Published rates: {} checked, 1 differ",
                rows.len()
            ))
            .expect_stdout(&wrong[0][0]);
    }
}
