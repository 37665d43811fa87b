-- Server replicas sharing one database: each records a heartbeat, and each delivery in
-- progress names the replica that claimed it, so that a departed replica's claims can be
-- released at once instead of when their leases run out.
CREATE TABLE replicas (
    id           TEXT PRIMARY KEY,
    url          TEXT NOT NULL,
    started_at   INTEGER NOT NULL,
    heartbeat_at INTEGER NOT NULL
);

ALTER TABLE deliveries ADD COLUMN claimed_by TEXT;

-- Long-running work (a job, an endpoint's creation or deployment) and the replica that
-- runs it; another replica adopts it when its owner is gone.
CREATE TABLE work_owners (
    kind  TEXT NOT NULL,
    name  TEXT NOT NULL,
    owner TEXT NOT NULL,
    PRIMARY KEY (kind, name)
);
