package cmd

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// dropPrivileges makes the process name's user, with its primary and
// supplementary groups, for good: netmon needs root (or CAP_NET_RAW and
// CAP_NET_ADMIN) only to open the capture handle, and everything it opened
// before stays open. Go's syscall.Setuid and friends change every thread of
// the process on Linux. Setting all of the real, effective and saved IDs
// also clears the capabilities root had.
//
// The user gets what netmon made for itself (see handOver). Directories the
// operator named may be shared, so netmon does not chown them: when the
// user cannot write one, it says what to change (systemd's StateDirectory=
// does it for the service).
//
// name was checked as it was set (flagval.User): a user of this machine,
// not root.
func dropPrivileges(name string, h handOver) error {
	u, err := user.Lookup(name)
	if err != nil {
		return fmt.Errorf("--user: %w", err)
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return fmt.Errorf("--user %s: uid %q is not a number", name, u.Uid)
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return fmt.Errorf("--user %s: gid %q is not a number", name, u.Gid)
	}
	groups, err := u.GroupIds()
	if err != nil {
		return fmt.Errorf("--user %s: groups: %w", name, err)
	}
	gids := []int{gid}
	for _, g := range groups {
		if n, err := strconv.Atoi(g); err == nil && n != gid {
			gids = append(gids, n)
		}
	}
	for _, path := range h.trees {
		if err := chownTree(path, uid, gid); err != nil {
			return fmt.Errorf("--user %s: %w", name, err)
		}
	}
	for _, path := range h.files {
		if err := os.Lchown(path, uid, gid); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("--user %s: %w", name, err)
		}
	}
	// Groups first: once the uid is not root, changing them is refused.
	if err := syscall.Setgroups(gids); err != nil {
		return fmt.Errorf("--user %s: setgroups: %w (--user needs root)", name, err)
	}
	if err := syscall.Setresgid(gid, gid, gid); err != nil {
		return fmt.Errorf("--user %s: setresgid: %w", name, err)
	}
	if err := syscall.Setresuid(uid, uid, uid); err != nil {
		return fmt.Errorf("--user %s: setresuid: %w", name, err)
	}
	if syscall.Geteuid() != uid || syscall.Getuid() != uid {
		return fmt.Errorf("--user %s: still uid %d after setresuid", name, syscall.Geteuid())
	}
	var errs []error
	for _, dir := range h.writable {
		if err := unix.Access(dir, unix.W_OK|unix.X_OK); err != nil {
			errs = append(errs, fmt.Errorf("--user %s cannot write %s (%w): %s, or give --state-dir/--db a directory the user owns",
				name, dir, err, accessHint(name, dir)))
		}
	}
	return errors.Join(errs...)
}

// accessHint says what would let the user, whose IDs the process has now,
// write dir: entering the first directory on the way it may not enter
// (chown -R of dir itself would not help there), else owning dir.
func accessHint(name, dir string) string {
	var path []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		path = append(path, d)
		if d == filepath.Dir(d) {
			break
		}
	}
	for i := len(path) - 1; i > 0; i-- {
		if unix.Access(path[i], unix.X_OK) != nil {
			return fmt.Sprintf("%s may not enter %s: chmod o+x %s (or chown %s it)", name, path[i], path[i], name)
		}
	}
	return fmt.Sprintf("chown -R %s %s", name, dir)
}

// handOver is what --user must own or write once privileges are dropped.
type handOver struct {
	trees    []string // given to the user with everything under them
	files    []string // given to the user alone (a directory's other entries stay)
	writable []string // directories the user must be able to write
}

// chownTree gives path, and everything under it when it is a directory, to
// uid:gid. A path that does not exist is skipped (a journal not made yet).
func chownTree(path string, uid, gid int) error {
	err := filepath.WalkDir(path, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}
