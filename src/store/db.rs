//! The state store's database: SQLite at `state_dir/disbmon.sqlite3` (WAL), opened and brought
//! up to date, and the one connection every operation goes through. The operations themselves
//! are in the modules beside this one, one per kind of state.

use super::schema::MIGRATIONS;
use crate::base::files::{private_dir, private_file};
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Why the state store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "cannot create the state folder {path}: {source}; check state_dir and its permissions"
    )]
    Folder {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("state store {path}: {source}")]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("state store {path} has schema version {found}, newer than this disbmon knows ({known}); upgrade disbmon")]
    TooNew {
        path: PathBuf,
        found: usize,
        known: usize,
    },
    #[error("state store {0}: a thread failed while using it; restart disbmon")]
    Poisoned(PathBuf),
    #[error("job {job}: {tries} hand runs are already recorded from {from} on; wait a second and run it again")]
    Crowded {
        job: String,
        from: String,
        tries: u32,
    },
}

/// The database file in the state folder.
pub const FILE: &str = "disbmon.sqlite3";

pub struct Store {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl Store {
    /// Opens (creating if needed) `state_dir/disbmon.sqlite3` and brings its schema up to date.
    pub fn open(state_dir: &Path) -> Result<Store, StoreError> {
        private_dir(state_dir).map_err(|source| StoreError::Folder {
            path: state_dir.to_path_buf(),
            source,
        })?;
        let path = state_dir.join(FILE);
        // Created readable by its owner only (SQLite gives its journal files the same mode):
        // the store holds every message sent, with its recipients.
        private_file(&path).map_err(|source| StoreError::Folder {
            path: path.clone(),
            source,
        })?;
        let fail = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let conn = Connection::open(&path).map_err(fail)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(fail)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(fail)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(fail)?;
        // The write lock is taken before the version is read, so that two processes opening a
        // new store at once (the daemon and `disbmon status`) do not both migrate it.
        conn.execute_batch("BEGIN IMMEDIATE").map_err(fail)?;
        let migrated = (|| -> Result<(), StoreError> {
            let version: usize = conn
                .pragma_query_value(None, "user_version", |r| r.get(0))
                .map_err(fail)?;
            if version > MIGRATIONS.len() {
                return Err(StoreError::TooNew {
                    path: path.clone(),
                    found: version,
                    known: MIGRATIONS.len(),
                });
            }
            for sql in &MIGRATIONS[version..] {
                conn.execute_batch(sql).map_err(fail)?;
            }
            conn.pragma_update(None, "user_version", MIGRATIONS.len())
                .map_err(fail)?;
            // Deliveries a process noted before it stopped are marked sent before anyone reads.
            super::sent::fold_sent(&conn).map_err(fail)?;
            Ok(())
        })();
        match migrated {
            Ok(()) => conn.execute_batch("COMMIT").map_err(fail)?,
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(e);
            }
        }
        Ok(Store {
            path,
            conn: Mutex::new(conn),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(super) fn fail(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// Runs `f` on the connection; a failure names the store.
    pub(super) fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        let mut conn = self
            .conn
            .lock()
            .map_err(|_| StoreError::Poisoned(self.path.clone()))?;
        f(&mut conn).map_err(|e| self.fail(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::outbox::Take;
    use crate::store::sql::ts;
    use chrono::TimeZone;
    use chrono::{DateTime, Utc};
    use rusqlite::params;
    use std::time::Duration;

    fn t(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 30, h, 0, 0).unwrap()
    }

    #[test]
    fn a_store_of_the_previous_schema_keeps_its_waiting_messages() {
        let dir = tempfile::tempdir().unwrap();
        {
            let c = Connection::open(dir.path().join("disbmon.sqlite3")).unwrap();
            for sql in &MIGRATIONS[..3] {
                c.execute_batch(sql).unwrap();
            }
            c.pragma_update(None, "user_version", 3).unwrap();
            for rcpt in ["a@x.vn", "b@x.vn"] {
                c.execute(
                    "INSERT INTO outbox (message_id, job, kind, recipient, subject, raw, status, next_attempt_at, deadline_at, created_at)
                     VALUES ('<m@x>', 'j', 'digest', ?1, 's', X'6869', 'pending', ?2, ?3, ?2)",
                    params![rcpt, ts(t(1)), ts(t(9))],
                )
                .unwrap();
            }
        }
        let s = Store::open(dir.path()).unwrap();
        let bodies: i64 = s
            .with(|c| c.query_row("SELECT COUNT(*) FROM message_bodies", [], |r| r.get(0)))
            .unwrap();
        assert_eq!(bodies, 1);
        let taken = s
            .take_due(Take {
                now: t(2),
                lease: Duration::from_secs(60),
                only: None,
                most: 1,
            })
            .unwrap()
            .remove(0);
        assert_eq!(
            (taken.row.recipient.as_str(), taken.raw.as_slice()),
            ("a@x.vn", &b"hi"[..])
        );
    }
}
