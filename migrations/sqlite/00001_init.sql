-- The initial schema, for SQLite: the same tables, columns and keys as
-- migrations/mysql/00001_init.sql, in SQLite's types.
--
-- ts is TEXT 'YYYY-MM-DD HH:MM:SS' in UTC, the form SQLite's own datetime()
-- returns and MariaDB prints a DATETIME in: it sorts and compares in time
-- order as text, strftime('%s', ts) turns it into Unix seconds, and Grafana's
-- SQLite data source reads it as a time. It is declared DATETIME so that the
-- Go driver returns a time.Time for it. domain is a BLOB, the bytes as they
-- came off the wire, like VARBINARY. SQLite compares TEXT byte for byte
-- (BINARY collation) unless told otherwise, as utf8mb4_bin does on MariaDB.
-- Widths are not enforced by SQLite; the writer cuts values to the MariaDB
-- widths itself, so both backends hold the same values.

-- +goose Up

CREATE TABLE tcpdump_records (
    id       INTEGER  NOT NULL PRIMARY KEY, -- the rowid: no AUTOINCREMENT needed, ids are never relied on
    ts       DATETIME NOT NULL,             -- window start, UTC
    agent    TEXT     NOT NULL,             -- the netmon instance that counted the packets
    client   TEXT     NOT NULL,             -- local address, netip.Addr text form
    domain   BLOB     NOT NULL,             -- name as seen on the wire, byte for byte
    nickname TEXT     NOT NULL,             -- service label for the dashboards
    source   TEXT     NOT NULL,             -- dns, svcb, sni, http, quic, ptr, ip
    count    INTEGER  NOT NULL,             -- packets, both directions
    bytes    INTEGER  NOT NULL              -- wire bytes, both directions
);
CREATE UNIQUE INDEX tcpdump_records_window ON tcpdump_records (agent, ts, client, domain);
CREATE INDEX tcpdump_records_ts_nickname ON tcpdump_records (ts, nickname);
CREATE INDEX tcpdump_records_agent_domain ON tcpdump_records (agent, domain);

CREATE TABLE dns_records (
    id          INTEGER  NOT NULL PRIMARY KEY,
    ts          DATETIME NOT NULL,          -- when the name was learned, UTC
    agent       TEXT     NOT NULL,
    ip_addr     TEXT     NOT NULL,
    domain      BLOB     NOT NULL,          -- byte for byte, like tcpdump_records.domain
    is_definite INTEGER  NOT NULL,          -- 0 or 1
    source      TEXT     NOT NULL
);
CREATE UNIQUE INDEX dns_records_addr ON dns_records (agent, ip_addr);
CREATE INDEX dns_records_ts ON dns_records (ts);

-- +goose Down
DROP TABLE dns_records;
DROP TABLE tcpdump_records;
