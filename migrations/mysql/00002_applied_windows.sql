-- Idempotent writes. Every window netmon writes carries a random 128-bit ID,
-- recorded here in the same transaction as its rows. A window that comes
-- back (written, then replayed from the spool because netmon died before it
-- could forget it) finds its ID and is skipped, so it never counts twice.
-- Rows are kept as long as the counts they guard: "netmon prune" deletes
-- them by ts with the rows of the same windows.

-- +goose Up

-- The surrogate id is the primary key, as on the other tables: Galera needs
-- one on every table, and prune deletes by it in short batches.
CREATE TABLE applied_windows (
    id         BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    agent      VARCHAR(64)     NOT NULL,
    window_id  BINARY(16)      NOT NULL COMMENT 'random ID the writer gave the window',
    ts         DATETIME        NOT NULL COMMENT 'window start, UTC, as in tcpdump_records',
    applied_at DATETIME        NOT NULL COMMENT 'when the transaction ran, UTC',
    PRIMARY KEY (id),
    UNIQUE KEY applied_windows_window (agent, window_id),
    KEY applied_windows_ts (ts)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE applied_windows;
