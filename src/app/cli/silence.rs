//! `disbmon silence`: holding back a unit's alerts until a date, listing and lifting silences.

use super::args::SilenceAction;
use super::common::open_store;
use crate::app::exit;
use crate::base::clock::Clock;
use std::path::Path;

pub(super) fn silence(config_path: Option<&Path>, action: SilenceAction, clock: &dyn Clock) -> i32 {
    let (_, store) = match open_store(config_path) {
        Ok(v) => v,
        Err(code) => return code,
    };
    match action {
        SilenceAction::Add {
            job,
            unit,
            until,
            reason,
        } => match store.add_silence(&job, &unit, until, &reason, clock.now()) {
            Ok(id) => {
                sayln!("silence {id}: alerts of unit {unit} in job {job} are held back until {until} (inclusive): {reason}");
                exit::OK
            }
            Err(e) => {
                esayln!("{e}");
                exit::ERROR
            }
        },
        SilenceAction::List => match store.silences() {
            Ok(list) => {
                if list.is_empty() {
                    sayln!("no silences");
                }
                for s in list {
                    sayln!(
                        "{}  job {}  unit {}  until {}  — {} (added {})",
                        s.id,
                        s.job,
                        s.unit,
                        s.until,
                        s.reason,
                        s.created_at.format("%Y-%m-%d")
                    );
                }
                exit::OK
            }
            Err(e) => {
                esayln!("{e}");
                exit::ERROR
            }
        },
        SilenceAction::Remove { id } => match store.remove_silence(id, clock.now()) {
            Ok(true) => {
                sayln!("silence {id} lifted");
                exit::OK
            }
            Ok(false) => {
                esayln!("no silence {id}; `disbmon silence list` shows them");
                exit::USAGE
            }
            Err(e) => {
                esayln!("{e}");
                exit::ERROR
            }
        },
    }
}
