-- Service-wide settings kept across restarts (the webhook signing secret, …).
CREATE TABLE bgops_setting (
    name  TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);
