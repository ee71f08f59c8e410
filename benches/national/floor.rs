//! The floor: the least a Rust program on the same polars crate can do for the benchmark's
//! query — `LazyCsvReader` with date inference → filter → group_by → join, on the streaming
//! engine, with disbmon's polars features. `benches/national/run.py` times it beside disbmon and
//! the Python peers, so that disbmon's ratio can be read against what the crate itself allows.
//!
//! usage: polars_floor DATA_DIR PLAN_YEAR AS_OF
#![allow(clippy::disallowed_methods)]

use chrono::{Datelike, NaiveDate};
use polars::prelude::*;

fn main() -> PolarsResult<()> {
    let args: Vec<String> = std::env::args().collect();
    let (dir, year, as_of) = (
        std::path::PathBuf::from(&args[1]),
        args[2].parse::<i32>().expect("a year"),
        NaiveDate::parse_from_str(&args[3], "%Y-%m-%d").expect("a date"),
    );
    let last = as_of.with_year(year - 1).expect("not 29 February");
    let day = |d: NaiveDate| {
        lit((d - NaiveDate::from_ymd_opt(1970, 1, 1).unwrap()).num_days() as i32)
            .cast(DataType::Date)
    };
    let start = |y| NaiveDate::from_ymd_opt(y, 1, 1).unwrap();
    let scan = |name: &str, dates: bool| {
        LazyCsvReader::new(PlRefPath::from(dir.join(name).to_string_lossy().as_ref()))
            .with_try_parse_dates(dates)
            .finish()
    };
    let window = col("date")
        .gt_eq(day(start(year)))
        .and(col("date").lt_eq(day(as_of)))
        .or(col("date")
            .gt_eq(day(start(year - 1)))
            .and(col("date").lt_eq(day(last))));
    let paid = scan("payments.csv", true)?
        .filter(window)
        .group_by([col("unit_id"), col("date").dt().year().alias("year")])
        .agg([col("amount").sum().alias("disbursed")]);
    let planned = scan("plans.csv", false)?
        .group_by([
            col("unit_id"),
            col("plan_year").cast(DataType::Int32).alias("year"),
        ])
        .agg([col("amount").sum().alias("plan")]);
    let joined = planned
        .join(
            paid,
            [col("unit_id"), col("year")],
            [col("unit_id"), col("year")],
            JoinArgs::new(JoinType::Full).with_coalesce(JoinCoalesce::CoalesceColumns),
        )
        .collect_with_engine(Engine::Streaming)?
        .unwrap_single();
    println!("{} unit-years", joined.height());
    Ok(())
}
