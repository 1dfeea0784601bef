-- Row versions come from the database, not from a process: `last` is the highest
-- `versionnumber` handed out so far, in one row. The writer reads it once per write transaction,
-- after BEGIN IMMEDIATE (so no other process on this file writes meanwhile), gives each write the
-- next number, and stores the last one before COMMIT. Every process on the file therefore gives
-- every write a version above all earlier ones, and an ETag a client holds never comes round
-- again. A failed commit rolls the counter back with the rows.
--
-- Seeded from the highest version of every table that has one, so an existing database keeps
-- growing. Anything that writes versioned rows outside the store (a later migration, a bulk
-- load) must raise `last` to at least the highest version it wrote.
CREATE TABLE bgops_version (
    id   INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    last INTEGER NOT NULL
);

INSERT INTO bgops_version (id, last)
SELECT 1, COALESCE(MAX(v), 0) FROM (
    SELECT MAX(versionnumber) AS v FROM backgroundoperation
    UNION ALL SELECT MAX(versionnumber) FROM systemuser
    UNION ALL SELECT MAX(versionnumber) FROM account
    UNION ALL SELECT MAX(versionnumber) FROM contact
    UNION ALL SELECT MAX(versionnumber) FROM annotation
    UNION ALL SELECT MAX(versionnumber) FROM customapi
    UNION ALL SELECT MAX(versionnumber) FROM customapirequestparameter
    UNION ALL SELECT MAX(versionnumber) FROM customapiresponseproperty
    UNION ALL SELECT MAX(versionnumber) FROM plugintype
    UNION ALL SELECT MAX(versionnumber) FROM role
    UNION ALL SELECT MAX(versionnumber) FROM sdkmessage
    UNION ALL SELECT MAX(versionnumber) FROM serviceendpoint
    UNION ALL SELECT MAX(versionnumber) FROM sdkmessageprocessingstep
    UNION ALL SELECT MAX(versionnumber) FROM asyncoperation
);
