-- S3 user metadata (x-amz-meta-*) and object tags, JSON objects of strings.
ALTER TABLE objects ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}';
ALTER TABLE objects ADD COLUMN tags TEXT NOT NULL DEFAULT '{}';
