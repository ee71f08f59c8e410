//! The daily cube as it is kept between runs, under `state_dir/cache/JOB/`: the cube itself
//! (`cube-ROLE.bin`), and a journal of the cubes of the rows appended since it was written
//! (`cube-ROLE.more.bin`), so that a day's rows add a small file instead of rewriting the cube.
//! When the journal holds a tenth of the cube's rows, the next run writes the cube whole again.
//!
//! Each file starts with a magic and the xxh3 of the rest: one of another format, cut short or
//! damaged is not read (it costs a full read, never a figure). The journal names the cube it
//! extends by that seal, so a journal left beside a newer cube is not applied to it.

use super::compute::cube::Cube;
use super::fingerprint::Fingerprint;
use serde::{Deserialize, Serialize};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"dbmcube5";

/// A journal is written as long as it holds at most this share of the cube's rows, and this many
/// tails: then the cube is written whole again.
const JOURNAL_SHARE: u64 = 10;
const JOURNAL_TAILS: usize = 400;

/// What a stored cube was made for and from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Made {
    pub(super) version: String,
    pub(super) recipe: u64,
}

#[derive(Serialize, Deserialize)]
struct Whole {
    made: Made,
    fingerprint: Fingerprint,
    hashed_at_ns: i128,
    cube: Cube,
}

#[derive(Serialize, Deserialize)]
struct Journal {
    made: Made,
    /// The seal of the cube file this journal extends.
    extends: u64,
    /// The source as it was when the last tail was added.
    fingerprint: Fingerprint,
    hashed_at_ns: i128,
    tails: Vec<Cube>,
}

/// A cube as loaded: the stored one, and the journal's tails merged with one another (small: they
/// are answered apart and added, so that the cube is not copied to merge them in).
pub(super) struct Stored {
    pub(super) cube: Cube,
    pub(super) more: Option<Cube>,
    /// The source the cube (with its tails) was made from, and when that was hashed.
    pub(super) fingerprint: Fingerprint,
    pub(super) hashed_at_ns: i128,
    pub(super) journal: Kept,
}

/// What the next journal extends: the cube file's seal and rows, and the tails so far.
pub(super) struct Kept {
    whole_seal: u64,
    whole_rows: u64,
    tails: Vec<Cube>,
}

fn paths(dir: &Path, role: &str) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("cube-{role}.bin")),
        dir.join(format!("cube-{role}.more.bin")),
    )
}

/// The payload of a file whose seal holds, and the seal.
fn unsealed(bytes: &[u8]) -> Option<(&[u8], u64)> {
    let rest = bytes.strip_prefix(MAGIC.as_slice())?;
    let (hash, payload) = rest.split_at_checked(8)?;
    let hash = u64::from_le_bytes(hash.try_into().ok()?);
    (hash == xxhash_rust::xxh3::xxh3_64(payload)).then_some((payload, hash))
}

/// The cube stored for `made`, its journal applied; None when there is none that applies.
pub(super) fn load(dir: &Path, role: &str, made: &Made) -> Option<Stored> {
    let (whole_path, journal_path) = paths(dir, role);
    let bytes = std::fs::read(whole_path).ok()?;
    let (payload, whole_seal) = unsealed(&bytes)?;
    let whole: Whole = postcard::from_bytes(payload)
        .ok()
        .filter(|w: &Whole| w.made == *made && w.cube.holds_together())?;
    let mut stored = Stored {
        journal: Kept {
            whole_seal,
            whole_rows: whole.cube.rows,
            tails: Vec::new(),
        },
        cube: whole.cube,
        more: None,
        fingerprint: whole.fingerprint,
        hashed_at_ns: whole.hashed_at_ns,
    };
    let journal: Option<Journal> = std::fs::read(journal_path).ok().and_then(|bytes| {
        let (payload, _) = unsealed(&bytes)?;
        postcard::from_bytes(payload).ok().filter(|j: &Journal| {
            j.made == *made && j.extends == whole_seal && j.tails.iter().all(Cube::holds_together)
        })
    });
    if let Some(j) = journal {
        if !j.tails.is_empty() {
            stored.more = Some(Cube::merged_all(j.tails.clone())?);
        }
        stored.fingerprint = j.fingerprint;
        stored.hashed_at_ns = j.hashed_at_ns;
        stored.journal.tails = j.tails;
    }
    Some(stored)
}

