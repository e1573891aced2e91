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

// memProfileEnv names a file to write a heap profile to when the command
// ends. It is written without forcing a collection, so its in-use figures
// are the heap live at the last collection of the run (for a replay: with
// the flow tables and the open window full), and its alloc figures count
// everything allocated: `go tool pprof -sample_index=inuse_space`.
const memProfileEnv = "NETMON_MEMPROFILE"

// startProfile starts the CPU profile $NETMON_CPUPROFILE asks for, and
// arms the heap profile $NETMON_MEMPROFILE asks for, and returns what
// stops and writes them; without the variables it does nothing.
func startProfile() (stop func(), err error) {
	var cpu, mem *os.File
	if path := os.Getenv(memProfileEnv); path != "" {
		if mem, err = os.Create(path); err != nil {
			return nil, fmt.Errorf("$%s: %w", memProfileEnv, err)
		}
	}
	if path := os.Getenv(profileEnv); path != "" {
		if cpu, err = os.Create(path); err == nil {
			if err = pprof.StartCPUProfile(cpu); err != nil {
				cpu.Close()
			}
		}
		if err != nil {
			if mem != nil {
				mem.Close()
				os.Remove(mem.Name())
			}
			return nil, fmt.Errorf("$%s: %w", profileEnv, err)
		}
	}
	return func() {
		if cpu != nil {
			pprof.StopCPUProfile()
			cpu.Close()
		}
		if mem != nil {
			err := pprof.Lookup("heap").WriteTo(mem, 0)
			if cerr := mem.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				fmt.Fprintf(os.Stderr, "netmon: $%s: %s\n", memProfileEnv, err)
			}
		}
	}, nil
}
