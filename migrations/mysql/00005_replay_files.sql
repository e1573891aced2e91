-- Replays that count each window once. A replayed capture file is known by
-- what it holds (a hash of its size and first bytes), not by its name; its
-- windows get IDs derived from that identity, recorded in applied_windows in
-- the same transaction as their rows, so that replaying the file again, all
-- of it or after a crash part-way through, skips what is already written.
-- This table says which files were replayed to the end, so that a replay
-- can skip them with one line, and which generation of IDs a file counts
-- under: "netmon replay --force" starts a new one on purpose.

-- +goose Up

CREATE TABLE replay_files (
    id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    agent       VARCHAR(64)     NOT NULL,
    file_key    BINARY(32)      NOT NULL COMMENT 'SHA-256 of the size and the first 64 KiB',
    name        VARBINARY(1024) NOT NULL COMMENT 'the path it was last replayed from, for messages',
    size        BIGINT UNSIGNED NOT NULL,
    generation  INT UNSIGNED    NOT NULL COMMENT 'bumped by --force; part of every window ID of the file',
    windows     BIGINT UNSIGNED NOT NULL COMMENT 'windows written when it was finished',
    started_at  DATETIME        NOT NULL COMMENT 'UTC',
    finished_at DATETIME        NULL     COMMENT 'UTC; NULL while a replay of it has not reached its end',
    PRIMARY KEY (id),
    UNIQUE KEY replay_files_file (agent, file_key)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE replay_files;
