package cmd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/netmon/netmon/cmd/internal/flagval"
	"github.com/netmon/netmon/cmd/internal/telemetry"
	"github.com/netmon/netmon/web"
)

// defaultServeListen is where netmon serve listens: loopback, so that
// listening beyond this machine is an explicit choice.
const defaultServeListen = "127.0.0.1:8080"

func newServeCmd(logger func() (*slog.Logger, error)) *cobra.Command {
	var listen, authFile string
	var f dsnFlags
	c := &cobra.Command{
		Use:   "serve",
		Short: "Serve the web dashboard and its JSON API over the database, without capturing",
		Long: "serve shows what the database holds (SQLite file or MariaDB, every agent) in a web page:\n" +
			"services over time, top services, devices and domains, one device's services. It captures nothing.\n" +
			"It listens on " + defaultServeListen + "; listening beyond loopback is a choice (--listen 0.0.0.0:8080)\n" +
			"and then deserves --auth-file. See docs/dashboard.md.",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(c.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			log, err := logger()
			if err != nil {
				return err
			}
			var auth *web.Auth
			if authFile != "" {
				if auth, err = web.ReadAuth(authFile); err != nil {
					return err
				}
			}
			st, err := f.open(ctx, log)
			if err != nil {
				return err
			}
			defer st.Close()
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("--listen: %w", err)
			}
			srv := &http.Server{
				Handler:           web.Handler(st, web.Options{Auth: auth, Log: log}),
				ReadHeaderTimeout: 5 * time.Second,
				ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
			}
			telemetry.WarnExposed(log, ln, auth)
			log.Info("serving the dashboard", "url", "http://"+ln.Addr().String()+"/", "auth", auth != nil)
			fmt.Fprintf(c.OutOrStdout(), "netmon dashboard on http://%s/\n", ln.Addr())
			errc := make(chan error, 1)
			go func() { errc <- srv.Serve(ln) }()
			select {
			case err := <-errc:
				return fmt.Errorf("serve: %w", err)
			case <-ctx.Done():
			}
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
	}
	c.Flags().Var(flagval.Listen(&listen, defaultServeListen), "listen", "address to serve the dashboard on")
	c.Flags().StringVar(&authFile, "auth-file", "", "require the password (user:password) or token in this file")
	f.register(c.Flags())
	return c
}
