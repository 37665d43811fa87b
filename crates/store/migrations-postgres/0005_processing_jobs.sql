-- Processing jobs (PostgreSQL), and what a model group does with a candidate whose gate failed.
-- stop_requested stays BIGINT 0/1: the Rust code writes the literal 1 and decodes it as i64.

CREATE TABLE processing_jobs (
    name             TEXT PRIMARY KEY,
    arn              TEXT NOT NULL,
    request          TEXT NOT NULL,             -- CreateProcessingJob body, JSON
    status           TEXT NOT NULL,
    failure_reason   TEXT,
    exit_message     TEXT,
    dataset          TEXT NOT NULL DEFAULT '[]', -- objects read: [{"Uri", "ETag", "Size"}]
    stop_requested   BIGINT NOT NULL DEFAULT 0,
    pid              BIGINT,
    created_at       BIGINT NOT NULL,
    processing_start BIGINT,
    processing_end   BIGINT,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX processing_jobs_by_status ON processing_jobs (status, created_at);

-- register-rejected: a failed candidate becomes a Rejected version with the reason;
-- discard: it is not registered at all.
ALTER TABLE model_package_groups ADD COLUMN gate_failure
    TEXT NOT NULL DEFAULT 'register-rejected' CHECK (gate_failure IN ('register-rejected', 'discard'));
