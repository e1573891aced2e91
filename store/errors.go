package store

import (
	"errors"

	"github.com/go-sql-driver/mysql"
)

// MariaDB error numbers the writer tells apart.
const (
	erDupEntry        = 1062
	erLockWaitTimeout = 1205
	erLockDeadlock    = 1213 // also what Galera reports for a failed certification
	erTableMissing    = 1146

	// The value does not fit its column: no retry can change that.
	erBadNull             = 1048
	erWarnDataOutOfRange  = 1264
	erWarnDataTruncated   = 1265
	erTruncatedWrongValue = 1292
	erTruncatedValueField = 1366
	erIllegalValueForType = 1367
	erDataTooLong         = 1406
	erDataOutOfRange      = 1690 // e.g. a BIGINT UNSIGNED sum that overflows
)

func mysqlErrno(err error) uint16 {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number
	}
	return 0
}

func isDuplicate(err error) bool {
	c := sqliteCode(err)
	return mysqlErrno(err) == erDupEntry || c == sqliteConstraintUnique || c == sqliteConstraintPK
}

// isConflict reports a transaction that lost to a concurrent one: a
// deadlock, a lock wait that timed out, or a Galera certification failure;
// on SQLite, a file still locked by another writer after the busy timeout.
// Another agent writing at the same moment causes these; trying again at
// once succeeds.
func isConflict(err error) bool {
	n := mysqlErrno(err)
	c := sqliteCode(err) & 0xff // any BUSY_* or LOCKED_* variant
	return n == erLockDeadlock || n == erLockWaitTimeout || c == sqliteBusy || c == sqliteLocked
}

// isPermanent reports an error that is about the window's own data, which
// no retry can fix. Everything else — the network, the server restarting,
// credentials, a missing table, a read-only replica — heals once the
// operator or the server does its part, so the writer keeps the window and
// tries again.
func isPermanent(err error) bool {
	switch mysqlErrno(err) {
	case erBadNull, erWarnDataOutOfRange, erWarnDataTruncated, erTruncatedWrongValue,
		erTruncatedValueField, erIllegalValueForType, erDataTooLong, erDataOutOfRange:
		return true
	}
	switch sqliteCode(err) {
	case sqliteTooBig, sqliteMismatch, sqliteConstraintNull:
		return true
	}
	return false
}
