-- Attempt history for the dashboard's operation page (SPEC §15, issue 15). Written only when
-- something fails, so an operation that succeeds the first time costs nothing more.

-- The failed attempts of an operation, oldest first: a JSON array of
-- {"attempt", "started", "ended", "errorCode", "errorMessage", "owner"} (times in Unix ms),
-- appended (`||`) in the same UPDATE that schedules the retry or writes the final failure (a
-- lease taken back counts as a failed attempt). Only the last 20 are kept. NULL: none failed.
-- Adding a nullable column without a default rewrites nothing.
ALTER TABLE backgroundoperation ADD COLUMN attempthistory JSONB;

-- When the row's latest attempt started (Unix ms), set by the write that records the start, so
-- a retry that succeeds or is still running shows its start too (`starttime` keeps the first).
ALTER TABLE backgroundoperation ADD COLUMN attemptstartedon BIGINT;

-- The failed tries of a callback delivery, oldest first: a JSON array of
-- {"attempt", "started", "ended", "error", "owner"}, appended by the write that records the
-- failure; the last 20 are kept. NULL: no try failed.
ALTER TABLE callbackdelivery ADD COLUMN tries JSONB;
