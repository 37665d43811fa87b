-- Training jobs (PostgreSQL): the request as sent, the lifecycle as it happened, and metrics.
-- stop_requested stays BIGINT 0/1: the Rust code writes the literal 1 and decodes it as i64.

CREATE TABLE training_jobs (
    name              TEXT PRIMARY KEY,
    arn               TEXT NOT NULL,
    request           TEXT NOT NULL,             -- CreateTrainingJob body, JSON
    status            TEXT NOT NULL,
    secondary_status  TEXT NOT NULL,
    transitions       TEXT NOT NULL DEFAULT '[]', -- SecondaryStatusTransitions, JSON
    failure_reason    TEXT,
    model_artifacts   TEXT,
    final_metrics     TEXT NOT NULL DEFAULT '[]',
    dataset           TEXT NOT NULL DEFAULT '[]', -- objects read: [{"Uri", "ETag", "Size"}]
    stop_requested    BIGINT NOT NULL DEFAULT 0,
    pid               BIGINT,
    attempts          BIGINT NOT NULL DEFAULT 0,
    created_at        BIGINT NOT NULL,
    training_start    BIGINT,
    training_end      BIGINT,
    updated_at        BIGINT NOT NULL
);
CREATE INDEX training_jobs_by_status ON training_jobs (status, created_at);

CREATE TABLE training_metrics (
    job        TEXT NOT NULL REFERENCES training_jobs(name) ON DELETE CASCADE,
    seq        BIGINT NOT NULL,
    name       TEXT NOT NULL,
    value      DOUBLE PRECISION NOT NULL,
    timestamp  BIGINT NOT NULL,
    PRIMARY KEY (job, seq)
);
