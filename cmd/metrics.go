package cmd

import (
	"fmt"
	"net"
	"time"

	"github.com/spf13/pflag"

	"github.com/netmon/netmon/cmd/internal/flagval"
	"github.com/netmon/netmon/cmd/internal/telemetry"
	"github.com/netmon/netmon/web"
)

// opsFlags set the metrics listener and when /healthz gives up; what they
// serve is cmd/internal/telemetry.
type opsFlags struct {
	listen         string
	unhealthyAfter time.Duration
	authFile       string
}

func (f *opsFlags) register(fs *pflag.FlagSet) {
	fs.Var(flagval.Listen(&f.listen, ""), "listen", "serve Prometheus /metrics, /healthz and the web dashboard on this address, e.g. 127.0.0.1:9108 (default off)")
	fs.StringVar(&f.authFile, "auth-file", "", "require the password (user:password) or token in this file for the web dashboard and its API")
	fs.Var(flagval.Duration(&f.unhealthyAfter, 5*time.Minute, limits["unhealthy-after"]), "unhealthy-after", "/healthz fails when database writes have failed for this long without one succeeding")
}

// newMonitor builds the telemetry a run or replay serves on --listen.
func newMonitor(f opsFlags, live bool) (*telemetry.Monitor, error) {
	cfg := telemetry.Config{UnhealthyAfter: f.unhealthyAfter, Live: live, Version: version}
	if f.authFile != "" {
		a, err := web.ReadAuth(f.authFile)
		if err != nil {
			return nil, err
		}
		cfg.Auth = a
	}
	return telemetry.New(cfg)
}

// open opens --listen before privileges are dropped (a port below 1024
// needs them). Nil without --listen.
func (f *opsFlags) open() (net.Listener, error) {
	if f.listen == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return nil, fmt.Errorf("--listen: %w", err)
	}
	return ln, nil
}

// closeListener closes ln, if any, on a failed start.
func closeListener(ln net.Listener) {
	if ln != nil {
		ln.Close()
	}
}
