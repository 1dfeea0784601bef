-- The whole bgops schema on PostgreSQL: the same tables and columns as the SQLite migrations
-- 0001–0009, so both backends answer every query alike (crates/bgops-store/migrations/sqlite).
--
-- Storage types, as on SQLite: keys, GUIDs and lookups TEXT (lower-case hyphenated);
-- String/Memo TEXT; Integer/BigInt/Choice/Boolean BIGINT (booleans 0/1); DateTime BIGINT
-- milliseconds since the epoch; Decimal/Money TEXT holding the exact decimal text; Double
-- DOUBLE PRECISION. User columns are nullable: which ones a create must set is the Web API's
-- rule, not SQL's.

-- Row versions (`versionnumber`, the ETag): one sequence for every table, so versions grow
-- across every node and every table, and a row's version grows with each write (a writer
-- takes its number only once it holds the row's lock).
CREATE SEQUENCE bgops_version_seq;

-- Background operations (SPEC §4) and the engine's bookkeeping columns.
CREATE TABLE backgroundoperation (
    backgroundoperationid         TEXT    PRIMARY KEY NOT NULL,
    name                          TEXT    NOT NULL,
    displayname                   TEXT    NOT NULL,
    backgroundoperationstatecode  BIGINT  NOT NULL,
    backgroundoperationstatuscode BIGINT  NOT NULL,
    inputparameters               TEXT    NOT NULL,
    outputparameters              TEXT,
    starttime                     BIGINT,
    endtime                       BIGINT,
    retrycount                    BIGINT  NOT NULL DEFAULT 0,
    errorcode                     BIGINT,
    errormessage                  TEXT,
    runas                         TEXT    NOT NULL,
    priority                      BIGINT  NOT NULL DEFAULT 0,
    ttlinseconds                  BIGINT  NOT NULL,
    createdon                     BIGINT  NOT NULL,
    modifiedon                    BIGINT  NOT NULL,
    createdby                     TEXT    NOT NULL,
    versionnumber                 BIGINT  NOT NULL,
    -- engine bookkeeping, never shown on the Web API
    attempt                       BIGINT  NOT NULL DEFAULT 0,
    maxretries                    BIGINT  NOT NULL,
    -- when a Ready row is next due: its retry time, or when a node's reservation lapses
    nextattemptat                 BIGINT  NOT NULL,
    -- the node holding the row: its reservation (Ready) or its running attempt (Locked)
    leaseowner                    TEXT,
    leaseexpiresat                BIGINT,
    expiresat                     BIGINT  NOT NULL,
    callbackurl                   TEXT,
    location                      TEXT,
    -- the outputs of a Succeeded row as the status monitor shows them
    outputjson                    TEXT
);

-- A queue table: most rows are written two or three times within seconds of their insert.
-- Vacuum (dead row versions) and analyze (planner statistics) after 2% of it changed, not the
-- default 20%/10%, so a table of millions of finished rows still gets both while it runs.
ALTER TABLE backgroundoperation SET (
    autovacuum_vacuum_scale_factor = 0.02,
    autovacuum_analyze_scale_factor = 0.02
);

-- Claim order: free Ready rows by priority, then age. Partial, so terminal rows cost nothing,
-- and a reserved row (claimed ahead by a node) leaves it: a claim never walks past the rows
-- it and its peers reserved, and its own reservation writes add no entry to the pages it is
-- scanning (which would keep PostgreSQL from marking the entries of finished rows dead, so
-- every claim would walk them all again).
CREATE INDEX ix_bo_due ON backgroundoperation
    (priority DESC, createdon, backgroundoperationid)
    WHERE backgroundoperationstatecode = 0 AND leaseowner IS NULL;
-- The next retry time of a free Ready row, for the claimer's sleep.
CREATE INDEX ix_bo_next ON backgroundoperation (nextattemptat)
    WHERE backgroundoperationstatecode = 0 AND leaseowner IS NULL;
-- Reservations by when they lapse: a lapsed one is handed back to the free rows by the next
-- claim of any node.
CREATE INDEX ix_bo_reserved ON backgroundoperation (nextattemptat)
    WHERE backgroundoperationstatecode = 0 AND leaseowner IS NOT NULL;
-- Rows canceled before any attempt ran, finalized by the claimer.
CREATE INDEX ix_bo_cancel ON backgroundoperation (backgroundoperationid)
    WHERE backgroundoperationstatuscode = 22 AND leaseowner IS NULL;
-- Leases of started attempts, for recovery of attempts whose node died.
CREATE INDEX ix_bo_lease ON backgroundoperation (leaseexpiresat)
    WHERE backgroundoperationstatecode = 2;
