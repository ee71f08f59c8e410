//! Stored sums: what a money source holds kept between runs, so that unchanged data is not read
//! again and a grown payments log is read only where it grew.
//!
//! A source of transactions or plans is kept as its daily cube (`compute::cube`): its rows summed
//! by unit, plan year, day, layer and capital source. Any run's queries — the next day's, a replay
//! of a past day, each month end of each past year — are answered from the cube, so a run reads
//! the source only when it changed. Running totals (`kind = "cumulative"`) keep the sums of their
//! queries instead (each query takes each unit's latest row, which no cube of sums answers), read
//! whole again when the file grew: a unit's later running total replaces its earlier one.
//!
//! Each is stored with the *recipe* that made it (the source's settings, its columns, the units,
//! successors; for running totals also every query — anything else rebuilds) and the
//! *fingerprint* of the file it was read from: its size, times and inode, and an xxh3 hash of
//! each 8 MiB block. A run then
//! - reuses it when the recipe and the content are the same (the file's metadata unchanged and
//!   its last change older than the hashing, or else the same block hashes);
//! - reads only the rows after the old end when the old content is an unchanged prefix of the new
//!   (every old block hash matches) and ends a line, and adds them — provided neither part has a
//!   row with a problem (those are listed with their row numbers by a whole read) and every sum
//!   stays within bounds;
//! - reads the whole source otherwise.
//!
//! The store is a cache beside the state store, under `state_dir/cache/JOB/`: losing it costs a
//! full read, never a figure. Each file is replaced whole (written aside, then renamed).

use super::compute;

use super::compute::cube::Cube;
use super::compute::query::{Aggregate, Query, Scope};
use super::cube_store;
use super::fingerprint::{is_prefix, taken, untouched, Fingerprint};
use super::source::Table;
use crate::config::job::{DisbursementKind, Source};
use crate::domain::id::UnitId;
use crate::domain::issue::{DataIssue, Reuse};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{BufRead, Seek, SeekFrom, Write};
use std::path::Path;

/// What stored answers answer, and for which content of the file: the first line of their file
/// (the answers are the second), so that answers to other queries — the next day's — are passed
/// over without being parsed, and still tell whether the file changed since.
#[derive(Debug, Serialize, Deserialize)]
struct Said {
    made: cube_store::Made,
    fingerprint: Fingerprint,
    /// When the blocks were hashed (ns since the epoch, from the file system's clock).
    hashed_at_ns: i128,
}

/// The header line and the rows from byte `from` on, as a table file of their own.
fn tail(table: &Table, from: u64) -> std::io::Result<Table> {
    let mut file = std::io::BufReader::new(std::fs::File::open(&table.path)?);
    let mut header = Vec::new();
    file.read_until(b'\n', &mut header)?;
    let mut out = tempfile::NamedTempFile::new()?;
    out.write_all(&header)?;
    file.seek(SeekFrom::Start(from))?;
    std::io::copy(&mut file, &mut out)?;
    out.flush()?;
    Ok(table.with_rows(out.into_temp_path()))
}

fn recipe(
    table: &Table,
    source: &Source,
    known: &[UnitId],
    successors: &BTreeMap<UnitId, UnitId>,
    queries: &[Query],
) -> u64 {
    // Debug output spells out every setting; the version makes an upgrade recompute.
    let text = format!(
        "{:?}|{:?}|{:?}|{}|{:?}|{:?}|{:?}|{:?}|{:?}",
        source,
        table.headers,
        table.columns,
        table.delimiter,
        table.row_offset,
        table.row_column,
        known,
        successors,
        queries
    );
    xxhash_rust::xxh3::xxh3_64(text.as_bytes())
}

/// What became of the stored sums, said in each source's row counts (the report shows it).
fn said(mut aggregates: Vec<Aggregate>, reuse: Reuse) -> Result<Vec<Aggregate>, DataIssue> {
    for a in &mut aggregates {
        a.stats.sums = Some(reuse);
    }
    Ok(aggregates)
}

/// [`compute::aggregate::aggregate_all`], reusing what `dir` holds from earlier runs where it
/// still applies, and storing what was read there. Without `dir`, the source is read
/// whole.
pub fn aggregate(
    dir: Option<&Path>,
    table: &Table,
    source: &Source,
    known: &[UnitId],
    successors: &BTreeMap<UnitId, UnitId>,
    queries: &[Query],
) -> Result<Vec<Aggregate>, DataIssue> {
    let Some(dir) = dir else {
        return compute::aggregate::aggregate_all(table, source, known, successors, queries);
    };
    let running_totals = running_totals(queries);
    // Hashed before the read: the answers are then those of the content it describes.
    let read = |hashed: Option<Hashed>, _changed: bool| {
        let hashed = hashed.or_else(|| taken(dir, &table.path));
        compute::aggregate::aggregate_all(table, source, known, successors, queries)
            .map(|a| (a, Reuse::Read, hashed))
    };
    let cube = |hashed: Option<Hashed>, changed: bool| {
        cubed(
            dir,
            table,
            source,
            known,
            successors,
            queries,
            (hashed, changed),
        )
    };
    // The answers to the same queries are kept too: the same day run again, or with rows
    // appended, is answered from them without the cube (which catches up when it is next asked).
    let otherwise: &dyn Fn(Option<Hashed>, bool) -> Answered = match running_totals {
        true => &read,
        false => &cube,
    };
    stored_sums(dir, table, source, known, successors, queries, otherwise)
}

