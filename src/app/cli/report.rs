//! `disbmon report` (the official table as an Excel workbook) and `disbmon backtest` (the
//! projection replayed over past years): computed as `once --dry-run` is, nothing recorded or
//! sent.

use super::common::{assess_loaded, assessed, load, stored_previous};
use crate::app::assessment;
use crate::app::exit;
use crate::base::clock::Clock;
use chrono::NaiveDate;
use std::path::Path;

/// Writes the workbook of `job` as of `as_of` to `xlsx`.
pub(super) async fn report(
    config_path: Option<&Path>,
    job: &str,
    as_of: Option<NaiveDate>,
    xlsx: &Path,
    clock: &dyn Clock,
) -> i32 {
    let (setup, job, a) = match assessed(config_path, job, as_of, clock, "no table written").await {
        Ok(v) => v,
        Err(code) => return code,
    };
    let Some(rates) = &a.rates else {
        return exit::DATA;
    };
    let details = assessment::details(&job, &a, rates, stored_previous(&setup.config, &job, &a));
    match crate::notify::workbook::write(
        xlsx,
        &a.context(&job, rates, &details, &setup.templates),
        &a.issues,
    ) {
        Ok(()) => {
            sayln!(
                "wrote the table of {} units as of {} to {}",
                rates.units.len(),
                a.as_of,
                xlsx.display()
            );
            if !a.issues.is_empty() {
                esayln!(
                    "{} data issues, listed in the workbook's last sheet",
                    a.issues.len()
                );
            }
            exit::OK
        }
        Err(e) => {
            esayln!("{e}");
            exit::ERROR
        }
    }
}

/// Replays `years` past years of `job` month by month and prints the projection's errors.
pub(super) async fn backtest(
    config_path: Option<&Path>,
    job: &str,
    as_of: Option<NaiveDate>,
    (years, json): (u32, bool),
    clock: &dyn Clock,
) -> i32 {
    let (setup, mut job) = match load(config_path, job) {
        Ok(v) => v,
        Err(code) => return code,
    };
    job.projection.years = years;
    job.projection.curves = true;
    let a = match assess_loaded(&setup.config, &job, as_of, clock, "nothing replayed").await {
        Ok(a) => a,
        Err(code) => return code,
    };
    let Some(rates) = &a.rates else {
        return exit::DATA;
    };
    let b = crate::domain::projection::backtest(&a.ledger.history, rates);
    if json {
        sayln!("{}", serde_json::to_string_pretty(&b).unwrap_or_default());
    } else {
        say!("{}", crate::app::report::backtest_table(&job.name, &b));
    }
    match b.months.is_empty() {
        true => {
            esayln!("job {}: the sources hold fewer than two whole past years (plans with a plan year, and their payments): nothing to replay", job.name);
            exit::DATA
        }
        false => exit::OK,
    }
}
