-- The initial schema. Every text column that the writer matches on (agent,
-- client, nickname) uses a binary collation so that equality, the unique keys
-- and GROUP BY compare exactly what was written, not a case-folded form.

-- +goose Up

-- One row per (agent, window, client, domain). The writer adds to count and
-- bytes when the same key is written again, and corrections move rows from a
-- guessed name (ptr, ip) to a definite one.
CREATE TABLE tcpdump_records (
    id       BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    ts       DATETIME        NOT NULL COMMENT 'window start, UTC',
    agent    VARCHAR(64)     NOT NULL COMMENT 'the netmon instance that counted the packets',
    client   VARCHAR(45)     NOT NULL COMMENT 'local address, netip.Addr text form',
    domain   VARBINARY(255)  NOT NULL COMMENT 'name as seen on the wire, byte for byte; may be invalid UTF-8',
    nickname VARCHAR(255)    NOT NULL COMMENT 'service label for the dashboards',
    source   VARCHAR(8)      NOT NULL COMMENT 'how the name was found: dns, svcb, sni, http, quic, ptr, ip',
    count    BIGINT UNSIGNED NOT NULL COMMENT 'packets, both directions',
    bytes    BIGINT UNSIGNED NOT NULL COMMENT 'wire bytes, both directions',
    PRIMARY KEY (id),
    UNIQUE KEY tcpdump_records_window (agent, ts, client, domain),
    KEY tcpdump_records_ts_nickname (ts, nickname),
    KEY tcpdump_records_agent_domain (agent, domain)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The best name known for each address, per agent: a definite name replaces
-- anything, a PTR name replaces only another guess.
CREATE TABLE dns_records (
    id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    ts          DATETIME        NOT NULL COMMENT 'when the name was learned, UTC',
    agent       VARCHAR(64)     NOT NULL,
    ip_addr     VARCHAR(45)     NOT NULL,
    domain      VARBINARY(255)  NOT NULL COMMENT 'byte for byte, like tcpdump_records.domain',
    is_definite TINYINT(1)      NOT NULL,
    source      VARCHAR(8)      NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY dns_records_addr (agent, ip_addr),
    KEY dns_records_ts (ts)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE dns_records;
DROP TABLE tcpdump_records;
