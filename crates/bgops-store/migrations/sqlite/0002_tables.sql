-- The tables of the Web API (SPEC §6), one SQL table per catalogue table
-- (bgops-core/src/catalogue.rs): SQL names are the logical names.
--
-- Storage types: keys, GUIDs and lookups TEXT (lower-case hyphenated); String/Memo TEXT;
-- Integer/BigInt/Choice INTEGER; Boolean INTEGER 0/1; DateTime INTEGER milliseconds since the
-- epoch; Decimal/Money TEXT holding the exact decimal text; Double REAL.
-- User columns are nullable: which ones a create must set is the Web API's rule, not SQL's.

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
    numberofemployees    INTEGER,
    creditlimit          TEXT,
    creditonhold         INTEGER,
    industrycode         INTEGER,
    primarycontactid     TEXT,
    statecode            INTEGER,
    statuscode           INTEGER,
    createdon            INTEGER NOT NULL,
    modifiedon           INTEGER NOT NULL,
    createdby            TEXT,
    versionnumber        INTEGER NOT NULL
);
CREATE INDEX ix_account_name ON account (name COLLATE NOCASE);

CREATE TABLE contact (
    contactid            TEXT    PRIMARY KEY NOT NULL,
    fullname             TEXT    GENERATED ALWAYS AS
                                 (TRIM(COALESCE(firstname, '') || ' ' || COALESCE(lastname, '')))
                                 STORED,
    firstname            TEXT,
    lastname             TEXT,
    emailaddress1        TEXT,
    telephone1           TEXT,
    mobilephone          TEXT,
    jobtitle             TEXT,
    address1_city        TEXT,
    birthdate            INTEGER,
    description          TEXT,
    donotemail           INTEGER,
    parentcustomerid     TEXT,
    statecode            INTEGER,
    statuscode           INTEGER,
    createdon            INTEGER NOT NULL,
    modifiedon           INTEGER NOT NULL,
    createdby            TEXT,
    versionnumber        INTEGER NOT NULL
);
CREATE INDEX ix_contact_parentcustomerid ON contact (parentcustomerid);
CREATE INDEX ix_contact_fullname ON contact (fullname COLLATE NOCASE);

CREATE TABLE annotation (
    annotationid         TEXT    PRIMARY KEY NOT NULL,
    subject              TEXT,
    notetext             TEXT,
    filename             TEXT,
    mimetype             TEXT,
    documentbody         TEXT,
    filesize             INTEGER,
    isdocument           INTEGER,
    objectid             TEXT,
    objecttypecode       TEXT,
    createdon            INTEGER NOT NULL,
    modifiedon           INTEGER NOT NULL,
    createdby            TEXT,
    versionnumber        INTEGER NOT NULL
);
CREATE INDEX ix_annotation_objectid ON annotation (objectid);
-- Files kept as notes are found by subject and file name.
CREATE INDEX ix_annotation_subject_filename ON annotation (subject, filename);

CREATE TABLE customapi (
    customapiid                      TEXT    PRIMARY KEY NOT NULL,
    uniquename                       TEXT,
    name                             TEXT,
    displayname                      TEXT,
    description                      TEXT,
    bindingtype                      INTEGER,
    boundentitylogicalname           TEXT,
    isfunction                       INTEGER,
    isprivate                        INTEGER,
    allowedcustomprocessingsteptype  INTEGER,
    executeprivilegename             TEXT,
    plugintypeid                     TEXT,
    workflowsdkstepenabled           INTEGER,
    createdon                        INTEGER NOT NULL,
    modifiedon                       INTEGER NOT NULL,
    createdby                        TEXT,
    versionnumber                    INTEGER NOT NULL
);
CREATE UNIQUE INDEX ux_customapi_uniquename ON customapi (uniquename);

CREATE TABLE customapirequestparameter (
    customapirequestparameterid  TEXT    PRIMARY KEY NOT NULL,
    uniquename                   TEXT,
    name                         TEXT,
    displayname                  TEXT,
    description                  TEXT,
    type                         INTEGER,
    logicalentityname            TEXT,
    isoptional                   INTEGER,
    customapiid                  TEXT,
    createdon                    INTEGER NOT NULL,
    modifiedon                   INTEGER NOT NULL,
    createdby                    TEXT,
    versionnumber                INTEGER NOT NULL
);
CREATE INDEX ix_customapirequestparameter_customapiid
    ON customapirequestparameter (customapiid);

CREATE TABLE customapiresponseproperty (
    customapiresponsepropertyid  TEXT    PRIMARY KEY NOT NULL,
    uniquename                   TEXT,
    name                         TEXT,
    displayname                  TEXT,
    description                  TEXT,
    type                         INTEGER,
    logicalentityname            TEXT,
    customapiid                  TEXT,
    createdon                    INTEGER NOT NULL,
    modifiedon                   INTEGER NOT NULL,
    createdby                    TEXT,
    versionnumber                INTEGER NOT NULL
);
CREATE INDEX ix_customapiresponseproperty_customapiid
    ON customapiresponseproperty (customapiid);

