-- Users, API keys, roles and privileges (SPEC §10); the same tables as SQLite's 0011.

-- API keys: several per user, each with a name, an optional expiry, revocable, and the time it
-- was last used (written at most once a minute per key). Only the SHA-256 of a key is stored.
CREATE TABLE bgops_apikey (
    bgops_apikeyid TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    systemuserid   TEXT COLLATE "C" NOT NULL
                   REFERENCES systemuser (systemuserid) ON DELETE CASCADE,
    name           TEXT    NOT NULL,
    keyhash        TEXT    NOT NULL UNIQUE,
    expireson      BIGINT,
    revokedon      BIGINT,
    lastusedon     BIGINT,
    createdon      BIGINT  NOT NULL
);
CREATE INDEX ix_apikey_user ON bgops_apikey (systemuserid);

-- The one key each user had becomes a named key (the bootstrap administrator's `admin-token`).
INSERT INTO bgops_apikey (bgops_apikeyid, systemuserid, name, keyhash, createdon)
SELECT gen_random_uuid()::text, systemuserid,
       CASE WHEN isbootstrapadmin = 1 THEN 'admin-token' ELSE 'key' END, apikeyhash, createdon
FROM systemuser WHERE apikeyhash IS NOT NULL;
UPDATE systemuser SET apikeyhash = NULL;

CREATE TABLE privilege (
    privilegeid   TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    name          TEXT    NOT NULL UNIQUE,
    canbebasic    BIGINT  NOT NULL DEFAULT 1,
    canbeglobal   BIGINT  NOT NULL DEFAULT 1,
    createdon     BIGINT  NOT NULL,
    modifiedon    BIGINT  NOT NULL,
    createdby     TEXT,
    versionnumber BIGINT  NOT NULL
);

CREATE TABLE roleprivileges (
    roleprivilegeid    TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    roleid             TEXT COLLATE "C" NOT NULL REFERENCES role (roleid) ON DELETE CASCADE,
    privilegeid        TEXT COLLATE "C" NOT NULL
                       REFERENCES privilege (privilegeid) ON DELETE CASCADE,
    privilegedepthmask BIGINT NOT NULL,
    createdon          BIGINT NOT NULL,
    modifiedon         BIGINT NOT NULL,
    createdby          TEXT,
    versionnumber      BIGINT NOT NULL,
    UNIQUE (roleid, privilegeid)
);

CREATE TABLE systemuserroles (
    systemuserroleid TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    systemuserid     TEXT COLLATE "C" NOT NULL
                     REFERENCES systemuser (systemuserid) ON DELETE CASCADE,
    roleid           TEXT COLLATE "C" NOT NULL REFERENCES role (roleid) ON DELETE CASCADE,
    createdon        BIGINT NOT NULL,
    modifiedon       BIGINT NOT NULL,
    createdby        TEXT,
    versionnumber    BIGINT NOT NULL,
    UNIQUE (systemuserid, roleid)
);
CREATE INDEX ix_systemuserroles_role ON systemuserroles (roleid);

-- The third built-in role (System Administrator and Basic User come from 0001); their
-- privileges are written at start-up from the catalogue (`Store::ensure_security_model`).
INSERT INTO role (roleid, name, createdon, modifiedon, versionnumber)
VALUES ('6b1a2f6e-0d5c-4a8e-9a43-1f1d8b0c2d71', 'Delegate',
        (extract(epoch FROM now()) * 1000)::bigint, (extract(epoch FROM now()) * 1000)::bigint,
        nextval('bgops_version_seq'));

-- Administrators so far were a flag; now they hold the role.
INSERT INTO systemuserroles (systemuserroleid, systemuserid, roleid, createdon, modifiedon,
                             versionnumber)
SELECT gen_random_uuid()::text, systemuserid, 'b353149e-4a9b-45fd-9b5b-091fc5e23947', createdon,
       createdon, nextval('bgops_version_seq')
FROM systemuser WHERE issystemadministrator = 1;
