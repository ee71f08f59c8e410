//! Every key a config or a job file may hold, as the key reference in `docs/` lists them (and is
//! tested against them): read off the shapes serde reads the files into (`trace`), not a list
//! kept beside them, which would drift.

use super::job::canonical_columns;
use super::trace::leaves;
use crate::domain::issue::SourceRole;
use std::collections::BTreeSet;

/// The keys of `config/disbmon.toml`, dotted by table ("mail.smtp.host"), values only.
pub fn config_keys() -> Vec<String> {
    leaves::<super::daemon::RawConfig>()
}

/// The keys of a job file: a source's keys once as `sources.*.KEY` (every source takes the same),
/// its columns per source (`sources.units.columns.unit_id`, from the columns each source knows),
/// an array of tables' keys without an index (`rule.milestones.date`), and a map whose keys
/// are free (`successors`) as the map.
pub fn job_keys() -> Vec<String> {
    let roles = [
        SourceRole::Units,
        SourceRole::Plans,
        SourceRole::Disbursements,
        SourceRole::Answers,
    ];
    let mut out = BTreeSet::new();
    for key in leaves::<super::job_toml::RawJob>() {
        let role = roles
            .iter()
            .find(|r| key.starts_with(&format!("sources.{}.", r.key())));
        match role {
            Some(role) => {
                let rest = &key[format!("sources.{}.", role.key()).len()..];
                if rest == "columns" {
                    let (required, optional) = canonical_columns(*role);
                    for c in required.iter().chain(optional) {
                        out.insert(format!("sources.{}.columns.{c}", role.key()));
                    }
                } else {
                    out.insert(format!("sources.*.{rest}"));
                }
            }
            None => {
                out.insert(key);
            }
        }
    }
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_keys_are_read_off_the_files_shapes() {
        let config = config_keys();
        for k in [
            "jobs_dir",
            "mail.smtp.host",
            "mail.from",
            "admin.token_file",
        ] {
            assert!(config.contains(&k.to_string()), "{k} in {config:?}");
        }
        assert!(!config.iter().any(|k| k == "mail" || k == "mail.smtp"));
        let job = job_keys();
        for k in [
            "schedule",
            "successors",
            "rule.milestones.date",
            "rule.tolerance_pct",
            "sources.*.location",
            "sources.*.auth.bearer_env",
            "sources.units.columns.email",
            "sources.answers.columns.reasons",
            "projection.years",
        ] {
            assert!(job.contains(&k.to_string()), "{k} in {job:?}");
        }
        assert!(!job.iter().any(|k| k.starts_with("sources.units.location")));
    }
}