/// Writes `payload` sealed, replacing `path`; returns the seal.
fn write_sealed(path: &Path, payload: &impl Serialize) -> std::io::Result<u64> {
    let mut seal = 0;
    crate::base::files::replace_cache_file(path, |f| {
        f.write_all(MAGIC)?;
        f.write_all(&[0; 8])?;
        let mut sealing = Sealing {
            out: std::io::BufWriter::new(&mut *f),
            hash: xxhash_rust::xxh3::Xxh3::new(),
        };
        postcard::to_io(payload, &mut sealing).map_err(std::io::Error::other)?;
        sealing.out.flush()?;
        seal = sealing.hash.digest();
        drop(sealing);
        f.seek(SeekFrom::Start(MAGIC.len() as u64))?;
        f.write_all(&seal.to_le_bytes())
    })?;
    Ok(seal)
}

/// Stores `cube` whole, made from the source as `fingerprint` says, its journal emptied.
pub(super) fn save_whole(
    dir: &Path,
    role: &str,
    made: &Made,
    cube: Cube,
    (fingerprint, hashed_at_ns): (Fingerprint, i128),
) -> std::io::Result<()> {
    let (whole_path, journal_path) = paths(dir, role);
    crate::base::files::private_dir(dir)?;
    // The journal first: one left beside a new cube would not apply anyway (its seal), but it
    // would be read for nothing.
    match std::fs::remove_file(&journal_path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let whole = Whole {
        made: made.clone(),
        fingerprint,
        hashed_at_ns,
        cube,
    };
    write_sealed(&whole_path, &whole).map(|_| ())
}

/// Stores what was added to the cube since it was written (`kept`, from [`load`]): `tail` (the
/// rows appended, none when only the file's metadata changed), the source now as `fingerprint`
/// says. Writes the cube whole again (`cube` with all that was appended since, `more`) when the
/// journal would be too large.
#[allow(clippy::too_many_arguments)] // each is one thing the file is made of
pub(super) fn save_tail(
    dir: &Path,
    role: &str,
    made: &Made,
    kept: Kept,
    tail: Option<Cube>,
    cube: Cube,
    more: Option<Cube>,
    (fingerprint, hashed_at_ns): (Fingerprint, i128),
) -> std::io::Result<()> {
    let mut tails = kept.tails;
    tails.extend(tail);
    let journal_rows: u64 = tails.iter().map(|t| t.rows).sum();
    if journal_rows.saturating_mul(JOURNAL_SHARE) > kept.whole_rows || tails.len() > JOURNAL_TAILS {
        let merged = match more {
            Some(more) => cube.merged(more),
            None => Some(cube),
        };
        let Some(merged) = merged else {
            // Sums beyond what a cube holds: none is kept (the next run reads the source).
            remove(dir, role);
            return Ok(());
        };
        return save_whole(dir, role, made, merged, (fingerprint, hashed_at_ns));
    }
    let journal = Journal {
        made: made.clone(),
        extends: kept.whole_seal,
        fingerprint,
        hashed_at_ns,
        tails,
    };
    let (_, journal_path) = paths(dir, role);
    crate::base::files::private_dir(dir)?;
    write_sealed(&journal_path, &journal).map(|_| ())
}

/// Writes through to `out`, hashing what passes: the seal, made while the file is written.
struct Sealing<W: Write> {
    out: W,
    hash: xxhash_rust::xxh3::Xxh3,
}

impl<W: Write> Write for Sealing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// No cube for this source (its rows have a problem): none is left to be read.
pub(super) fn remove(dir: &Path, role: &str) {
    let (whole, journal) = paths(dir, role);
    let _ = std::fs::remove_file(journal);
    let _ = std::fs::remove_file(whole);
}
