-- Completion callbacks (SPEC §3, §9, issue 5).

-- What a submission asked for: the callback URL (already checked against the URL rules) and the
-- status monitor URL the caller was given, which the callback payload carries.
ALTER TABLE backgroundoperation ADD COLUMN callbackurl TEXT;
ALTER TABLE backgroundoperation ADD COLUMN location TEXT;

-- The outbox: one row per callback to send, written in the same transaction as the terminal
-- state of its operation, so a crash between the two loses nothing. The payload's values are
-- copied here, so a delivery needs no other row.
CREATE TABLE callbackdelivery (
    callbackdeliveryid            TEXT    PRIMARY KEY NOT NULL,
    backgroundoperationid         TEXT    NOT NULL,
    url                           TEXT    NOT NULL,
    location                      TEXT    NOT NULL,
    backgroundoperationstatecode  INTEGER NOT NULL,
    backgroundoperationstatuscode INTEGER NOT NULL,
    errorcode                     INTEGER,
    errormessage                  TEXT,
    -- `webhook-id`: the same on every attempt, so receivers can drop duplicates.
    webhookid                     TEXT    NOT NULL,
    -- attempts started so far; the current one fences the lease holder's writes
    attempts                      INTEGER NOT NULL DEFAULT 0,
    -- 'pending' (waiting or being sent), 'delivered', 'failed' (given up)
    status                        TEXT    NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'delivered', 'failed')),
    -- when a pending row is next due; while an attempt runs, when its lease expires
    nextattemptat                 INTEGER,
    firstattemptat                INTEGER,
    leaseowner                    TEXT,
    leaseexpiresat                INTEGER,
    lasterror                     TEXT,
    createdon                     INTEGER NOT NULL,
    deliveredon                   INTEGER,
    modifiedon                    INTEGER NOT NULL
) WITHOUT ROWID;

-- Due deliveries, oldest due first. Partial, so finished rows cost nothing.
CREATE INDEX ix_cd_due ON callbackdelivery (nextattemptat)
    WHERE status = 'pending';
-- The deliveries of an operation (diagnostics; deleted with the operation by the TTL sweep).
CREATE INDEX ix_cd_operation ON callbackdelivery (backgroundoperationid);
