//! What a source file was when it was read: its size, times and inode, and an xxh3 hash of each
//! 8 MiB block — enough to tell that it is unchanged (cheaply, from its metadata, when its last
//! change is well before the hashing; else by its blocks) or that its old content is an
//! unchanged prefix of the new (rows appended). Shared by the stored cube and the stored answers.

use serde::{Deserialize, Serialize};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;

const BLOCK: u64 = 8 << 20;
/// How much of a block is read at once while hashing it.
const PIECE: usize = 256 << 10;
/// A file changed in the same tick of the file system's clock as it was hashed may change again
/// within that tick, its times unchanged: its metadata alone is trusted only when its last change
/// (ctime, which no tool can set back) is at least this much older than the hashing (as git does
/// for its index). 10 ms spans a coarse clock's tick.
const RACY_NS: i128 = 10_000_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Fingerprint {
    pub(super) len: u64,
    mtime_ns: i128,
    ctime_ns: i128,
    inode: u64,
    device: u64,
    /// xxh3 of each `BLOCK`-sized block (the last one shorter).
    pub(super) blocks: Vec<u64>,
}

fn nanos(secs: i64, nsecs: i64) -> i128 {
    i128::from(secs) * 1_000_000_000 + i128::from(nsecs)
}

/// The file's metadata, and the hashes of its blocks (two threads read it).
fn fingerprint(path: &Path) -> std::io::Result<Fingerprint> {
    let file = std::fs::File::open(path)?;
    let meta = file.metadata()?;
    let len = meta.len();
    let count = len.div_ceil(BLOCK) as usize;
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 4);
    let mut blocks = vec![0u64; count];
    let per = count.div_ceil(threads).max(1);
    std::thread::scope(|scope| -> std::io::Result<()> {
        let workers: Vec<_> = blocks
            .chunks_mut(per)
            .enumerate()
            .map(|(t, out)| {
                let file = &file;
                scope.spawn(move || -> std::io::Result<()> {
                    // Read in pieces that stay in the core's cache while they are hashed (a
                    // whole block read at once is evicted before the hash reaches its end).
                    let mut buf = vec![0u8; PIECE];
                    for (i, slot) in out.iter_mut().enumerate() {
                        let start = ((t * per + i) as u64) * BLOCK;
                        let end = (start + BLOCK).min(len);
                        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
                        let mut at = start;
                        while at < end {
                            let n = ((end - at) as usize).min(PIECE);
                            file.read_exact_at(&mut buf[..n], at)?;
                            hasher.update(&buf[..n]);
                            at += n as u64;
                        }
                        *slot = hasher.digest();
                    }
                    Ok(())
                })
            })
            .collect();
        for w in workers {
            w.join()
                .map_err(|_| std::io::Error::other("a hashing thread stopped"))??;
        }
        Ok(())
    })?;
    Ok(Fingerprint {
        len,
        mtime_ns: nanos(meta.mtime(), meta.mtime_nsec()),
        ctime_ns: nanos(meta.ctime(), meta.ctime_nsec()),
        inode: meta.ino(),
        device: meta.dev(),
        blocks,
    })
}

/// The time on the file system's clock: the modification time of a file made now.
fn file_system_now(dir: &Path) -> std::io::Result<i128> {
    crate::base::files::private_dir(dir)?;
    let probe = tempfile::NamedTempFile::new_in(dir)?;
    let meta = probe.as_file().metadata()?;
    Ok(nanos(meta.mtime(), meta.mtime_nsec()))
}

/// The file at `path` fingerprinted now, with the time on the file system's clock (`dir`'s)
/// read before the hashing; None when it cannot be read.
pub(super) fn taken(dir: &Path, path: &Path) -> Option<(Fingerprint, i128)> {
    let hashed_at_ns = file_system_now(dir).unwrap_or(0);
    fingerprint(path).ok().map(|f| (f, hashed_at_ns))
}

/// The same file, untouched since well after it was hashed (at `hashed_at_ns`).
pub(super) fn untouched(path: &Path, old: &Fingerprint, hashed_at_ns: i128) -> bool {
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    let ctime = nanos(meta.ctime(), meta.ctime_nsec());
    meta.len() == old.len
        && nanos(meta.mtime(), meta.mtime_nsec()) == old.mtime_ns
        && ctime == old.ctime_ns
        && meta.ino() == old.inode
        && meta.dev() == old.device
        && hashed_at_ns - ctime > RACY_NS
}

/// Whether `old` is a prefix of the file `new` describes: every old full block the same, and
/// the old last block the same as the new file's bytes up to the old end.
pub(super) fn is_prefix(
    path: &Path,
    old: &Fingerprint,
    new: &Fingerprint,
) -> std::io::Result<bool> {
    if old.len == 0 || new.len <= old.len {
        return Ok(false);
    }
    let full = (old.len / BLOCK) as usize;
    if old.blocks[..full] != new.blocks[..full] {
        return Ok(false);
    }
    let file = std::fs::File::open(path)?;
    let mut last = [0u8];
    file.read_exact_at(&mut last, old.len - 1)?;
    if last[0] != b'\n' {
        return Ok(false); // the old last row may have grown
    }
    if old.len.is_multiple_of(BLOCK) {
        return Ok(true);
    }
    let start = full as u64 * BLOCK;
    let mut buf = vec![0u8; (old.len - start) as usize];
    file.read_exact_at(&mut buf, start)?;
    Ok(xxhash_rust::xxh3::xxh3_64(&buf) == old.blocks[full])
}
