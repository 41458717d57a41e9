package main

// Benchmark users. user-secrets resolves every spec user through NSS and
// chowns their files, so the users must exist. useradd takes ~50 ms each
// (10,000 users: minutes), so the bench appends its users to /etc/passwd
// directly, in a UID range of its own, and removes exactly those lines
// afterwards. It never restores a backup copy: other tests on the machine
// may add or delete their own users meanwhile, and a restore would undo that.
//
// Edits take the same locks shadow-utils (useradd, userdel, vipw) takes: the
// lckpwdf fcntl lock on /etc/.pwd.lock and the /etc/passwd.lock file holding
// our pid. The new file is written beside the old one, fsynced and renamed
// over it, so a concurrent getpwnam sees the old or the new file, whole.
// A run killed with SIGKILL leaves its lines behind; the next run (or
// `bench -cleanup`) removes them, recognised by GECOS, UID range and the
// pid in the GECOS no longer running. Two runs at once would need the same
// names, so the second refuses to start.

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	passwdFile  = "/etc/passwd"
	benchUID    = 200000 // first UID; far above system and LDAP ranges seen in practice
	benchUIDMax = 299999
	benchGECOS  = "user-secrets bench (temporary)"
	benchGID    = benchUID // one primary group for all; getpwnam needs no /etc/group line
	lockWait    = 30 * time.Second
)

// benchUser is one system user the bench made, known without asking NSS.
type benchUser struct {
	Name     string
	UID, GID int
}

// userName is the name of bench user i; valid for user-secrets and useradd.
func userName(i int) string { return fmt.Sprintf("usb%05d", i) }

func makeUsers(n int) []benchUser {
	users := make([]benchUser, n)
	for i := range users {
		users[i] = benchUser{Name: userName(i), UID: benchUID + i, GID: benchGID}
	}
	return users
}

// addUsers appends users to /etc/passwd, marked with our pid. It refuses
// if a name or UID is taken, also by another bench run that is still alive.
func addUsers(users []benchUser) error {
	if benchUID+len(users)-1 > benchUIDMax {
		return fmt.Errorf("at most %d bench users", benchUIDMax-benchUID+1)
	}
	return editPasswd(func(lines []string) ([]string, error) {
		names := map[string]bool{}
		for _, u := range users {
			names[u.Name] = true
		}
		for _, l := range lines {
			f := strings.Split(l, ":")
			if len(f) < 3 {
				continue
			}
			if pid, ok := benchLine(l); ok && pid != os.Getpid() {
				return nil, fmt.Errorf("another bench run (pid %d) has its users in %s; wait for it to finish", pid, passwdFile)
			}
			uid, _ := strconv.Atoi(f[2])
			if names[f[0]] || uid >= benchUID && uid < benchUID+len(users) {
				return nil, fmt.Errorf("%s already has %q; pick another UID range", passwdFile, f[0])
			}
		}
		gecos := fmt.Sprintf("%s pid %d", benchGECOS, os.Getpid())
		for _, u := range users {
			lines = append(lines, fmt.Sprintf("%s:x:%d:%d:%s:/nonexistent:/usr/sbin/nologin", u.Name, u.UID, u.GID, gecos))
		}
		return lines, nil
	})
}

// removeBenchUsers removes the lines this run added, and those of runs that
// died without removing theirs; a live run's lines are left alone.
func removeBenchUsers() (removed int, err error) {
	err = editPasswd(func(lines []string) ([]string, error) {
		kept := lines[:0:0]
		for _, l := range lines {
			if pid, ok := benchLine(l); ok && (pid == os.Getpid() || !alive(pid)) {
				removed++
				continue
			}
			kept = append(kept, l)
		}
		return kept, nil
	})
	return removed, err
}

// benchLine recognises a bench run's line by GECOS and UID range together,
// so a real user in that range, or one with that comment, is never touched,
// and returns the pid of the run that added it.
func benchLine(line string) (pid int, ok bool) {
	f := strings.Split(line, ":")
	if len(f) != 7 {
		return 0, false
	}
	rest, found := strings.CutPrefix(f[4], benchGECOS+" pid ")
	uid, err := strconv.Atoi(f[2])
	if !found || err != nil || uid < benchUID || uid > benchUIDMax {
		return 0, false
	}
	pid, err = strconv.Atoi(rest)
	return pid, err == nil
}

// alive reports whether a process with pid exists. A pid reused since by
// another process keeps a dead run's lines until that process ends: safe.
func alive(pid int) bool {
	return pid > 0 && !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

// editPasswd replaces /etc/passwd with edit's result under shadow-utils'
// locks. Nothing is written when edit changes nothing.
func editPasswd(edit func([]string) ([]string, error)) error {
	unlock, err := lockPasswd()
	if err != nil {
		return err
	}
	defer unlock()
	data, err := os.ReadFile(passwdFile)
	if err != nil {
		return err
	}
	text := strings.TrimSuffix(string(data), "\n")
	var lines []string
	if text != "" {
		lines = strings.Split(text, "\n")
	}
	out, err := edit(lines)
	if err != nil {
		return err
	}
	next := strings.Join(out, "\n") + "\n"
	if next == string(data) {
		return nil
	}
	return replaceFile(passwdFile, []byte(next))
}

// replaceFile writes data beside path with path's owner and mode, and
// renames it into place durably.
func replaceFile(path string, data []byte) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	st := fi.Sys().(*syscall.Stat_t)
	tmp := path + ".user-secrets-bench"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, fi.Mode().Perm())
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	err = errors.Join(err, f.Chown(int(st.Uid), int(st.Gid)), f.Chmod(fi.Mode().Perm()), f.Sync(), f.Close())
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("rewrite %s: %w", path, err)
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(path string) error {
	d, err := os.Open(path)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// lockPasswd takes lckpwdf's lock, then shadow-utils' /etc/passwd.lock.
func lockPasswd() (unlock func(), err error) {
	pw, err := os.OpenFile("/etc/.pwd.lock", os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	lk := syscall.Flock_t{Type: syscall.F_WRLCK, Whence: 0}
	deadline := time.Now().Add(lockWait)
	for {
		err = syscall.FcntlFlock(pw.Fd(), syscall.F_SETLK, &lk)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			pw.Close()
			return nil, fmt.Errorf("lock /etc/.pwd.lock (useradd running?): %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	release, err := lockFileByPid(passwdFile+".lock", deadline)
	if err != nil {
		pw.Close() // closing drops the fcntl lock
		return nil, err
	}
	return func() { release(); pw.Close() }, nil
}

// lockFileByPid creates path holding our pid, as shadow-utils does, and
// removes a stale one whose process is gone.
func lockFileByPid(path string, deadline time.Time) (func(), error) {
	for {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			fmt.Fprintf(f, "%d", os.Getpid())
			f.Close()
			return func() { os.Remove(path) }, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
		if b, rerr := os.ReadFile(path); rerr == nil {
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil && !alive(pid) {
				os.Remove(path)
				continue
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s is held by another process", path)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
