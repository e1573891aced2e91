-- Idempotent writes, as migrations/mysql/00002_applied_windows.sql: every
-- window's random 128-bit ID is recorded in the same transaction as its rows,
-- so a window written again from the spool is skipped.

-- +goose Up

CREATE TABLE applied_windows (
    id         INTEGER  NOT NULL PRIMARY KEY,
    agent      TEXT     NOT NULL,
    window_id  BLOB     NOT NULL,           -- 16 random bytes the writer gave the window
    ts         DATETIME NOT NULL,           -- window start, UTC, as in tcpdump_records
    applied_at DATETIME NOT NULL            -- when the transaction ran, UTC
);
CREATE UNIQUE INDEX applied_windows_window ON applied_windows (agent, window_id);
CREATE INDEX applied_windows_ts ON applied_windows (ts);

-- +goose Down
DROP TABLE applied_windows;
