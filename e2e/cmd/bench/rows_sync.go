package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// limitRow times the limit, reading only or also writing every file.
func (b *bench) limitRow(ctx context.Context, c int, write bool) *row {
	r := &row{ID: "limit", Title: "limit: net/http reads", Conc: c, Users: len(b.users), Scale: 1}
	root := ""
	if write {
		r.ID, r.Title = "limit-write", "limit: reads + durable writes"
	}
	return b.repeat(ctx, r, b.cfg.runs, runStep{
		prepare: func(int) (int, error) {
			if !write {
				return 0, nil
			}
			var err error
			root, err = b.freshDir("limit-out")
			return b.data.files(), err
		},
		command: func() *exec.Cmd {
			return exec.Command(b.self, b.limitArgs(c, root, "")...)
		},
		count: func(out []byte) (int, error) {
			var n int
			if _, err := fmt.Sscanf(string(out), "files %d", &n); err != nil {
				return 0, fmt.Errorf("limit printed %q", out)
			}
			if n != b.data.files() {
				return 0, fmt.Errorf("limit read %d fields, want %d", n, b.data.files())
			}
			if !write {
				return 0, nil
			}
			return n, nil
		},
	})
}

func (b *bench) limitArgs(c int, root, cpuProfile string) []string {
	return []string{limitCmd, "-addr", b.vault.Addr, "-role-id-file", b.role.RoleIDFile,
		"-secret-id-file", b.role.SecretIDFile, "-users", b.usersFile, "-root", root,
		"-c", strconv.Itoa(c), "-cpuprofile", cpuProfile}
}

// syncRows times user-secrets sync into an empty root, with nothing
// changed, and after 1% of the entries changed, in that order: each leaves
// the root as the next needs it. With several binaries (-compare), each
// row is run for each, interleaved run by run.
func (b *bench) syncRows(ctx context.Context, c int, bins []string, full, noop, changed bool) []*row {
	if !full && !noop && !changed {
		return nil
	}
	spec, err := b.writeSpec(c)
	if err != nil {
		return []*row{{ID: "full", Title: "user-secrets sync", Conc: c, Err: err.Error()}}
	}
	var rows []*row
	runRow := func(id, title string, prepare func(int) (int, error), verify func() error) bool {
		var rs []*row
		var steps []runStep
		for _, bin := range bins {
			t := title
			if len(bins) > 1 {
				t += " [" + filepath.Base(bin) + "]"
			}
			rs = append(rs, &row{ID: id, Title: t, Conc: c, Users: len(b.users), Scale: 1})
			steps = append(steps, runStep{prepare: prepare, command: b.syncCmd(bin, spec), count: syncWritten, verify: verify})
		}
		b.interleave(ctx, b.cfg.runs, rs, steps)
		rows = append(rows, rs...)
		return !slices.ContainsFunc(rs, func(r *row) bool { return r.Err != "" })
	}
	if full {
		ok := runRow("full", "user-secrets sync: empty root",
			func(int) (int, error) { return b.data.files(), b.resetSync(c) },
			func() error { return b.verifyFiles(b.syncRoot(), len(b.users), true) })
		if !ok {
			return rows
		}
	} else if err := b.untimedSync(ctx, c, b.syncCmd(bins[0], spec)); err != nil {
		return append(rows, &row{ID: "noop", Title: "user-secrets sync", Conc: c, Err: err.Error()})
	}
	if noop {
		runRow("noop", "user-secrets sync: no change", func(int) (int, error) { return 0, nil }, nil)
	}
	if changed {
		n := max(1, len(b.users)/100)
		runRow("changed", "user-secrets sync: 1% changed", func(int) (int, error) {
			want, err := b.data.change(ctx, b.rootAPI, b.changeFrom, n)
			b.changeFrom += n
			return want, err
		}, nil)
	}
	return rows
}

func (b *bench) syncCmd(bin, spec string) func() *exec.Cmd {
	return func() *exec.Cmd {
		return exec.Command(bin, "--config", spec, "sync")
	}
}

// untimedSync puts every file in place for rows that need a synced root.
func (b *bench) untimedSync(ctx context.Context, c int, cmd func() *exec.Cmd) error {
	if err := b.resetSync(c); err != nil {
		return err
	}
	_, _, err := b.measure(ctx, cmd())
	return err
}

func (b *bench) syncRoot() string { return b.outRoot }

// resetSync points the spec for concurrency c at a fresh, empty output root
// and forgets the state file.
func (b *bench) resetSync(c int) error {
	if err := resetDir(filepath.Join(b.dir, "state")); err != nil {
		return err
	}
	root, err := b.freshDir("out")
	if err != nil {
		return err
	}
	b.outRoot = root
	_, err = b.writeSpec(c)
	return err
}

// writeSpec writes a spec for every bench user at concurrency c, with the
// defaults for KV (secret/excalibur/users/{user}, v2). The timeout is an
// hour: the default 30 s is one deadline for the whole run and would cut
// the slowest sweeps short.
func (b *bench) writeSpec(c int) (string, error) {
	var s strings.Builder
	fmt.Fprintf(&s, "[vault]\naddress = %q\ntimeout = \"1h\"\nconcurrency = %d\n\n", b.vault.Addr, c)
	fmt.Fprintf(&s, "[auth]\nrole_id_file = %q\nsecret_id_file = %q\n\n", b.role.RoleIDFile, b.role.SecretIDFile)
	fmt.Fprintf(&s, "[output]\nroot = %q\n\n", b.syncRoot())
	state := filepath.Join(b.dir, "state")
	fmt.Fprintf(&s, "[state]\nfile = %q\nlock_file = %q\n", filepath.Join(state, "state.json"), filepath.Join(b.dir, "sync.lock"))
	writeUsers(&s, b.users, b.data.keys)
	path := filepath.Join(b.dir, fmt.Sprintf("spec-c%d.toml", c))
	return path, os.WriteFile(path, []byte(s.String()), 0o600)
}

func writeUsers(s *strings.Builder, users []benchUser, keys []string) {
	quoted := make([]string, len(keys))
	for i, k := range keys {
		quoted[i] = strconv.Quote(k)
	}
	list := strings.Join(quoted, ", ")
	for _, u := range users {
		fmt.Fprintf(s, "\n[users.%s]\nfiles = [%s]\n", u.Name, list)
	}
}

var (
	summaryRE = regexp.MustCompile(`(?m)^summary: (\d+) keys: (.*)$`)
	writtenRE = regexp.MustCompile(`(\d+) written`)
)

// syncWritten reads the written count from user-secrets' summary line and
// fails if any key failed.
func syncWritten(out []byte) (int, error) {
	m := summaryRE.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("no summary line in the report:\n%s", tail(string(out), 500))
	}
	if strings.Contains(string(m[2]), "failed") {
		return 0, fmt.Errorf("keys failed: %s", m[0])
	}
	w := writtenRE.FindSubmatch(m[2])
	if w == nil {
		return 0, nil
	}
	return strconv.Atoi(string(w[1]))
}
