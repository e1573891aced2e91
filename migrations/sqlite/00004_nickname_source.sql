-- Where each row's nickname came from: catalogue, rule, asn, label or
-- address; '' for rows written before this migration. The same column as
-- migrations/mysql/00004_nickname_source.sql.

-- +goose Up
ALTER TABLE tcpdump_records ADD COLUMN nickname_source TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE tcpdump_records DROP COLUMN nickname_source;
