-- Background operations (SPEC §4) and the engine's bookkeeping columns.
CREATE TABLE backgroundoperation (
    backgroundoperationid         TEXT    PRIMARY KEY NOT NULL,
    name                          TEXT    NOT NULL,
    displayname                   TEXT    NOT NULL,
    backgroundoperationstatecode  INTEGER NOT NULL,
    backgroundoperationstatuscode INTEGER NOT NULL,
    inputparameters               TEXT    NOT NULL,
    outputparameters              TEXT,
    starttime                     INTEGER,
    endtime                       INTEGER,
    retrycount                    INTEGER NOT NULL DEFAULT 0,
    errorcode                     INTEGER,
    errormessage                  TEXT,
    runas                         TEXT    NOT NULL,
    priority                      INTEGER NOT NULL DEFAULT 0,
    ttlinseconds                  INTEGER NOT NULL,
    createdon                     INTEGER NOT NULL,
    modifiedon                    INTEGER NOT NULL,
    createdby                     TEXT    NOT NULL,
    versionnumber                 INTEGER NOT NULL,
    -- engine bookkeeping, never shown on the Web API
    attempt                       INTEGER NOT NULL DEFAULT 0,
    maxretries                    INTEGER NOT NULL,
    nextattemptat                 INTEGER NOT NULL,
    leaseowner                    TEXT,
    leaseexpiresat                INTEGER,
    expiresat                     INTEGER NOT NULL
) WITHOUT ROWID;

-- Claim order: due rows by priority, then age. Partial, so terminal rows cost nothing.
CREATE INDEX ix_bo_due ON backgroundoperation (priority DESC, createdon, backgroundoperationid)
    WHERE backgroundoperationstatecode = 0;
-- The next retry time, for the claimer's sleep.
CREATE INDEX ix_bo_next ON backgroundoperation (nextattemptat)
    WHERE backgroundoperationstatecode = 0;
-- Rows canceled before any attempt ran, finalized by the claimer.
CREATE INDEX ix_bo_cancel ON backgroundoperation (backgroundoperationid)
    WHERE backgroundoperationstatuscode = 22 AND leaseowner IS NULL;
-- Leases, for recovery of attempts whose node died.
CREATE INDEX ix_bo_lease ON backgroundoperation (leaseexpiresat)
    WHERE leaseowner IS NOT NULL;
-- Time to live.
CREATE INDEX ix_bo_expires ON backgroundoperation (expiresat);

-- Users (SPEC §10); API keys are stored only as SHA-256 hashes.
CREATE TABLE systemuser (
    systemuserid            TEXT    PRIMARY KEY NOT NULL,
    fullname                TEXT    NOT NULL,
    apikeyhash              TEXT    UNIQUE,
    issystemadministrator   INTEGER NOT NULL DEFAULT 0,
    isbootstrapadmin        INTEGER NOT NULL DEFAULT 0,
    createdon               INTEGER NOT NULL,
    modifiedon              INTEGER NOT NULL
);
