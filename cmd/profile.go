package cmd

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// profileEnv names a file to write a CPU profile of the whole process to
// (go tool pprof reads it): how BENCHMARKS.md's profiles of a replay are
// taken. It is for developers, so it is an environment variable rather
// than a flag that every user would see.
const profileEnv = "NETMON_CPUPROFILE"

// startProfile starts the CPU profile $NETMON_CPUPROFILE asks for and
// returns what stops it; without the variable it does nothing.
func startProfile() (stop func(), err error) {
	path := os.Getenv(profileEnv)
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("$%s: %w", profileEnv, err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("$%s: %w", profileEnv, err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
