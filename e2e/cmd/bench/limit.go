package main

// The limit: the fastest plain way to do what a sync does, run as its own
// process (so its start-up and peak RSS compare with user-secrets'). It logs
// in with AppRole, reads each user's entry with a keep-alive net/http client
// on the same number of workers, and, with -root, writes every field with the
// same durability as user-secrets: temp file created O_EXCL, write, fchown,
// fchmod, fsync, rename, then one directory fsync per user. It skips what
// only a tool facing hostile users needs (os.Root confinement, lstat and
// compare before writing, temp clean-up, the state file and lock) and NSS:
// the bench hands it each user's UID and GID.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
)

const limitCmd = "limit"

type limitArgs struct {
	addr, roleID, secretID string
	usersFile              string // lines of "name uid gid"
	root                   string // empty: read only
	workers                int
	cpuProfile             string
}

// limitMain is `bench limit ...`: exit 0 and "files N" on stdout.
func limitMain(args []string) int {
	var a limitArgs
	fl := flag.NewFlagSet(limitCmd, flag.ContinueOnError)
	fl.StringVar(&a.addr, "addr", "", "Vault address")
	fl.StringVar(&a.roleID, "role-id-file", "", "")
	fl.StringVar(&a.secretID, "secret-id-file", "", "")
	fl.StringVar(&a.usersFile, "users", "", "file of `name uid gid` lines")
	fl.StringVar(&a.root, "root", "", "write files under this root (empty: reads only)")
	fl.IntVar(&a.workers, "c", 8, "concurrency")
	fl.StringVar(&a.cpuProfile, "cpuprofile", "", "write a CPU profile")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	n, err := runLimit(context.Background(), a)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench limit:", err)
		return 1
	}
	fmt.Printf("files %d\n", n)
	return 0
}

func runLimit(ctx context.Context, a limitArgs) (int64, error) {
	if a.cpuProfile != "" {
		f, err := os.Create(a.cpuProfile)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	users, err := readUsersFile(a.usersFile)
	if err != nil {
		return 0, err
	}
	c := newAPI(a.addr, "", a.workers)
	if err := c.login(ctx, a.roleID, a.secretID); err != nil {
		return 0, err
	}
	defer c.do(context.Background(), "POST", "auth/token/revoke-self", nil, nil)
	var files atomic.Int64
	err = parallel(len(users), a.workers, func(i int) error {
		fields, err := c.readKV(ctx, users[i].Name)
		if err != nil {
			return err
		}
		if a.root != "" {
			err = writeUser(filepath.Join(a.root, users[i].Name), users[i], fields)
		}
		files.Add(int64(len(fields)))
		return err
	})
	return files.Load(), err
}

// writeUser places every field durably: one fsync per file, one per dir.
func writeUser(dir string, u benchUser, fields map[string]string) error {
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	if err := os.Chown(dir, u.UID, u.GID); err != nil {
		return err
	}
	for key, value := range fields {
		if err := writeDurable(dir, key, value, u); err != nil {
			return err
		}
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func writeDurable(dir, name, value string, u benchUser) error {
	var b [8]byte
	rand.Read(b[:])
	tmp := filepath.Join(dir, ".tmp-"+hex.EncodeToString(b[:]))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o400)
	if err != nil {
		return err
	}
	_, err = f.WriteString(value)
	err = errors.Join(err, f.Chown(u.UID, u.GID), f.Chmod(0o400), f.Sync(), f.Close())
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, name))
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

func writeUsersFile(path string, users []benchUser) error {
	var b strings.Builder
	for _, u := range users {
		fmt.Fprintf(&b, "%s %d %d\n", u.Name, u.UID, u.GID)
	}
	return os.WriteFile(path, []byte(b.String()), 0o600)
}

func readUsersFile(path string) ([]benchUser, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var users []benchUser
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			return nil, fmt.Errorf("bad users line %q", line)
		}
		uid, err1 := strconv.Atoi(f[1])
		gid, err2 := strconv.Atoi(f[2])
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("bad users line %q", line)
		}
		users = append(users, benchUser{Name: f[0], UID: uid, GID: gid})
	}
	return users, nil
}
