-- Where each row's nickname came from, so that a dashboard can show how much
-- traffic the catalogue, the user's rules, the owner of the address
-- (--asn-db) and the domain's label each name, and where a rule is worth
-- adding: catalogue, rule, asn, label or address. Rows written before this
-- migration have '' (unknown).

-- +goose Up
ALTER TABLE tcpdump_records
    ADD COLUMN nickname_source VARCHAR(16) NOT NULL DEFAULT '' COMMENT 'catalogue, rule, asn, label, address; empty: written before it was kept';

-- +goose Down
ALTER TABLE tcpdump_records DROP COLUMN nickname_source;
