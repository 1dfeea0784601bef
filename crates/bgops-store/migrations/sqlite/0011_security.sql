-- Users, API keys, roles and privileges (SPEC §10).

-- API keys: several per user, each with a name, an optional expiry, revocable, and the time it
-- was last used (written at most once a minute per key). Only the SHA-256 of a key is stored.
CREATE TABLE bgops_apikey (
    bgops_apikeyid TEXT    PRIMARY KEY NOT NULL,
    systemuserid   TEXT    NOT NULL REFERENCES systemuser (systemuserid) ON DELETE CASCADE,
    name           TEXT    NOT NULL,
    keyhash        TEXT    NOT NULL UNIQUE,
    expireson      INTEGER,
    revokedon      INTEGER,
    lastusedon     INTEGER,
    createdon      INTEGER NOT NULL
);
CREATE INDEX ix_apikey_user ON bgops_apikey (systemuserid);

-- The one key each user had becomes a named key (the bootstrap administrator's `admin-token`).
INSERT INTO bgops_apikey (bgops_apikeyid, systemuserid, name, keyhash, createdon)
SELECT lower(substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-4' || substr(h, 14, 3) || '-a'
             || substr(h, 18, 3) || '-' || substr(h, 21, 12)),
       systemuserid,
       CASE WHEN isbootstrapadmin = 1 THEN 'admin-token' ELSE 'key' END,
       apikeyhash,
       createdon
FROM (SELECT hex(randomblob(16)) AS h, * FROM systemuser WHERE apikeyhash IS NOT NULL);
UPDATE systemuser SET apikeyhash = NULL;

CREATE TABLE privilege (
    privilegeid   TEXT    PRIMARY KEY NOT NULL,
    name          TEXT    NOT NULL UNIQUE,
    canbebasic    INTEGER NOT NULL DEFAULT 1,
    canbeglobal   INTEGER NOT NULL DEFAULT 1,
    createdon     INTEGER NOT NULL,
    modifiedon    INTEGER NOT NULL,
    createdby     TEXT,
    versionnumber INTEGER NOT NULL
);

CREATE TABLE roleprivileges (
    roleprivilegeid    TEXT    PRIMARY KEY NOT NULL,
    roleid             TEXT    NOT NULL REFERENCES role (roleid) ON DELETE CASCADE,
    privilegeid        TEXT    NOT NULL REFERENCES privilege (privilegeid) ON DELETE CASCADE,
    privilegedepthmask INTEGER NOT NULL,
    createdon          INTEGER NOT NULL,
    modifiedon         INTEGER NOT NULL,
    createdby          TEXT,
    versionnumber      INTEGER NOT NULL,
    UNIQUE (roleid, privilegeid)
);

CREATE TABLE systemuserroles (
    systemuserroleid TEXT    PRIMARY KEY NOT NULL,
    systemuserid     TEXT    NOT NULL REFERENCES systemuser (systemuserid) ON DELETE CASCADE,
    roleid           TEXT    NOT NULL REFERENCES role (roleid) ON DELETE CASCADE,
    createdon        INTEGER NOT NULL,
    modifiedon       INTEGER NOT NULL,
    createdby        TEXT,
    versionnumber    INTEGER NOT NULL,
    UNIQUE (systemuserid, roleid)
);
CREATE INDEX ix_systemuserroles_role ON systemuserroles (roleid);

-- The third built-in role (System Administrator and Basic User come from 0002); their
-- privileges are written at start-up from the catalogue (`Store::ensure_security_model`).
INSERT INTO role (roleid, name, createdon, modifiedon, versionnumber)
VALUES ('6b1a2f6e-0d5c-4a8e-9a43-1f1d8b0c2d71', 'Delegate',
        strftime('%s', 'now') * 1000, strftime('%s', 'now') * 1000,
        (SELECT last + 1 FROM bgops_version));
UPDATE bgops_version SET last = last + 1;

-- Administrators so far were a flag; now they hold the role.
INSERT INTO systemuserroles (systemuserroleid, systemuserid, roleid, createdon, modifiedon,
                             versionnumber)
SELECT lower(substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-4' || substr(h, 14, 3) || '-a'
             || substr(h, 18, 3) || '-' || substr(h, 21, 12)),
       systemuserid, 'b353149e-4a9b-45fd-9b5b-091fc5e23947', createdon, createdon,
       (SELECT last + 1 FROM bgops_version)
FROM (SELECT hex(randomblob(16)) AS h, * FROM systemuser WHERE issystemadministrator = 1);
UPDATE bgops_version SET last = last + 1;
