-- Identity: users, service accounts and roles (root is the admin token and is not stored),
-- customer-managed policies, attachments, inline policies, access keys, role sessions, and
-- the audit trail. No secret is stored: keys and session tokens are kept as SHA-256 digests
-- (their signing secrets are derived from the server's master key when needed).

CREATE TABLE iam_principals (
    id                  TEXT PRIMARY KEY,          -- AWS-style unique id: AIDA… users, AROA… roles
    kind                TEXT NOT NULL,             -- user | service-account | role
    name                TEXT NOT NULL,
    -- Invariant: names are unique case-insensitively within users (with service accounts) and within roles.
    name_key            TEXT NOT NULL UNIQUE,
    path                TEXT NOT NULL DEFAULT '/',
    description         TEXT,
    trust_policy        TEXT,
    max_session_seconds INTEGER,
    boundary_arn        TEXT,
    tags                TEXT NOT NULL DEFAULT '{}',
    created_at          INTEGER NOT NULL
);

CREATE TABLE iam_policies (
    arn         TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    name_key    TEXT NOT NULL UNIQUE,
    description TEXT,
    document    TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE iam_attachments (
    principal_id TEXT NOT NULL REFERENCES iam_principals (id) ON DELETE CASCADE,
    policy_arn   TEXT NOT NULL,
    PRIMARY KEY (principal_id, policy_arn)
);

CREATE TABLE iam_inline_policies (
    principal_id TEXT NOT NULL REFERENCES iam_principals (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    document     TEXT NOT NULL,
    PRIMARY KEY (principal_id, name)
);

CREATE TABLE iam_access_keys (
    id            TEXT PRIMARY KEY,                -- AKIA…
    principal_id  TEXT NOT NULL REFERENCES iam_principals (id) ON DELETE CASCADE,
    secret_digest BLOB NOT NULL UNIQUE,
    status        TEXT NOT NULL,                   -- Active | Inactive
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER
);

CREATE TABLE iam_sessions (
    id             TEXT PRIMARY KEY,               -- ASIA…
    role_id        TEXT NOT NULL REFERENCES iam_principals (id) ON DELETE CASCADE,
    session_name   TEXT NOT NULL,
    token_digest   BLOB NOT NULL UNIQUE,
    session_policy TEXT,
    issued_by      TEXT NOT NULL,                  -- the ARN of who assumed the role
    issued_at      INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    revoked_at     INTEGER
);
CREATE INDEX iam_sessions_by_expiry ON iam_sessions (expires_at);

CREATE TABLE audit_records (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id      TEXT NOT NULL UNIQUE,
    time          INTEGER NOT NULL,
    principal_arn TEXT NOT NULL,
    event_name    TEXT NOT NULL,
    denied        INTEGER NOT NULL,
    record        TEXT NOT NULL
);
CREATE INDEX audit_records_by_time ON audit_records (time);
CREATE INDEX audit_records_by_principal ON audit_records (principal_arn, seq);
