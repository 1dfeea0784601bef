-- Text compares as on SQLite, whatever the database's locale (postgres/tables/query.rs).

-- `$filter` and `$orderby` ignore case for every letter, as Dataverse does and as SQLite does
-- with its `bgops_fold` function: both sides lower-cased with Unicode's full mapping (ICU's
-- root locale), then compared byte by byte (`COLLATE "C"`). A server built without ICU refuses
-- this migration.
CREATE COLLATION bgops_fold (provider = icu, locale = 'und');

-- Keys (lower-case GUID text) order byte by byte, as on SQLite, so every query's tie-breaker
-- and keyset position (`… COLLATE "C"`) can read the primary key's index.
ALTER TABLE backgroundoperation ALTER COLUMN backgroundoperationid TYPE TEXT COLLATE "C";
ALTER TABLE systemuser ALTER COLUMN systemuserid TYPE TEXT COLLATE "C";
ALTER TABLE account ALTER COLUMN accountid TYPE TEXT COLLATE "C";
ALTER TABLE contact ALTER COLUMN contactid TYPE TEXT COLLATE "C";
ALTER TABLE annotation ALTER COLUMN annotationid TYPE TEXT COLLATE "C";
ALTER TABLE customapi ALTER COLUMN customapiid TYPE TEXT COLLATE "C";
ALTER TABLE customapirequestparameter
    ALTER COLUMN customapirequestparameterid TYPE TEXT COLLATE "C";
ALTER TABLE customapiresponseproperty
    ALTER COLUMN customapiresponsepropertyid TYPE TEXT COLLATE "C";
ALTER TABLE plugintype ALTER COLUMN plugintypeid TYPE TEXT COLLATE "C";
ALTER TABLE role ALTER COLUMN roleid TYPE TEXT COLLATE "C";
ALTER TABLE sdkmessage ALTER COLUMN sdkmessageid TYPE TEXT COLLATE "C";
ALTER TABLE serviceendpoint ALTER COLUMN serviceendpointid TYPE TEXT COLLATE "C";
ALTER TABLE sdkmessageprocessingstep
    ALTER COLUMN sdkmessageprocessingstepid TYPE TEXT COLLATE "C";
ALTER TABLE asyncoperation ALTER COLUMN asyncoperationid TYPE TEXT COLLATE "C";

-- The name indexes on the expression the queries compare and sort by.
DROP INDEX ix_account_name;
CREATE INDEX ix_account_name ON account ((lower(name COLLATE bgops_fold)) COLLATE "C");
DROP INDEX ix_contact_fullname;
CREATE INDEX ix_contact_fullname ON contact ((lower(fullname COLLATE bgops_fold)) COLLATE "C");

-- Unique names are unique without ASCII case, exactly as SQLite's `COLLATE NOCASE` indexes
-- (`lower` under "C" folds ASCII only), not per the database's locale.
DROP INDEX ux_customapi_uniquename_nocase;
CREATE UNIQUE INDEX ux_customapi_uniquename_nocase ON customapi (lower(uniquename COLLATE "C"));
DROP INDEX ux_customapirequestparameter_name;
CREATE UNIQUE INDEX ux_customapirequestparameter_name
    ON customapirequestparameter (customapiid, lower(uniquename COLLATE "C"));
DROP INDEX ux_customapiresponseproperty_name;
CREATE UNIQUE INDEX ux_customapiresponseproperty_name
    ON customapiresponseproperty (customapiid, lower(uniquename COLLATE "C"));
DROP INDEX ux_plugintype_typename_nocase;
CREATE UNIQUE INDEX ux_plugintype_typename_nocase ON plugintype (lower(typename COLLATE "C"));
