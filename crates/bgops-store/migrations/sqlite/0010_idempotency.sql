-- Idempotency keys (SPEC §15): a submission with an `Idempotency-Key` header stores its key
-- here in the same transaction as its operation, so one user's key creates at most one
-- operation while it lives. `fingerprint` tells a retry (same request) from a reuse of the key
-- for another request. A key at or past `expiresat` is free again (replaced in place) and the
-- TTL sweep deletes it. The operation may be deleted by its own TTL before its key expires.
CREATE TABLE idempotencykey (
    userid                TEXT    NOT NULL,
    idempotencykey        TEXT    NOT NULL,
    fingerprint           TEXT    NOT NULL,
    backgroundoperationid TEXT    NOT NULL,
    createdon             INTEGER NOT NULL,
    expiresat             INTEGER NOT NULL,
    PRIMARY KEY (userid, idempotencykey)
) WITHOUT ROWID;

CREATE INDEX ix_idempotencykey_expires ON idempotencykey (expiresat);

-- Streams of every change (`GET /api/events`) read "operations changed after version V, in
-- version order": this index makes that a range scan.
CREATE INDEX ix_bo_version ON backgroundoperation (versionnumber);
