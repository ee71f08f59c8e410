//! The files disbmon writes hold official mail or source data: folders and files only their
//! owner may open, and files replaced whole, never seen half-written.

use std::path::Path;

/// Creates a folder (and its parents) that only its owner may enter: 0700 on Unix. A folder that
/// exists keeps its mode — an operator may have chosen another.
pub fn private_dir(path: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(path)
}

/// Creates a file only its owner may read (0600 on Unix), unless it exists.
pub fn private_file(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map(|_| ())
}

/// Writes a file whole or not at all: into a temporary file beside it, then renamed over it.
pub fn replace_file(
    path: &Path,
    write: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> std::io::Result<()> {
    replaced(path, write, true)
}

/// [`replace_file`] without waiting for the disk: for a cache whose reader checks what it reads
/// (a file cut short by a crash is then not read, and costs what losing it costs).
pub fn replace_cache_file(
    path: &Path,
    write: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> std::io::Result<()> {
    replaced(path, write, false)
}

fn replaced(
    path: &Path,
    write: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
    sync: bool,
) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    write(tmp.as_file_mut())?;
    if sync {
        tmp.as_file().sync_all()?;
    }
    tmp.persist(path).map(|_| ()).map_err(|e| e.error)
}
