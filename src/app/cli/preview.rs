//! `disbmon preview`: the email one unit would get, headers and text part, as a person reads
//! them.

use super::common::{assessed, stored_previous};
use crate::app::exit;
use crate::app::preview;
use crate::base::clock::Clock;
use chrono::NaiveDate;
use std::path::Path;

/// Prints the alert `unit` of `job` would get as of `as_of`.
pub(super) async fn preview(
    config_path: Option<&Path>,
    job: &str,
    unit: &str,
    as_of: Option<NaiveDate>,
    clock: &dyn Clock,
) -> i32 {
    let (setup, job, a) = match assessed(config_path, job, as_of, clock, "nothing to preview").await
    {
        Ok(v) => v,
        Err(code) => return code,
    };
    let as_of = a.as_of;
    let previous = stored_previous(&setup.config, &job, &a);
    match preview::preview(&job, &a, unit, &setup, clock.now(), previous) {
        Ok((email, built, alerted)) => {
            if !alerted {
                esayln!(
                    "note: unit {unit} is not behind on {as_of}; this run would send it nothing"
                );
            }
            match built {
                // The headers exactly as the message would be queued.
                Some(m) => {
                    let list = |m: &[crate::domain::address::Mailbox]| {
                        m.iter().map(|m| m.to_string()).collect::<Vec<_>>().join(", ")
                    };
                    // Encoded words (RFC 2047) are shown as a person reads them.
                    let readable = |name: &str| match name.to_ascii_lowercase().as_str() {
                        "from" => Some(setup.config.mail.from.to_string()),
                        "to" => Some(list(&email.to)),
                        "cc" => Some(list(&email.cc)),
                        "subject" => Some(email.subject.clone()),
                        _ => None,
                    };
                    let raw = String::from_utf8_lossy(&m.raw);
                    let head = raw.split("\r\n\r\n").next().unwrap_or_default();
                    for field in head.replace("\r\n ", " ").replace("\r\n\t", " ").split("\r\n") {
                        let (name, value) = field.split_once(':').unwrap_or((field, ""));
                        sayln!("{name}: {}", readable(name).unwrap_or_else(|| value.trim().to_string()));
                    }
                }
                None => sayln!(
                    "From: {}\nTo: (no address in the units source: the unit gets nothing)\nSubject: {}",
                    setup.config.mail.from, email.subject
                ),
            }
            sayln!("\n(the text/plain part; an HTML part goes with it)\n");
            say!("{}", email.text);
            exit::OK
        }
        Err(e) => {
            esayln!("{e}");
            exit::DATA
        }
    }
}
