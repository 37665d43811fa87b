-- Lambda functions: runtime, handler, code version and size, memory, concurrency (JSON);
-- NULL for a command function.
ALTER TABLE functions ADD COLUMN lambda TEXT;
