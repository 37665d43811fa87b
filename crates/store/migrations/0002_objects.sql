-- Object storage metadata: the bytes live in the object store, keyed
-- <bucket>/<key>; sizes, ETags (MD5) and content types live here.

CREATE TABLE buckets (
    name        TEXT PRIMARY KEY,
    created_at  INTEGER NOT NULL
);

CREATE TABLE objects (
    bucket        TEXT NOT NULL REFERENCES buckets(name),
    key           TEXT NOT NULL,
    size          INTEGER NOT NULL,
    etag          TEXT NOT NULL,
    content_type  TEXT NOT NULL,
    last_modified INTEGER NOT NULL,
    PRIMARY KEY (bucket, key)
);
