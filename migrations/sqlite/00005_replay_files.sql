-- Replays that count each window once, as migrations/mysql/00005_replay_files.sql.

-- +goose Up

CREATE TABLE replay_files (
    id          INTEGER  NOT NULL PRIMARY KEY,
    agent       TEXT     NOT NULL,
    file_key    BLOB     NOT NULL,          -- SHA-256 of the size and the first 64 KiB
    name        BLOB     NOT NULL,          -- the path it was last replayed from
    size        INTEGER  NOT NULL,
    generation  INTEGER  NOT NULL,          -- bumped by --force; part of every window ID of the file
    windows     INTEGER  NOT NULL,          -- windows written when it was finished
    started_at  DATETIME NOT NULL,
    finished_at DATETIME                    -- NULL while a replay of it has not reached its end
);
CREATE UNIQUE INDEX replay_files_file ON replay_files (agent, file_key);

-- +goose Down
DROP TABLE replay_files;
