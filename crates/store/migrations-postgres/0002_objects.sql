-- Object storage metadata (PostgreSQL): buckets and objects (sizes, ETags, content types); the bytes live in the object store.
-- Keys compare bytewise (COLLATE "C", as SQLite's BINARY and S3's UTF-8 binary order): listings
-- page with `key > start_after` and select prefixes with a range on the primary key.

CREATE TABLE buckets (
    name        TEXT PRIMARY KEY,
    created_at  BIGINT NOT NULL
);

CREATE TABLE objects (
    bucket        TEXT NOT NULL REFERENCES buckets(name),
    key           TEXT COLLATE "C" NOT NULL,
    size          BIGINT NOT NULL,
    etag          TEXT NOT NULL,
    content_type  TEXT NOT NULL,
    last_modified BIGINT NOT NULL,
    PRIMARY KEY (bucket, key)
);
