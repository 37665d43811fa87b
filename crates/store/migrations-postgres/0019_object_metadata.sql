-- S3 user metadata (x-amz-meta-*) and object tags as JSON objects of strings, TEXT (PostgreSQL).
ALTER TABLE objects ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}';
ALTER TABLE objects ADD COLUMN tags TEXT NOT NULL DEFAULT '{}';
