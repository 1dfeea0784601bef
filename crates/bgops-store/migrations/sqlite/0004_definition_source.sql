-- Where a custom API definition row comes from (issue 4): NULL for rows created over the Web
-- API, 'file' for rows declared in the --custom-apis file (kept in step with it at start-up),
-- 'native' for the plug-in types of plug-ins registered in code.
ALTER TABLE customapi ADD COLUMN bgops_source TEXT;
ALTER TABLE customapirequestparameter ADD COLUMN bgops_source TEXT;
ALTER TABLE customapiresponseproperty ADD COLUMN bgops_source TEXT;
ALTER TABLE plugintype ADD COLUMN bgops_source TEXT;
-- Parameter names are unique within their custom API.
CREATE UNIQUE INDEX ux_customapirequestparameter_name
    ON customapirequestparameter (customapiid, uniquename COLLATE NOCASE);
CREATE UNIQUE INDEX ux_customapiresponseproperty_name
    ON customapiresponseproperty (customapiid, uniquename COLLATE NOCASE);
-- Unique names compare without case, as in Dataverse.
CREATE UNIQUE INDEX ux_customapi_uniquename_nocase ON customapi (uniquename COLLATE NOCASE);
CREATE UNIQUE INDEX ux_plugintype_typename_nocase ON plugintype (typename COLLATE NOCASE);
