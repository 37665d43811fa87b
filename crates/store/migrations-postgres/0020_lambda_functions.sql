-- Lambda functions' configuration as JSON TEXT, NULL for a command function (PostgreSQL).
ALTER TABLE functions ADD COLUMN lambda TEXT;
