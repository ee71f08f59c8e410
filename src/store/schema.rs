//! The schema, as versioned migrations: a store is brought up to date when it is opened, under
//! one write lock, and a store newer than this disbmon is refused.

/// Schema migrations, in order; the database's `user_version` says how many have been applied.
pub(super) const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    job TEXT NOT NULL,
    scheduled_at TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    outcome TEXT NOT NULL,
    units_behind INTEGER,
    emails_sent INTEGER,
    emails_failed INTEGER,
    error TEXT,
    UNIQUE (job, scheduled_at)
);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE notices (job TEXT NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL, sent_at TEXT NOT NULL,
                      PRIMARY KEY (job, kind, key));
"#,
    r#"
ALTER TABLE runs ADD COLUMN as_of TEXT;
ALTER TABLE runs ADD COLUMN data_issues TEXT;
CREATE TABLE unit_figures (
    job TEXT NOT NULL, scheduled_at TEXT NOT NULL, as_of TEXT NOT NULL, plan_year INTEGER NOT NULL,
    unit TEXT NOT NULL, plan INTEGER NOT NULL, disbursed INTEGER NOT NULL, rate REAL, expected REAL NOT NULL,
    status TEXT NOT NULL,
    PRIMARY KEY (job, scheduled_at, unit)
);
CREATE TABLE alert_state (
    job TEXT NOT NULL, unit TEXT NOT NULL, plan_year INTEGER NOT NULL,
    status TEXT NOT NULL,
    episode_since TEXT,
    alerts_in_episode INTEGER NOT NULL DEFAULT 0,
    last_alert_at TEXT,
    suppressed INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (job, unit, plan_year)
);
CREATE TABLE decisions (
    id INTEGER PRIMARY KEY, job TEXT NOT NULL, scheduled_at TEXT NOT NULL, unit TEXT NOT NULL,
    plan_year INTEGER NOT NULL, status TEXT NOT NULL, reason TEXT NOT NULL, escalated INTEGER NOT NULL,
    message_id TEXT, decided_at TEXT NOT NULL
);
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY, message_id TEXT NOT NULL, job TEXT NOT NULL, unit TEXT, kind TEXT NOT NULL,
    reason TEXT, recipient TEXT NOT NULL, subject TEXT NOT NULL, raw BLOB NOT NULL,
    status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at TEXT NOT NULL,
    deadline_at TEXT NOT NULL, last_error TEXT, created_at TEXT NOT NULL, sent_at TEXT,
    reported INTEGER NOT NULL DEFAULT 0,
    UNIQUE (message_id, recipient)
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE TABLE silences (
    id INTEGER PRIMARY KEY, job TEXT NOT NULL, unit TEXT NOT NULL, until TEXT NOT NULL, reason TEXT NOT NULL,
    created_at TEXT NOT NULL, removed_at TEXT
);
"#,
    // Who started a run (manual runs are never replayed), leases on messages being sent, when an
    // alert last reached a unit, and when the daemon first and last watched each job.
    r#"
ALTER TABLE runs ADD COLUMN started_by TEXT NOT NULL DEFAULT 'schedule';
ALTER TABLE runs ADD COLUMN pid INTEGER;
ALTER TABLE outbox ADD COLUMN owner INTEGER;
ALTER TABLE outbox ADD COLUMN lease_until TEXT;
ALTER TABLE alert_state ADD COLUMN last_delivered_at TEXT;
CREATE TABLE job_seen (job TEXT PRIMARY KEY, first_seen TEXT NOT NULL, last_seen TEXT NOT NULL);
INSERT INTO job_seen (job, first_seen, last_seen)
    SELECT DISTINCT r.job, m.value, m.value FROM runs r JOIN meta m ON m.key = 'heartbeat';
CREATE INDEX outbox_message ON outbox (message_id);
-- A unit's decisions (alert in flight), and a sent message's decision (last delivered alert).
CREATE INDEX decisions_unit ON decisions (job, unit, plan_year);
CREATE INDEX decisions_message ON decisions (message_id);
"#,
    // One stored copy of each message, its recipients beside it (a row each); the run that
    // queued a message, so that a run's messages held by the mass-mailing guard can be released.
    r#"
CREATE TABLE message_bodies (message_id TEXT PRIMARY KEY, raw BLOB NOT NULL);
INSERT OR IGNORE INTO message_bodies (message_id, raw) SELECT message_id, raw FROM outbox ORDER BY id;
ALTER TABLE outbox DROP COLUMN raw;
ALTER TABLE outbox ADD COLUMN run_id INTEGER;
CREATE INDEX outbox_run ON outbox (run_id);
"#,
    // The next message to send found in the index, however many have been sent before it.
    r#"
CREATE INDEX outbox_waiting ON outbox (status, id);
"#,
    // What the dashboard shows of a unit beyond its figures, from the latest run that measured it:
    // its name, its curve, last year's, the milestones, its capital sources.
    r#"
CREATE TABLE unit_details (
    job TEXT NOT NULL, unit TEXT NOT NULL, scheduled_at TEXT NOT NULL, detail TEXT NOT NULL,
    PRIMARY KEY (job, unit)
);
"#,
    // Units' answers to their alerts (reasons, commitments): through a signed link (`link_id`,
    // used once) or from the answers source (`source_key`, imported once); what the unit had
    // disbursed when it answered, to check its commitments against later.
    r#"
CREATE TABLE answers (
    id INTEGER PRIMARY KEY,
    job TEXT NOT NULL, unit TEXT NOT NULL, plan_year INTEGER NOT NULL,
    via TEXT NOT NULL, link_id TEXT UNIQUE, source_key TEXT UNIQUE,
    received_at TEXT NOT NULL, ip TEXT,
    reasons TEXT NOT NULL, note TEXT NOT NULL DEFAULT '',
    disbursed_then INTEGER NOT NULL
);
CREATE INDEX answers_unit ON answers (job, unit, plan_year);
CREATE TABLE commitments (
    answer_id INTEGER NOT NULL REFERENCES answers (id),
    amount INTEGER NOT NULL, due TEXT NOT NULL
);
CREATE INDEX commitments_answer ON commitments (answer_id);
-- The answer form reads one unit's latest figures of a plan year.
CREATE INDEX unit_figures_unit ON unit_figures (job, unit, plan_year, scheduled_at);
"#,
    // A delivery is noted in a row of its own (a commit of one small page a message, where marking
    // the outbox row rewrote its pages and two indexes'), folded into the outbox and the units'
    // alert memory a batch at a time; bodies are stored compressed from now on.
    r#"
CREATE TABLE outbox_sent (id INTEGER PRIMARY KEY, sent_at TEXT NOT NULL);
ALTER TABLE message_bodies ADD COLUMN packed INTEGER NOT NULL DEFAULT 0;
"#,
    // A run's messages compressed against its first one (they share their template): a body
    // of a few hundred bytes instead of a page each.
    r#"
CREATE TABLE message_dicts (id INTEGER PRIMARY KEY, raw BLOB NOT NULL);
ALTER TABLE message_bodies ADD COLUMN dict INTEGER REFERENCES message_dicts (id);
"#,
];
