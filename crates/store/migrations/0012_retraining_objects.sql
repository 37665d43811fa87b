-- Retraining notes become one row per object version: a redelivered or replayed
-- `Object Created` is noted once, and a run takes exactly the objects noted before its
-- window closed (those noted later open the next window). Ids grow in commit order (one
-- writer), so "noted by then" is `id <= the last id seen`.

CREATE TABLE pipeline_retraining_objects (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    pipeline TEXT NOT NULL,
    object   TEXT NOT NULL,
    noted_at INTEGER NOT NULL,
    run      TEXT,
    UNIQUE (pipeline, object)
);
CREATE INDEX pipeline_retraining_open ON pipeline_retraining_objects (pipeline, run, id);

INSERT INTO pipeline_retraining_objects (pipeline, object, noted_at, run)
    SELECT pipeline, 'window-opened-at:' || first_at, first_at, NULL FROM pipeline_retraining;
DROP TABLE pipeline_retraining;

-- The reconciler looks at open runs often.
CREATE INDEX pipeline_runs_open ON pipeline_runs (status) WHERE status IN ('Running', 'WaitingForApproval');
