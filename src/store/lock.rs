//! One daemon per state folder: the OS file lock `disbmon run` holds for its whole life.

use crate::base::files::private_dir;
use std::path::{Path, PathBuf};

/// Why `disbmon run` may not start on a state folder.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another `disbmon run` (PID {pid}) already uses the state folder {dir}; stop it first, or give this one its own state_dir")]
    Held { dir: PathBuf, pid: String },
    #[error("cannot lock {path}: {source}; check state_dir and its permissions")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Held by `disbmon run` for its whole life: one daemon per state folder. The lock is the
/// kernel's (flock), so it goes away with the process however it ends.
#[derive(Debug)]
pub struct DaemonLock {
    _file: std::fs::File,
}

impl DaemonLock {
    pub fn acquire(state_dir: &Path) -> Result<DaemonLock, LockError> {
        use std::io::{Read, Seek, Write};
        let path = state_dir.join("disbmon.lock");
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        private_dir(state_dir).map_err(io)?;
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                return Err(LockError::Held {
                    dir: state_dir.to_path_buf(),
                    pid: pid.trim().to_string(),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        Ok(DaemonLock { _file: file })
    }
}
