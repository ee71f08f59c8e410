//! Deliveries noted one small row each as they happen, and folded into the outbox rows and the
//! units' alert memory a batch at a time (by the next take, at the end of a pass, and when a store
//! is opened after its process stopped).

use rusqlite::{params, Connection};

/// Marks sent, in the outbox and in the units' alert memory, the deliveries `mark_sent` noted;
/// inside the caller's transaction. Returns how many.
pub(super) fn fold_sent(c: &Connection) -> rusqlite::Result<usize> {
    let noted: Vec<(i64, String)> = {
        let mut st = c.prepare("SELECT id, sent_at FROM outbox_sent ORDER BY id")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for (id, at) in &noted {
        c.execute(
            "UPDATE outbox SET status = 'sent', sent_at = ?2, attempts = attempts + 1, last_error = NULL, owner = NULL, lease_until = NULL WHERE id = ?1",
            params![id, at],
        )?;
        // An alert's delivery is remembered for the unit: reminders count from it.
        c.execute(
            "UPDATE alert_state SET last_delivered_at = ?2
             WHERE last_alert_at IS NOT NULL AND (last_delivered_at IS NULL OR last_delivered_at < ?2)
               AND (job, unit, plan_year) IN (
                 SELECT d.job, d.unit, d.plan_year FROM decisions d JOIN outbox o ON o.message_id = d.message_id
                 WHERE o.id = ?1 AND o.kind = 'alert' AND d.reason != 'recovered')",
            params![id, at],
        )?;
    }
    if !noted.is_empty() {
        c.execute("DELETE FROM outbox_sent", [])?;
    }
    Ok(noted.len())
}
