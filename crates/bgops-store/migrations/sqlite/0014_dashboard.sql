-- The dashboard (SPEC §15). The operation list, newest first and paged by key
-- (`$orderby=createdon desc`, the key as tie-breaker), reads this index from its position
-- instead of sorting the table.
CREATE INDEX ix_bo_created ON backgroundoperation (createdon, backgroundoperationid);
-- The list filtered by status, newest first (`backgroundoperationstatuscode eq 31`, paged by
-- key), and the dashboard's bulk cancel, which reads the waiting and in-progress rows a filter
-- selects (`… eq 0 or … eq 20`): ranges of this index, never the finished rows.
CREATE INDEX ix_bo_status_created
    ON backgroundoperation (backgroundoperationstatuscode, createdon, backgroundoperationid);
-- Operations finished per minute, by custom API and outcome (the overview's throughput and
-- failure-rate charts): a range of this index alone, never the rows. Only finished rows are in
-- it (one entry written once, at the end), so waiting and running rows cost it nothing.
CREATE INDEX ix_bo_end ON backgroundoperation (endtime, backgroundoperationstatuscode, name)
    WHERE endtime IS NOT NULL;
-- The steps page's recent failures of system jobs (`statuscode eq 31`, newest completed
-- first, the key as tie-breaker).
CREATE INDEX ix_ao_status_completed ON asyncoperation (statuscode, completedon, asyncoperationid);
