package storetest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/netmon/netmon/capture/capturetest"
)

// Server is a private mariadbd for tests that stop and start the database:
// its own data directory, port, socket and pid file under the test's
// temporary directory, so the shared server is never touched. Root has no
// password and connects over TCP on 127.0.0.1.
type Server struct {
	t        testing.TB
	Port     int
	dir      string
	datadir  string
	mariadbd string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

// startTimeout bounds how long a fresh server may take to answer.
const startTimeout = 30 * time.Second

// StartPrivateServer initialises a data directory with mariadb-install-db
// and starts mariadbd on a free port from 3407 up. It is stopped when the
// test ends. The test fails, with directions, when MariaDB is not installed.
func StartPrivateServer(t testing.TB) *Server {
	t.Helper()
	mariadbd := lookPath(t, "mariadbd", "mysqld")
	install := lookPath(t, "mariadb-install-db", "mysql_install_db")
	// Unix socket paths are limited to 108 bytes, and a test's temporary
	// directory can be long: keep everything in a short directory.
	dir, err := os.MkdirTemp("", "netmon-db-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s := &Server{t: t, dir: dir, datadir: filepath.Join(dir, "data"), mariadbd: mariadbd}

	// Its own tmpdir too: installs running at once in a shared /tmp
	// have been seen to trip over each other's temporary tables.
	args := []string{"--no-defaults", "--datadir=" + s.datadir, "--tmpdir=" + dir, "--auth-root-authentication-method=normal", "--skip-test-db"}
	args = append(args, s.userArgs()...)
	if out, err := exec.Command(install, args...).CombinedOutput(); err != nil {
		t.Fatalf("storetest: %s: %v\n%s", install, err, out)
	}
	var lastErr error
	for range 5 {
		s.Port = 3407 + rand.IntN(2000)
		if !portFree(s.Port) {
			continue
		}
		if lastErr = s.start(); lastErr == nil {
			t.Cleanup(s.Stop)
			return s
		}
	}
	t.Fatalf("storetest: private mariadbd did not start: %v", lastErr)
	return nil
}

func lookPath(t testing.TB, names ...string) string {
	t.Helper()
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
		if p := filepath.Join("/usr/sbin", n); fileExists(p) {
			return p
		}
	}
	capturetest.Missing(t, "storetest: %s not found: apt-get install mariadb-server", names[0])
	return ""
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// userArgs makes root run the server as root, which mariadbd refuses
// unless told; the data directory under /tmp is root's own.
func (s *Server) userArgs() []string {
	if os.Geteuid() == 0 {
		return []string{"--user=root"}
	}
	return nil
}

func portFree(port int) bool {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// Start starts the server again after Stop, on the same port and data.
func (s *Server) Start() {
	s.t.Helper()
	if err := s.start(); err != nil {
		s.t.Fatalf("storetest: restart mariadbd: %v", err)
	}
}

func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("already running")
	}
	args := []string{
		"--no-defaults",
		"--datadir=" + s.datadir,
		"--tmpdir=" + s.dir,
		"--port=" + strconv.Itoa(s.Port),
		"--bind-address=127.0.0.1",
		"--socket=" + s.Socket(),
		"--pid-file=" + filepath.Join(s.dir, "mariadbd.pid"),
		"--log-error=" + filepath.Join(s.dir, "error.log"),
		"--skip-name-resolve",
		// Small and quick: tests hold kilobytes.
		"--innodb-buffer-pool-size=32M",
		"--innodb-log-file-size=8M",
	}
	args = append(args, s.userArgs()...)
	cmd := exec.Command(s.mariadbd, args...)
	// Its own process group, so a Ctrl-C of go test reaches it only
	// through the test's cleanup.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()

	db := s.admin()
	defer db.Close()
	deadline := time.Now().Add(startTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := db.PingContext(ctx)
		cancel()
		if err == nil {
			s.cmd, s.done = cmd, done
			return nil
		}
		select {
		case <-done:
			log, _ := os.ReadFile(filepath.Join(s.dir, "error.log"))
			return fmt.Errorf("mariadbd exited: %s", tail(log, 600))
		default:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("mariadbd did not answer on port %d within %s: %v", s.Port, startTimeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// Stop shuts the server down cleanly and waits until it has exited, so
// its port refuses connections. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd, s.done = nil, nil
}

// Socket is the server's Unix socket, which network namespaces share.
func (s *Server) Socket() string { return filepath.Join(s.dir, "s.sock") }

// DSN is root's DSN for database name on this server (name may be empty).
func (s *Server) DSN(name string) string {
	c := mysql.NewConfig()
	c.User = "root"
	c.Net = "tcp"
	c.Addr = "127.0.0.1:" + strconv.Itoa(s.Port)
	c.DBName = name
	c.Timeout = 5 * time.Second
	return c.FormatDSN()
}

func (s *Server) admin() *sql.DB {
	db, err := sql.Open("mysql", s.DSN(""))
	if err != nil {
		s.t.Fatalf("storetest: %v", err)
	}
	return db
}

// Exec runs statements as root on the running server.
func (s *Server) Exec(queries ...string) {
	s.t.Helper()
	db := s.admin()
	defer db.Close()
	for _, q := range queries {
		ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
		_, err := db.ExecContext(ctx, q)
		cancel()
		if err != nil {
			s.t.Fatalf("storetest: %s: %v", q, err)
		}
	}
}

// NewDB creates an empty database on the server and returns root's DSN for
// it. It goes with the server's data directory when the test ends.
func (s *Server) NewDB(name string) string {
	s.t.Helper()
	// A database name cannot be a bound parameter; tests pass constants.
	s.Exec("CREATE DATABASE `" + name + "` CHARACTER SET utf8mb4")
	return s.DSN(name)
}
