package cmd

import (
	"time"

	"github.com/netmon/netmon/cmd/internal/flagval"
)

// limits are the ranges the bounded settings must lie in, by flag name.
// Each flag's value (cmd/internal/flagval) refuses a value outside its range
// in one line before anything is created, whether it came from a flag, a
// variable or the config file (with the file's line, in netmon config check
// too). The bounds are far from any real use and close enough to keep
// arithmetic on times and sizes exact: a window of 2,000,000 h overflowed
// near 2^62 ns and wrote nothing. docs/limits.md lists them.
var limits = map[string]flagval.Limit{
	// A window holds its counts in memory until it closes; a day is the
	// most anyone aggregates in a sensor before the database does.
	"window": flagval.DurationLimit(time.Second, flagval.Day),
	// How long a stop waits for the database: systemd gives 90 s.
	"drain-timeout":   flagval.DurationLimit(0, time.Hour),
	"unhealthy-after": flagval.DurationLimit(time.Second, 7*flagval.Day),
	// replay --follow: below a tenth of a second a file being copied is
	// taken half-written; a day unchanged is more than any rotation.
	"settle": flagval.DurationLimit(100*time.Millisecond, flagval.Day),
	// Below 4 KiB not one window fits; above 1 TiB is no Pi's disk.
	"spool-max":  flagval.SizeLimit(4<<10, 1<<40),
	"older-than": flagval.AgeLimit(time.Minute, 36600*flagval.Day),
	// "all" is not an age and has no bound.
	"since": flagval.AgeLimit(time.Second, 36600*flagval.Day),
	// Rows per prune transaction: more holds locks for seconds.
	"batch": flagval.CountLimit(1, 1_000_000),
	// Lines of netmon top; 0 is all.
	"limit": flagval.CountLimit(0, 1_000_000),
}
