package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/excalibur/user-secrets/e2e/harness"
)

// bench is one benchmark run: a Vault, its users and data, and the binaries.
type bench struct {
	cfg        config
	started    time.Time
	dir        string   // everything the run writes; removed at the end
	usBin      string   // user-secrets
	usBins     []string // usBin, then -compare's binaries if any
	vaultBin   string
	self       string // this binary, run as `bench limit`
	vault      *harness.Vault
	rootAPI    *api // root token, for seeding
	role       *harness.Role
	users      []benchUser
	usersFile  string
	data       *dataset
	addedUsers bool
	seedTime   time.Duration
	changeFrom int // next user whose entry the 1% row changes
	runner     *runner
	rssFloor   int64  // KiB: the runner's share of every peak RSS
	outRoot    string // user-secrets' output root now
	seq        int    // for fresh directory names
}

func (b *bench) setup(ctx context.Context) error {
	var err error
	if b.dir, err = os.MkdirTemp(b.cfg.workDir, "user-secrets-bench-"); err != nil {
		return err
	}
	// MkdirTemp makes it 0700; the users must reach their directories below.
	if err := os.Chmod(b.dir, 0o755); err != nil {
		return err
	}
	if b.self, err = os.Executable(); err != nil {
		return err
	}
	if err := b.startRunner(ctx); err != nil {
		return err
	}
	if b.usBin = b.cfg.bin; b.usBin == "" {
		b.logf("building user-secrets")
		if b.usBin, err = harness.BuildUserSecrets(b.dir); err != nil {
			return err
		}
	}
	b.usBins = []string{b.usBin}
	if b.cfg.compare != "" {
		b.usBins = append(b.usBins, strings.Split(b.cfg.compare, ",")...)
	}
	if b.vaultBin, err = harness.VaultBinary(b.logf); err != nil {
		return err
	}
	b.logf("starting Vault %s (dev server, in memory)", harness.VaultVersion)
	if b.vault, err = harness.StartVault(harness.Options{Bin: b.vaultBin}); err != nil {
		return err
	}
	b.rootAPI = newAPI(b.vault.Addr, b.vault.RootToken, 16)
	if b.role, err = b.vault.CreateRole("bench", b.dir, kvMount+"/data/"+kvPrefix+"*"); err != nil {
		return err
	}
	b.users = makeUsers(b.cfg.users)
	b.logf("adding %d users (UID %d-%d) to %s", len(b.users), benchUID, benchUID+len(b.users)-1, passwdFile)
	b.addedUsers = true // even a failed add may have written some; removal is by marker
	if err := addUsers(b.users); err != nil {
		return err
	}
	b.usersFile = filepath.Join(b.dir, "users.txt")
	if err := writeUsersFile(b.usersFile, b.users); err != nil {
		return err
	}
	b.data = newDataset(b.users, b.cfg.keys)
	start := time.Now()
	if err := b.data.seed(ctx, b.rootAPI); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	b.seedTime = time.Since(start)
	b.logf("seeded %d entries (%d values, %.1f MiB) in %.2f s with 16 concurrent PUTs",
		len(b.users), b.data.files(), float64(b.data.bytes)/(1<<20), b.seedTime.Seconds())
	return nil
}

// startRunner starts the runner while this process is still small (see
// runner.go) and measures the floor it puts under every peak RSS.
func (b *bench) startRunner(ctx context.Context) error {
	var err error
	if b.runner, err = startRunner(b.self, b.dir); err != nil {
		return err
	}
	floor, _, err := b.measure(ctx, exec.Command("true"))
	b.rssFloor = floor.RSSKiB
	return err
}

// close undoes setup: users first, as they are outside the run's directory.
func (b *bench) close() {
	if b.addedUsers {
		if n, err := removeBenchUsers(); err != nil {
			b.logf("ERROR: could not remove the bench users from %s: %v; run `bench -cleanup`", passwdFile, err)
		} else {
			b.logf("removed %d bench users from %s", n, passwdFile)
		}
	}
	if b.runner != nil {
		b.runner.wait()
	}
	if b.vault != nil {
		b.vault.Stop()
	}
	if b.dir != "" {
		b.logf("removing %s", b.dir)
		os.RemoveAll(b.dir)
	}
}

// mainRows runs every selected row at the main concurrency.
func (b *bench) mainRows(ctx context.Context) []*row {
	c := b.cfg.conc
	var rows []*row
	rows = append(rows, b.syncRows(ctx, c, b.usBins, selection{b.want("limit"), b.want("limit-write"),
		b.want("full"), b.want("noop"), b.want("changed")})...)
	if b.want("shell") {
		rows = append(rows, b.shellRow(ctx))
	}
	if b.want("agent") {
		rows = append(rows, b.agentRow(ctx))
	}
	return rows
}

// sweepRows runs the limit and sync rows at each sweep concurrency, reusing
// the main table's rows at its concurrency.
func (b *bench) sweepRows(ctx context.Context, main []*row) []*row {
	var rows []*row
	for _, c := range b.cfg.sweep {
		if ctx.Err() != nil {
			break
		}
		if c == b.cfg.conc {
			for _, r := range main {
				if r.Conc == c && r.ID != "changed" && r.ID != "shell" && r.ID != "agent" && !strings.Contains(r.Title, " [") {
					rows = append(rows, r)
				}
			}
			continue
		}
		b.logf("sweep: concurrency %d", c)
		rows = append(rows, b.syncRows(ctx, c, b.usBins[:1], selection{b.want("limit"), b.want("limit-write"),
			b.want("full"), b.want("noop"), false})...)
	}
	return rows
}

// freshDir makes a new empty directory. Timed runs that create many files
// get one each instead of reusing an emptied one: ext4 without a journal
// (this bench's first machine) scans recently deleted inodes on every
// create, so deleting 50,000 files before a run slows the run's creates
// several times over, which no host syncing into an existing root pays.
// Everything is deleted once, at the end.
func (b *bench) freshDir(prefix string) (string, error) {
	b.seq++
	dir := filepath.Join(b.dir, fmt.Sprintf("%s-%d", prefix, b.seq))
	return dir, os.Mkdir(dir, 0o755)
}

// resetDir empties dir, then flushes the file system so that writing back
// the deletions is not billed to the next timed run.
func resetDir(dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		return err
	}
	syscall.Sync()
	return nil
}

// verifyFiles checks that the first n users' files hold the dataset's
// values with the right owner and mode 0400, so no row is timed doing
// something other than the job.
func (b *bench) verifyFiles(root string, n int, checkGroup bool) error {
	for u := range n {
		user := b.users[u]
		for k, key := range b.data.keys {
			path := filepath.Join(root, user.Name, key)
			fi, err := os.Lstat(path)
			if err != nil {
				return err
			}
			st := fi.Sys().(*syscall.Stat_t)
			switch {
			case !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o400:
				return fmt.Errorf("%s: mode %v, want -r--------", path, fi.Mode())
			case int(st.Uid) != user.UID || checkGroup && int(st.Gid) != user.GID:
				return fmt.Errorf("%s: owned by %d:%d, want %d:%d", path, st.Uid, st.Gid, user.UID, user.GID)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if string(got) != b.data.values[u][k] {
				return fmt.Errorf("%s: content differs from Vault's value (%d bytes, want %d)", path, len(got), len(b.data.values[u][k]))
			}
		}
	}
	return nil
}

// countFiles counts the regular files under root.
func countFiles(root string) (int, error) {
	n := 0
	err := filepath.WalkDir(root, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			n++
		}
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	return n, err
}
