-- Text compares without case for every letter, as Dataverse does and as SQLite does with its
-- `bgops_fold` function: both sides lower-cased with Unicode's full mapping (ICU's root
-- locale, whatever the database's own locale), then compared byte by byte (`COLLATE "C"`).
-- See `postgres/tables/query.rs`. A server built without ICU refuses this migration.
CREATE COLLATION bgops_fold (provider = icu, locale = 'und');
