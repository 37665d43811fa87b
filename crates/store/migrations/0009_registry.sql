-- The OCI registry: repositories, content-addressed blobs and the repositories that may
-- read them, manifests stored byte-exact, tags, and uploads in progress.

CREATE TABLE registry_repositories (
    name       TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL
);

CREATE TABLE registry_blobs (
    digest     TEXT PRIMARY KEY,
    size       INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE registry_repository_blobs (
    repository TEXT NOT NULL REFERENCES registry_repositories(name) ON DELETE CASCADE,
    digest     TEXT NOT NULL REFERENCES registry_blobs(digest),
    created_at INTEGER NOT NULL,
    PRIMARY KEY (repository, digest)
);
CREATE INDEX registry_repository_blobs_digest ON registry_repository_blobs (digest);

CREATE TABLE registry_manifests (
    repository    TEXT NOT NULL REFERENCES registry_repositories(name) ON DELETE CASCADE,
    digest        TEXT NOT NULL,
    media_type    TEXT NOT NULL,
    content       BLOB NOT NULL,
    subject       TEXT,
    artifact_type TEXT,
    annotations   TEXT,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (repository, digest)
);
CREATE INDEX registry_manifests_subject ON registry_manifests (repository, subject);

CREATE TABLE registry_tags (
    repository TEXT NOT NULL,
    tag        TEXT NOT NULL,
    digest     TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (repository, tag),
    FOREIGN KEY (repository, digest) REFERENCES registry_manifests(repository, digest) ON DELETE CASCADE
);

CREATE TABLE registry_uploads (
    id         TEXT PRIMARY KEY,
    repository TEXT NOT NULL REFERENCES registry_repositories(name) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX registry_uploads_updated ON registry_uploads (updated_at);
