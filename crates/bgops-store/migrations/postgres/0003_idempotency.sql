-- Idempotency keys (SPEC §15), as SQLite's migration 0010: a submission with an
-- `Idempotency-Key` header stores its key here in the same transaction as its operation. The
-- primary key makes two nodes taking one key at once wait for each other: the second sees the
-- first's key once it commits, and stores nothing. A key at or past `expiresat` is free again
-- (replaced in place) and the TTL sweep deletes it.
CREATE TABLE idempotencykey (
    userid                TEXT   NOT NULL,
    idempotencykey        TEXT   NOT NULL,
    fingerprint           TEXT   NOT NULL,
    backgroundoperationid TEXT   NOT NULL,
    createdon             BIGINT NOT NULL,
    expiresat             BIGINT NOT NULL,
    PRIMARY KEY (userid, idempotencykey)
);

CREATE INDEX ix_idempotencykey_expires ON idempotencykey (expiresat);

-- Streams of every change (`GET /api/events`) read "operations changed after version V, in
-- version order": this index makes that a range scan.
CREATE INDEX ix_bo_version ON backgroundoperation (versionnumber);
