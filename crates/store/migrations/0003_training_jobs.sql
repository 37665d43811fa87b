-- Training jobs: the request as sent, the lifecycle as it happened, and metrics.

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
    stop_requested    INTEGER NOT NULL DEFAULT 0,
    pid               INTEGER,
    attempts          INTEGER NOT NULL DEFAULT 0,
    created_at        INTEGER NOT NULL,
    training_start    INTEGER,
    training_end      INTEGER,
    updated_at        INTEGER NOT NULL
);
CREATE INDEX training_jobs_by_status ON training_jobs (status, created_at);

CREATE TABLE training_metrics (
    job        TEXT NOT NULL REFERENCES training_jobs(name) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    name       TEXT NOT NULL,
    value      REAL NOT NULL,
    timestamp  INTEGER NOT NULL,
    PRIMARY KEY (job, seq)
);