/// Whether `queries` ask for running totals: each unit's latest row, not a sum of rows.
fn running_totals(queries: &[Query]) -> bool {
    queries.iter().any(|q| {
        matches!(
            q.scope,
            Scope::Disbursements {
                kind: DisbursementKind::Cumulative,
                ..
            }
        )
    })
}

/// A file's fingerprint and when it was taken (the file system's clock).
type Hashed = (Fingerprint, i128);

/// Answers, what became of the stored sums, and the fingerprint of the source as it was read
/// for them (taken before the read; None when it could not be taken).
type Answered = Result<(Vec<Aggregate>, Reuse, Option<Hashed>), DataIssue>;

fn cube_recipe(
    table: &Table,
    source: &Source,
    known: &[UnitId],
    successors: &BTreeMap<UnitId, UnitId>,
) -> u64 {
    recipe(table, source, known, successors, &[])
}

/// `queries` answered from the source's cube: the stored one when the source is unchanged, the
/// stored one and the appended rows' when it grew (those kept in the cube's journal), else one
/// built from the whole source (and stored). A source with a row that has a problem is read by
/// `aggregate_all`, which names it.
fn cubed(
    dir: &Path,
    table: &Table,
    source: &Source,
    known: &[UnitId],
    successors: &BTreeMap<UnitId, UnitId>,
    queries: &[Query],
    (hashed, changed): (Option<Hashed>, bool),
) -> Answered {
    let read = || compute::aggregate::aggregate_all(table, source, known, successors, queries);
    let role = table.role.to_string();
    let made = cube_store::Made {
        version: env!("CARGO_PKG_VERSION").to_string(),
        recipe: cube_recipe(table, source, known, successors),
    };
    // A file known to have changed is hashed while the cube is loaded (its blocks on threads of
    // their own); else it is hashed only when the stored cube's fingerprint says it changed.
    let (stored, hashed) = match (hashed, changed) {
        (None, true) => std::thread::scope(|scope| {
            let hashing = scope.spawn(|| taken(dir, &table.path));
            let stored = cube_store::load(dir, &role, &made);
            (stored, hashing.join().ok().flatten())
        }),
        (hashed, _) => (cube_store::load(dir, &role, &made), hashed),
    };
    // An untouched source needs no hashing: the cube's fingerprint is the file's.
    if let Some(s) = stored
        .as_ref()
        .filter(|s| untouched(&table.path, &s.fingerprint, s.hashed_at_ns))
    {
        let hashed = Some((s.fingerprint.clone(), s.hashed_at_ns));
        return match s.cube.answer_with(s.more.as_ref(), table, queries) {
            Some(answers) => Ok((answers, Reuse::Unchanged, hashed)),
            None => Ok((read()?, Reuse::Read, hashed)),
        };
    }
    let Some((fingerprint, hashed_at_ns)) = hashed.or_else(|| taken(dir, &table.path)) else {
        return Ok((read()?, Reuse::Read, None));
    };
    // What to store afterwards: the cube whole, or what was added to the stored one.
    enum Save {
        Whole,
        Tail(cube_store::Kept, Option<Box<Cube>>),
    }
    let mut kept = None;
    if let Some(s) = stored {
        let old = &s.fingerprint;
        if old.len == fingerprint.len && old.blocks == fingerprint.blocks {
            kept = Some((
                s.cube,
                s.more,
                Reuse::Unchanged,
                Save::Tail(s.journal, None),
            ));
        } else if is_prefix(&table.path, old, &fingerprint).unwrap_or(false) {
            let appended = tail(table, old.len)
                .ok()
                .and_then(|t| compute::cube::build(&t, source, known, successors).ok())
                .flatten();
            if let Some(appended) = appended {
                let rows = appended.rows;
                // Added to the journal's rows, not to the cube: that would copy it whole.
                let more = match s.more {
                    Some(more) => more.merged(appended.clone()),
                    None => Some(appended.clone()),
                };
                if let Some(more) = more {
                    let save = Save::Tail(s.journal, Some(Box::new(appended)));
                    kept = Some((s.cube, Some(more), Reuse::Appended { rows }, save));
                }
            }
        }
    }
    let (cube, more, reuse, save) = match kept {
        Some(k) => k,
        None => match compute::cube::build(table, source, known, successors)? {
            Some(cube) => (cube, None, Reuse::Read, Save::Whole),
            None => {
                // Rows with problems: no cube until the source is fixed.
                cube_store::remove(dir, &role);
                return Ok((read()?, Reuse::Read, Some((fingerprint, hashed_at_ns))));
            }
        },
    };
    let answers = cube.answer_with(more.as_ref(), table, queries);
    let hashed = (fingerprint, hashed_at_ns);
    let written = match save {
        Save::Whole => cube_store::save_whole(dir, &role, &made, cube, hashed.clone()),
        Save::Tail(journal, tail) => {
            let tail = tail.map(|t| *t);
            cube_store::save_tail(dir, &role, &made, journal, tail, cube, more, hashed.clone())
        }
    };
    // A cache that cannot be written costs the next run a full read, nothing else.
    if let Err(e) = written {
        tracing::warn!(
            "cannot store the cube of {} in {}: {e}",
            table.origin,
            dir.display()
        );
    }
    match answers {
        Some(answers) => Ok((answers, reuse, Some(hashed))),
        // A unit's sum beyond the range of amounts: the whole read names it.
        None => Ok((read()?, Reuse::Read, Some(hashed))),
    }
}

