-- Devices: the local machines behind client addresses, named from what the
-- network says about them (DHCP, mDNS, NetBIOS, PTR, the user's config) and
-- keyed by their MAC address, so that a device's IPv4 address and its IPv6
-- privacy addresses are one device. tcpdump_records.client keeps the address
-- (rows stay comparable over time); device_addresses maps each address to
-- the device that used it last, and device_records joins the two for the
-- dashboards.

-- +goose Up

-- One row per (agent, device). The writer merges what each window learned:
-- first_seen only moves back, last_seen only forward, and a host name
-- replaces the stored one only when its source is at least as trusted
-- (none < ptr < netbios < mdns < dhcp < config).
CREATE TABLE devices (
    id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    agent       VARCHAR(64)     NOT NULL,
    device_id   VARCHAR(64)     NOT NULL COMMENT 'the MAC address, or the only address when frames carry none',
    mac         CHAR(17)        NULL     COMMENT 'aa:bb:cc:dd:ee:ff, NULL when unknown',
    ips         VARCHAR(1024)   NOT NULL COMMENT 'up to 16 addresses from device_addresses, most recent first, ", " between',
    hostname    VARBINARY(1024) NOT NULL COMMENT 'as announced, byte for byte; may be invalid UTF-8; empty when unknown',
    name_source VARCHAR(8)      NOT NULL COMMENT 'where hostname came from: ptr, netbios, mdns, dhcp, config, or empty',
    vendor      VARCHAR(255)    NOT NULL COMMENT 'IEEE OUI assignee of the MAC, empty when unknown',
    randomised  TINYINT(1)      NOT NULL COMMENT '1 for a locally administered ("private Wi-Fi") MAC',
    first_seen  DATETIME        NOT NULL COMMENT 'UTC',
    last_seen   DATETIME        NOT NULL COMMENT 'UTC',
    PRIMARY KEY (id),
    UNIQUE KEY devices_device (agent, device_id),
    KEY devices_last_seen (last_seen)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The device each address belongs to, per agent: the device that used it
-- last. An address that moves to another device (a DHCP lease given to
-- someone else) moves its row; which device held it before is not kept.
CREATE TABLE device_addresses (
    id         BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    agent      VARCHAR(64)     NOT NULL,
    addr       VARCHAR(45)     NOT NULL COMMENT 'as tcpdump_records.client',
    device_id  VARCHAR(64)     NOT NULL COMMENT 'devices.device_id',
    first_seen DATETIME        NOT NULL COMMENT 'UTC, first seen with this device',
    last_seen  DATETIME        NOT NULL COMMENT 'UTC',
    PRIMARY KEY (id),
    UNIQUE KEY device_addresses_addr (agent, addr),
    KEY device_addresses_device (agent, device_id),
    KEY device_addresses_last_seen (last_seen)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- tcpdump_records with each row's device: device is the device_id its
-- client address belongs to, else the address itself; device_label is what
-- people read: "hostname (vendor)", "hostname", "address (vendor)" or the
-- address, with "private MAC" in place of a vendor for randomised MACs.
-- Grouped by device, MIN(device_label) gives the label of the device's
-- smallest address when it has no host name, as netmon top does. Grafana
-- reads it; SQL SECURITY INVOKER so that it keeps working whoever ran the
-- migration, for any user who may read the tables.
CREATE SQL SECURITY INVOKER VIEW device_records AS
SELECT r.id, r.ts, r.agent, r.client, r.domain, r.nickname, r.source, r.count, r.bytes,
       COALESCE(a.device_id, r.client) AS device,
       CONCAT(
           IF(LENGTH(d.hostname) > 0, CONVERT(d.hostname USING utf8mb4) COLLATE utf8mb4_bin, r.client),
           CASE WHEN d.vendor <> '' THEN CONCAT(' (', d.vendor, ')')
                WHEN d.randomised THEN ' (private MAC)'
                ELSE '' END
       ) AS device_label
FROM tcpdump_records AS r
LEFT JOIN device_addresses AS a ON a.agent = r.agent AND a.addr = r.client
LEFT JOIN devices AS d ON d.agent = a.agent AND d.device_id = a.device_id;

-- +goose Down
DROP VIEW device_records;
DROP TABLE device_addresses;
DROP TABLE devices;
