-- Processing jobs (evaluation runs), and what a model group does with a candidate whose
-- gate failed.

CREATE TABLE processing_jobs (
    name             TEXT PRIMARY KEY,
    arn              TEXT NOT NULL,
    request          TEXT NOT NULL,             -- CreateProcessingJob body, JSON
    status           TEXT NOT NULL,
    failure_reason   TEXT,
    exit_message     TEXT,
    dataset          TEXT NOT NULL DEFAULT '[]', -- objects read: [{"Uri", "ETag", "Size"}]
    stop_requested   INTEGER NOT NULL DEFAULT 0,
    pid              INTEGER,
    created_at       INTEGER NOT NULL,
    processing_start INTEGER,
    processing_end   INTEGER,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX processing_jobs_by_status ON processing_jobs (status, created_at);

-- register-rejected: a failed candidate becomes a Rejected version with the reason;
-- discard: it is not registered at all.
ALTER TABLE model_package_groups ADD COLUMN gate_failure
    TEXT NOT NULL DEFAULT 'register-rejected' CHECK (gate_failure IN ('register-rejected', 'discard'));