/// The answers to `queries` themselves, stored: reused when the queries and the source are the
/// same, added to when rows were appended; else `otherwise` answers (given the file's
/// fingerprint when it was taken here, so that it is taken once), and its answers are stored
/// with the fingerprint it answered for. The file is hashed here only when there are stored
/// answers to compare it with.
fn stored_sums(
    dir: &Path,
    table: &Table,
    source: &Source,
    known: &[UnitId],
    successors: &BTreeMap<UnitId, UnitId>,
    queries: &[Query],
    otherwise: &dyn Fn(Option<Hashed>, bool) -> Answered,
) -> Result<Vec<Aggregate>, DataIssue> {
    let path = dir.join(format!("sums-{}.json", table.role));
    let made = cube_store::Made {
        version: env!("CARGO_PKG_VERSION").to_string(),
        recipe: recipe(table, source, known, successors, queries),
    };
    let bytes = std::fs::read(&path).unwrap_or_default();
    let (first, rest) = bytes.split_at(bytes.iter().position(|&b| b == b'\n').unwrap_or(0));
    let last: Option<Said> = serde_json::from_slice(first).ok();
    let untouched_since = last
        .as_ref()
        .map(|l| untouched(&table.path, &l.fingerprint, l.hashed_at_ns));
    // The file changed since the last run's answers, whatever they answered: it is hashed while
    // the cube is loaded.
    let changed = untouched_since == Some(false);
    let entry: Option<(Said, Vec<Aggregate>)> = match last {
        Some(l) if l.made == made => serde_json::from_slice(rest).ok().map(|a| (l, a)),
        _ => None,
    };
    let entry = match entry {
        Some((_, aggregates)) if untouched_since == Some(true) => {
            return said(aggregates, Reuse::Unchanged);
        }
        e => e,
    };
    let hashed = entry.as_ref().and_then(|_| taken(dir, &table.path));
    let mut reuse = Reuse::Read;
    let mut aggregates = None;
    if let (Some((e, stored)), Some((fingerprint, _))) = (&entry, &hashed) {
        let old = &e.fingerprint;
        if old.len == fingerprint.len && old.blocks == fingerprint.blocks {
            aggregates = Some(stored.clone());
            reuse = Reuse::Unchanged;
        } else if stored.iter().all(|a| a.issues.is_empty())
            // An appended running total replaces the unit's earlier one: nothing to add.
            && !running_totals(queries)
            && is_prefix(&table.path, old, fingerprint).unwrap_or(false)
        {
            let appended = tail(table, old.len)
                .ok()
                .and_then(|t| {
                    compute::aggregate::aggregate_all(&t, source, known, successors, queries).ok()
                })
                .filter(|more| more.iter().all(|a| a.issues.is_empty()));
            if let Some(sum) = appended.and_then(|more| {
                let rows = more.first().map(|a| a.stats.rows).unwrap_or(0);
                compute::query::added(stored, &more).map(|sum| (sum, rows))
            }) {
                reuse = Reuse::Appended { rows: sum.1 };
                aggregates = Some(sum.0);
            }
        }
    }
    let (aggregates, hashed) = match aggregates {
        Some(a) => (a, hashed),
        None => {
            let (answers, how, used) = otherwise(hashed, changed)?;
            reuse = how;
            (answers, used)
        }
    };
    // Answers not known to describe one content of the file are not kept.
    let Some((fingerprint, hashed_at_ns)) = hashed else {
        return said(aggregates, reuse);
    };
    let now = Said {
        made,
        fingerprint,
        hashed_at_ns,
    };
    // A cache that cannot be written costs the next run a full read, nothing else.
    let written = crate::base::files::private_dir(dir).and_then(|()| {
        crate::base::files::replace_file(&path, |f| {
            let mut out = std::io::BufWriter::new(f);
            serde_json::to_writer(&mut out, &now).map_err(std::io::Error::other)?;
            out.write_all(b"\n")?;
            serde_json::to_writer(&mut out, &aggregates).map_err(std::io::Error::other)?;
            out.flush()
        })
    });
    if let Err(e) = written {
        tracing::warn!(
            "cannot store the sums of {} in {}: {e}",
            table.origin,
            dir.display()
        );
    }
    said(aggregates, reuse)
}
