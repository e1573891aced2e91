-- Devices, as migrations/mysql/00003_devices.sql: the same tables, columns,
-- keys and view, in SQLite's types. hostname is a BLOB, byte for byte like
-- tcpdump_records.domain; times are 'YYYY-MM-DD HH:MM:SS' UTC text.

-- +goose Up

CREATE TABLE devices (
    id          INTEGER  NOT NULL PRIMARY KEY,
    agent       TEXT     NOT NULL,
    device_id   TEXT     NOT NULL,          -- the MAC address, or the only address when frames carry none
    mac         TEXT,                       -- aa:bb:cc:dd:ee:ff, NULL when unknown
    ips         TEXT     NOT NULL,          -- up to 16 addresses, most recent first, ", " between
    hostname    BLOB     NOT NULL,          -- as announced, byte for byte; empty when unknown
    name_source TEXT     NOT NULL,          -- ptr, netbios, mdns, dhcp, config, or empty
    vendor      TEXT     NOT NULL,          -- IEEE OUI assignee, empty when unknown
    randomised  INTEGER  NOT NULL,          -- 1 for a locally administered MAC
    first_seen  DATETIME NOT NULL,
    last_seen   DATETIME NOT NULL
);
CREATE UNIQUE INDEX devices_device ON devices (agent, device_id);
CREATE INDEX devices_last_seen ON devices (last_seen);

CREATE TABLE device_addresses (
    id         INTEGER  NOT NULL PRIMARY KEY,
    agent      TEXT     NOT NULL,
    addr       TEXT     NOT NULL,           -- as tcpdump_records.client
    device_id  TEXT     NOT NULL,           -- devices.device_id
    first_seen DATETIME NOT NULL,           -- first seen with this device
    last_seen  DATETIME NOT NULL
);
CREATE UNIQUE INDEX device_addresses_addr ON device_addresses (agent, addr);
CREATE INDEX device_addresses_device ON device_addresses (agent, device_id);
CREATE INDEX device_addresses_last_seen ON device_addresses (last_seen);

CREATE VIEW device_records AS
SELECT r.id, r.ts, r.agent, r.client, r.domain, r.nickname, r.source, r.count, r.bytes,
       COALESCE(a.device_id, r.client) AS device,
       CASE WHEN length(d.hostname) > 0 THEN CAST(d.hostname AS TEXT) ELSE r.client END ||
       CASE WHEN d.vendor <> '' THEN ' (' || d.vendor || ')'
            WHEN d.randomised THEN ' (private MAC)'
            ELSE '' END AS device_label
FROM tcpdump_records AS r
LEFT JOIN device_addresses AS a ON a.agent = r.agent AND a.addr = r.client
LEFT JOIN devices AS d ON d.agent = a.agent AND d.device_id = a.device_id;

-- +goose Down
DROP VIEW device_records;
DROP TABLE device_addresses;
DROP TABLE devices;
