//! Whether the process that took a row (a run, an outbox message) may still be working on it, so
//! that what a killed process left behind is taken back at once instead of waiting for a lease.

use rusqlite::Connection;
use std::path::Path;

/// The ids of the rows `select` yields (id, owner PID) whose owning process is gone.
pub(super) fn orphaned(c: &Connection, select: &str) -> rusqlite::Result<Vec<i64>> {
    let mut st = c.prepare(select)?;
    let rows = st.query_map([], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, Option<u32>>(1)?))
    })?;
    let mut dead = Vec::new();
    for row in rows {
        let (id, pid) = row?;
        if pid.is_none_or(|p| !process_alive(p)) {
            dead.push(id);
        }
    }
    Ok(dead)
}

/// Whether the process that took a row may still be working on it. On Linux a process that is
/// gone has no /proc entry; elsewhere the lease alone decides.
fn process_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    let proc_root = Path::new("/proc/self");
    if !proc_root.exists() {
        return true;
    }
    Path::new(&format!("/proc/{pid}")).exists()
}