-- Time to live.
CREATE INDEX ix_bo_expires ON backgroundoperation (expiresat);

-- Users (SPEC §10); API keys are stored only as SHA-256 hashes.
CREATE TABLE systemuser (
    systemuserid                 TEXT    PRIMARY KEY NOT NULL,
    fullname                     TEXT    NOT NULL,
    apikeyhash                   TEXT    UNIQUE,
    issystemadministrator        BIGINT  NOT NULL DEFAULT 0,
    isbootstrapadmin             BIGINT  NOT NULL DEFAULT 0,
    createdon                    BIGINT  NOT NULL,
    modifiedon                   BIGINT  NOT NULL,
    domainname                   TEXT,
    internalemailaddress         TEXT,
    azureactivedirectoryobjectid TEXT,
    isdisabled                   BIGINT  NOT NULL DEFAULT 0,
    createdby                    TEXT,
    versionnumber                BIGINT  NOT NULL DEFAULT 0
);

-- Service-wide settings kept across restarts (the webhook signing secret, …).
CREATE TABLE bgops_setting (
    name  TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

CREATE TABLE account (
    accountid            TEXT    PRIMARY KEY NOT NULL,
    name                 TEXT,
    accountnumber        TEXT,
    telephone1           TEXT,
    emailaddress1        TEXT,
    websiteurl           TEXT,
    address1_line1       TEXT,
    address1_city        TEXT,
    address1_postalcode  TEXT,
    address1_country     TEXT,
    description          TEXT,
    revenue              TEXT,
    numberofemployees    BIGINT,
    creditlimit          TEXT,
    creditonhold         BIGINT,
    industrycode         BIGINT,
    primarycontactid     TEXT,
    statecode            BIGINT,
    statuscode           BIGINT,
    createdon            BIGINT  NOT NULL,
    modifiedon           BIGINT  NOT NULL,
    createdby            TEXT,
    versionnumber        BIGINT  NOT NULL
);
CREATE INDEX ix_account_name ON account (lower(name));

CREATE TABLE contact (
    contactid            TEXT    PRIMARY KEY NOT NULL,
    firstname            TEXT,
    lastname             TEXT,
    fullname             TEXT    GENERATED ALWAYS AS
                                 (TRIM(COALESCE(firstname, '') || ' ' || COALESCE(lastname, '')))
                                 STORED,
    emailaddress1        TEXT,
    telephone1           TEXT,
    mobilephone          TEXT,
    jobtitle             TEXT,
    address1_city        TEXT,
    birthdate            BIGINT,
    description          TEXT,
    donotemail           BIGINT,
    parentcustomerid     TEXT,
    statecode            BIGINT,
    statuscode           BIGINT,
    createdon            BIGINT  NOT NULL,
    modifiedon           BIGINT  NOT NULL,
    createdby            TEXT,
    versionnumber        BIGINT  NOT NULL
);
CREATE INDEX ix_contact_parentcustomerid ON contact (parentcustomerid);
CREATE INDEX ix_contact_fullname ON contact (lower(fullname));

CREATE TABLE annotation (
    annotationid         TEXT    PRIMARY KEY NOT NULL,
    subject              TEXT,
    notetext             TEXT,
    filename             TEXT,
    mimetype             TEXT,
    documentbody         TEXT,
    filesize             BIGINT,
    isdocument           BIGINT,
    objectid             TEXT,
    objecttypecode       TEXT,
    createdon            BIGINT  NOT NULL,
    modifiedon           BIGINT  NOT NULL,
    createdby            TEXT,
    versionnumber        BIGINT  NOT NULL
);
CREATE INDEX ix_annotation_objectid ON annotation (objectid);
CREATE INDEX ix_annotation_subject_filename ON annotation (subject, filename);

-- `bgops_source`: NULL for rows created over the Web API, 'file' for rows declared in the
-- --custom-apis file, 'native' for plug-ins registered in code.
CREATE TABLE customapi (
    customapiid                      TEXT    PRIMARY KEY NOT NULL,
    uniquename                       TEXT,
    name                             TEXT,
    displayname                      TEXT,
    description                      TEXT,
    bindingtype                      BIGINT,
    boundentitylogicalname           TEXT,
    isfunction                       BIGINT,
    isprivate                        BIGINT,
    allowedcustomprocessingsteptype  BIGINT,
    executeprivilegename             TEXT,
    plugintypeid                     TEXT,
    workflowsdkstepenabled           BIGINT,
    createdon                        BIGINT  NOT NULL,
    modifiedon                       BIGINT  NOT NULL,
    createdby                        TEXT,
    versionnumber                    BIGINT  NOT NULL,
    bgops_source                     TEXT
);
-- Unique names compare without case, as in Dataverse.
CREATE UNIQUE INDEX ux_customapi_uniquename_nocase ON customapi (lower(uniquename));

CREATE TABLE customapirequestparameter (
    customapirequestparameterid  TEXT    PRIMARY KEY NOT NULL,
    uniquename                   TEXT,
    name                         TEXT,
    displayname                  TEXT,
    description                  TEXT,
    type                         BIGINT,
    logicalentityname            TEXT,
    isoptional                   BIGINT,
    customapiid                  TEXT,
    createdon                    BIGINT  NOT NULL,
    modifiedon                   BIGINT  NOT NULL,
    createdby                    TEXT,
    versionnumber                BIGINT  NOT NULL,
    bgops_source                 TEXT
);
CREATE INDEX ix_customapirequestparameter_customapiid
    ON customapirequestparameter (customapiid);
CREATE UNIQUE INDEX ux_customapirequestparameter_name
    ON customapirequestparameter (customapiid, lower(uniquename));

CREATE TABLE customapiresponseproperty (
    customapiresponsepropertyid  TEXT    PRIMARY KEY NOT NULL,
    uniquename                   TEXT,
    name                         TEXT,
    displayname                  TEXT,
    description                  TEXT,
    type                         BIGINT,
    logicalentityname            TEXT,
    customapiid                  TEXT,
    createdon                    BIGINT  NOT NULL,
    modifiedon                   BIGINT  NOT NULL,
    createdby                    TEXT,
    versionnumber                BIGINT  NOT NULL,
    bgops_source                 TEXT
);
CREATE INDEX ix_customapiresponseproperty_customapiid
    ON customapiresponseproperty (customapiid);
CREATE UNIQUE INDEX ux_customapiresponseproperty_name
    ON customapiresponseproperty (customapiid, lower(uniquename));

CREATE TABLE plugintype (
    plugintypeid         TEXT    PRIMARY KEY NOT NULL,
    name                 TEXT,
    typename             TEXT,
    friendlyname         TEXT,
    description          TEXT,
    bgops_endpointurl    TEXT,
    createdon            BIGINT  NOT NULL,
    modifiedon           BIGINT  NOT NULL,
    createdby            TEXT,
    versionnumber        BIGINT  NOT NULL,
    bgops_source         TEXT
);
CREATE UNIQUE INDEX ux_plugintype_typename_nocase ON plugintype (lower(typename));

CREATE TABLE role (
    roleid               TEXT    PRIMARY KEY NOT NULL,
    name                 TEXT,
    createdon            BIGINT  NOT NULL,
    modifiedon           BIGINT  NOT NULL,
    createdby            TEXT,
    versionnumber        BIGINT  NOT NULL
);

CREATE TABLE sdkmessage (
    sdkmessageid         TEXT    PRIMARY KEY NOT NULL,
    name                 TEXT,
    categoryname         TEXT,
    isprivate            BIGINT,
    createdon            BIGINT  NOT NULL,
    modifiedon           BIGINT  NOT NULL,
    createdby            TEXT,
    versionnumber        BIGINT  NOT NULL
);

CREATE TABLE serviceendpoint (
    serviceendpointid    TEXT    PRIMARY KEY NOT NULL,
    name                 TEXT,
    description          TEXT,
    url                  TEXT,
    contract             BIGINT,
    authtype             BIGINT,
    authvalue            TEXT,
    createdon            BIGINT  NOT NULL,
    modifiedon           BIGINT  NOT NULL,
    createdby            TEXT,
    versionnumber        BIGINT  NOT NULL,
    messageformat        BIGINT
);

CREATE TABLE sdkmessageprocessingstep (
    sdkmessageprocessingstepid  TEXT    PRIMARY KEY NOT NULL,
    name                        TEXT,
    description                 TEXT,
    stage                       BIGINT,
    mode                        BIGINT,
    rank                        BIGINT,
    asyncautodelete             BIGINT,
    sdkmessageid                TEXT,
    eventhandler                TEXT,
    statecode                   BIGINT,
    statuscode                  BIGINT,
    createdon                   BIGINT  NOT NULL,
    modifiedon                  BIGINT  NOT NULL,
    createdby                   TEXT,
    versionnumber               BIGINT  NOT NULL,
    plugintypeid                TEXT,
    supporteddeployment         BIGINT
);
CREATE INDEX ix_sdkmessageprocessingstep_sdkmessageid
    ON sdkmessageprocessingstep (sdkmessageid);
CREATE INDEX ix_sdkmessageprocessingstep_eventhandler
    ON sdkmessageprocessingstep (eventhandler);

-- System jobs (OnBackgroundOperationComplete). The last five columns are the engine's
-- bookkeeping, never shown on the Web API.
CREATE TABLE asyncoperation (
    asyncoperationid     TEXT    PRIMARY KEY NOT NULL,
    name                 TEXT,
    operationtype        BIGINT,
    statecode            BIGINT,
    statuscode           BIGINT,
    messagename          TEXT,
    data                 TEXT,
    message              TEXT,
    friendlymessage      TEXT,
    errorcode            BIGINT,
    retrycount           BIGINT,
    startedon            BIGINT,
    completedon          BIGINT,
    regardingobjectid    TEXT,
    owningextensionid    TEXT,
    createdon            BIGINT  NOT NULL,
    modifiedon           BIGINT  NOT NULL,
    createdby            TEXT,
    versionnumber        BIGINT  NOT NULL,
    attempt              BIGINT  NOT NULL DEFAULT 0,
    nextattemptat        BIGINT,
    leaseowner           TEXT,
    leaseexpiresat       BIGINT,
    asyncautodelete      BIGINT  NOT NULL DEFAULT 0
);
CREATE INDEX ix_asyncoperation_regardingobjectid ON asyncoperation (regardingobjectid);
CREATE INDEX ix_ao_due ON asyncoperation (nextattemptat, createdon) WHERE statecode = 0;
CREATE INDEX ix_ao_lease ON asyncoperation (leaseexpiresat) WHERE leaseowner IS NOT NULL;

-- A background operation's system jobs go with it (the TTL sweep deletes operations).
CREATE FUNCTION bgops_delete_operation_jobs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM asyncoperation WHERE regardingobjectid = OLD.backgroundoperationid;
    RETURN OLD;
END;
$$;
CREATE TRIGGER tr_backgroundoperation_delete_jobs
    AFTER DELETE ON backgroundoperation
    FOR EACH ROW EXECUTE FUNCTION bgops_delete_operation_jobs();

-- The callback outbox: one row per callback to send, written in the same transaction as the
-- terminal state of its operation. The payload's values are copied here.
CREATE TABLE callbackdelivery (
    callbackdeliveryid            TEXT    PRIMARY KEY NOT NULL,
    backgroundoperationid         TEXT    NOT NULL,
    url                           TEXT    NOT NULL,
    location                      TEXT    NOT NULL,
    backgroundoperationstatecode  BIGINT  NOT NULL,
    backgroundoperationstatuscode BIGINT  NOT NULL,
    errorcode                     BIGINT,
    errormessage                  TEXT,
    -- `webhook-id`: the same on every attempt, so receivers can drop duplicates.
    webhookid                     TEXT    NOT NULL,
    -- attempts started so far; the current one fences the lease holder's writes
    attempts                      BIGINT  NOT NULL DEFAULT 0,
    status                        TEXT    NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'delivered', 'failed')),
    nextattemptat                 BIGINT,
    firstattemptat                BIGINT,
    leaseowner                    TEXT,
    leaseexpiresat                BIGINT,
    lasterror                     TEXT,
    createdon                     BIGINT  NOT NULL,
    deliveredon                   BIGINT,
    modifiedon                    BIGINT  NOT NULL
);
CREATE INDEX ix_cd_due ON callbackdelivery (nextattemptat) WHERE status = 'pending';
CREATE INDEX ix_cd_operation ON callbackdelivery (backgroundoperationid);

-- Rows every installation has. Fixed ids, so other code and clients can name them.
INSERT INTO sdkmessage (sdkmessageid, name, categoryname, isprivate, createdon, modifiedon,
                        versionnumber)
VALUES ('10bb454c-9e87-4f40-b9b5-7422624bbdb5', 'OnBackgroundOperationComplete',
        'BackgroundOperation', 0, (extract(epoch FROM now()) * 1000)::bigint,
        (extract(epoch FROM now()) * 1000)::bigint, nextval('bgops_version_seq'));

INSERT INTO role (roleid, name, createdon, modifiedon, versionnumber)
VALUES ('b353149e-4a9b-45fd-9b5b-091fc5e23947', 'System Administrator',
        (extract(epoch FROM now()) * 1000)::bigint, (extract(epoch FROM now()) * 1000)::bigint,
        nextval('bgops_version_seq')),
       ('99772695-2de3-4052-b2d4-b1bd2201509c', 'Basic User',
        (extract(epoch FROM now()) * 1000)::bigint, (extract(epoch FROM now()) * 1000)::bigint,
        nextval('bgops_version_seq'));