CREATE TABLE plugintype (
    plugintypeid         TEXT    PRIMARY KEY NOT NULL,
    name                 TEXT,
    typename             TEXT,
    friendlyname         TEXT,
    description          TEXT,
    bgops_endpointurl    TEXT,
    createdon            INTEGER NOT NULL,
    modifiedon           INTEGER NOT NULL,
    createdby            TEXT,
    versionnumber        INTEGER NOT NULL
);
CREATE UNIQUE INDEX ux_plugintype_typename ON plugintype (typename);

-- systemuser exists (0001) with the columns authentication needs; add the catalogue's others.
ALTER TABLE systemuser ADD COLUMN domainname TEXT;
ALTER TABLE systemuser ADD COLUMN internalemailaddress TEXT;
ALTER TABLE systemuser ADD COLUMN azureactivedirectoryobjectid TEXT;
ALTER TABLE systemuser ADD COLUMN isdisabled INTEGER NOT NULL DEFAULT 0;
ALTER TABLE systemuser ADD COLUMN createdby TEXT;
ALTER TABLE systemuser ADD COLUMN versionnumber INTEGER NOT NULL DEFAULT 0;

CREATE TABLE role (
    roleid               TEXT    PRIMARY KEY NOT NULL,
    name                 TEXT,
    createdon            INTEGER NOT NULL,
    modifiedon           INTEGER NOT NULL,
    createdby            TEXT,
    versionnumber        INTEGER NOT NULL
);

CREATE TABLE sdkmessage (
    sdkmessageid         TEXT    PRIMARY KEY NOT NULL,
    name                 TEXT,
    categoryname         TEXT,
    isprivate            INTEGER,
    createdon            INTEGER NOT NULL,
    modifiedon           INTEGER NOT NULL,
    createdby            TEXT,
    versionnumber        INTEGER NOT NULL
);

CREATE TABLE serviceendpoint (
    serviceendpointid    TEXT    PRIMARY KEY NOT NULL,
    name                 TEXT,
    description          TEXT,
    url                  TEXT,
    contract             INTEGER,
    authtype             INTEGER,
    authvalue            TEXT,
    createdon            INTEGER NOT NULL,
    modifiedon           INTEGER NOT NULL,
    createdby            TEXT,
    versionnumber        INTEGER NOT NULL
);

CREATE TABLE sdkmessageprocessingstep (
    sdkmessageprocessingstepid  TEXT    PRIMARY KEY NOT NULL,
    name                        TEXT,
    description                 TEXT,
    stage                       INTEGER,
    mode                        INTEGER,
    rank                        INTEGER,
    asyncautodelete             INTEGER,
    sdkmessageid                TEXT,
    eventhandler                TEXT,
    statecode                   INTEGER,
    statuscode                  INTEGER,
    createdon                   INTEGER NOT NULL,
    modifiedon                  INTEGER NOT NULL,
    createdby                   TEXT,
    versionnumber               INTEGER NOT NULL
);
CREATE INDEX ix_sdkmessageprocessingstep_sdkmessageid
    ON sdkmessageprocessingstep (sdkmessageid);

CREATE TABLE asyncoperation (
    asyncoperationid     TEXT    PRIMARY KEY NOT NULL,
    name                 TEXT,
    operationtype        INTEGER,
    statecode            INTEGER,
    statuscode           INTEGER,
    messagename          TEXT,
    data                 TEXT,
    message              TEXT,
    friendlymessage      TEXT,
    errorcode            INTEGER,
    retrycount           INTEGER,
    startedon            INTEGER,
    completedon          INTEGER,
    regardingobjectid    TEXT,
    owningextensionid    TEXT,
    createdon            INTEGER NOT NULL,
    modifiedon           INTEGER NOT NULL,
    createdby            TEXT,
    versionnumber        INTEGER NOT NULL
);
CREATE INDEX ix_asyncoperation_regardingobjectid ON asyncoperation (regardingobjectid);

-- Rows every installation has. Fixed ids, so other code and clients can name them.
INSERT INTO sdkmessage (sdkmessageid, name, categoryname, isprivate, createdon, modifiedon,
                        versionnumber)
VALUES ('10bb454c-9e87-4f40-b9b5-7422624bbdb5', 'OnBackgroundOperationComplete',
        'BackgroundOperation', 0, strftime('%s', 'now') * 1000, strftime('%s', 'now') * 1000, 1);

INSERT INTO role (roleid, name, createdon, modifiedon, versionnumber)
VALUES ('b353149e-4a9b-45fd-9b5b-091fc5e23947', 'System Administrator',
        strftime('%s', 'now') * 1000, strftime('%s', 'now') * 1000, 1),
       ('99772695-2de3-4052-b2d4-b1bd2201509c', 'Basic User',
        strftime('%s', 'now') * 1000, strftime('%s', 'now') * 1000, 1);
