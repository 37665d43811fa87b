-- The OCI registry (PostgreSQL): repositories, content-addressed blobs and their links, byte-exact manifests (BYTEA), tags, uploads.
-- Repository names and tags compare bytewise (COLLATE "C", as SQLite's BINARY): the catalog and
-- tag lists page with `name > last` / `tag > last` in lexical order.

CREATE TABLE registry_repositories (
    name       TEXT COLLATE "C" PRIMARY KEY,
    created_at BIGINT NOT NULL
);

CREATE TABLE registry_blobs (
    digest     TEXT PRIMARY KEY,
    size       BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE registry_repository_blobs (
    repository TEXT COLLATE "C" NOT NULL REFERENCES registry_repositories(name) ON DELETE CASCADE,
    digest     TEXT NOT NULL REFERENCES registry_blobs(digest),
    created_at BIGINT NOT NULL,
    PRIMARY KEY (repository, digest)
);
CREATE INDEX registry_repository_blobs_digest ON registry_repository_blobs (digest);

CREATE TABLE registry_manifests (
    repository    TEXT COLLATE "C" NOT NULL REFERENCES registry_repositories(name) ON DELETE CASCADE,
    digest        TEXT NOT NULL,
    media_type    TEXT NOT NULL,
    content       BYTEA NOT NULL,
    subject       TEXT,
    artifact_type TEXT,
    annotations   TEXT,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (repository, digest)
);
CREATE INDEX registry_manifests_subject ON registry_manifests (repository, subject);

CREATE TABLE registry_tags (
    repository TEXT COLLATE "C" NOT NULL,
    tag        TEXT COLLATE "C" NOT NULL,
    digest     TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (repository, tag),
    FOREIGN KEY (repository, digest) REFERENCES registry_manifests(repository, digest) ON DELETE CASCADE
);

CREATE TABLE registry_uploads (
    id         TEXT PRIMARY KEY,
    repository TEXT COLLATE "C" NOT NULL REFERENCES registry_repositories(name) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX registry_uploads_updated ON registry_uploads (updated_at);
