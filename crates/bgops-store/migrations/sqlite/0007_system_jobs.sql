-- OnBackgroundOperationComplete (SPEC §9, issue 5): steps registered over the Web API and the
-- system jobs (asyncoperation rows) their handlers run as.

-- Columns Dataverse clients send when registering webhooks and steps.
ALTER TABLE serviceendpoint ADD COLUMN messageformat INTEGER;
ALTER TABLE sdkmessageprocessingstep ADD COLUMN plugintypeid TEXT;
ALTER TABLE sdkmessageprocessingstep ADD COLUMN supporteddeployment INTEGER;
-- The steps a handler serves (a service endpoint in use cannot be deleted).
CREATE INDEX ix_sdkmessageprocessingstep_eventhandler
    ON sdkmessageprocessingstep (eventhandler);

-- The engine's bookkeeping of a system job, never shown on the Web API: the attempt number
-- (fences the writes of the node running it), when it is next due (0/0 rows), the lease of the
-- running attempt, and the step's auto-delete copied when the job was created.
ALTER TABLE asyncoperation ADD COLUMN attempt INTEGER NOT NULL DEFAULT 0;
ALTER TABLE asyncoperation ADD COLUMN nextattemptat INTEGER;
ALTER TABLE asyncoperation ADD COLUMN leaseowner TEXT;
ALTER TABLE asyncoperation ADD COLUMN leaseexpiresat INTEGER;
ALTER TABLE asyncoperation ADD COLUMN asyncautodelete INTEGER NOT NULL DEFAULT 0;

-- Due jobs, oldest due first. Partial, so finished jobs cost nothing.
CREATE INDEX ix_ao_due ON asyncoperation (nextattemptat, createdon)
    WHERE statecode = 0;
-- Leases, for recovery of jobs whose node died.
CREATE INDEX ix_ao_lease ON asyncoperation (leaseexpiresat)
    WHERE leaseowner IS NOT NULL;

-- A background operation's system jobs go with it (the TTL sweep deletes operations).
CREATE TRIGGER tr_backgroundoperation_delete_jobs
AFTER DELETE ON backgroundoperation
BEGIN
    DELETE FROM asyncoperation WHERE regardingobjectid = OLD.backgroundoperationid;
END;
