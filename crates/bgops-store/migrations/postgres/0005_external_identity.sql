-- Users signed in with a bearer JWT from a configured identity provider. Such a user is the pair
-- (tenant, object id): Entra's `tid` and `oid` claims (other issuers: the issuer URL and `sub`).
-- The object id lives in Dataverse's own column, `azureactivedirectoryobjectid`; the tenant in
-- this one. A row with an object id but no tenant (created by an administrator) matches that
-- object id from any configured issuer.
ALTER TABLE systemuser ADD COLUMN bgops_identitytenant TEXT;
CREATE UNIQUE INDEX systemuser_external_identity
    ON systemuser (bgops_identitytenant, azureactivedirectoryobjectid)
    WHERE bgops_identitytenant IS NOT NULL;
CREATE INDEX systemuser_objectid ON systemuser (azureactivedirectoryobjectid);
