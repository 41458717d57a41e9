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

// limitStep is the limit's row and step, reading only or also writing
// every file into a fresh root per run.
func (b *bench) limitStep(c int, write bool) (*row, runStep) {
	r := &row{ID: "limit", Title: "limit: net/http reads", Conc: c, Users: len(b.users), Scale: 1}
	root := ""
	if write {
		r.ID, r.Title = "limit-write", "limit: reads + durable writes"
	}
	return r, runStep{
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
	}
}

func (b *bench) limitArgs(c int, root, cpuProfile string) []string {
	return []string{limitCmd, "-addr", b.vault.Addr, "-role-id-file", b.role.RoleIDFile,
		"-secret-id-file", b.role.SecretIDFile, "-users", b.usersFile, "-root", root,
		"-c", strconv.Itoa(c), "-cpuprofile", cpuProfile}
}

// selection says which of the limit and sync rows to run.
type selection struct{ limit, limitWrite, full, noop, changed bool }

// syncRows times the limits and user-secrets sync into an empty root, with
// nothing changed, and after 1% of the entries changed, in that order: each
// leaves the root as the next needs it. Each row is interleaved run by run
// with the limit it is compared with, and with the same row of other
// binaries (-compare), so that drift hits both sides of a ratio alike.
func (b *bench) syncRows(ctx context.Context, c int, bins []string, sel selection) []*row {
	g := &rowGroups{b: b, ctx: ctx, c: c, bins: bins}
	if g.spec, g.err = b.writeSpec(c); g.err == nil {
		g.run(sel)
	}
	if g.err != nil {
		g.rows = append(g.rows, &row{ID: "full", Title: "user-secrets sync", Conc: c, Err: g.err.Error()})
	}
	slices.SortStableFunc(g.rows, func(x, y *row) int { return slices.Index(rowIDs, x.ID) - slices.Index(rowIDs, y.ID) })
	return g.rows
}

// rowGroups runs syncRows' groups of interleaved rows.
type rowGroups struct {
	b    *bench
	ctx  context.Context
	c    int
	bins []string
	spec string
	rows []*row
	err  error // a setup step failed
}

func (g *rowGroups) run(sel selection) {
	b, c := g.b, g.c
	rs, steps := b.limitIf(sel.limitWrite, c, true)
	if sel.full {
		rs, steps = g.add(rs, steps, "full", "user-secrets sync: empty root",
			func(int) (int, error) { return b.data.files(), b.resetSync(c) },
			func() error { return b.verifyFiles(b.syncRoot(), len(b.users), true) })
	}
	if !g.interleave(rs, steps) || !sel.noop && !sel.changed {
		g.interleave(b.limitIf(sel.limit, c, false))
		return
	}
	if !sel.full {
		if g.err = b.untimedSync(g.ctx, c, b.syncCmd(g.bins[0], g.spec)); g.err != nil {
			return
		}
	}
	rs, steps = b.limitIf(sel.limit, c, false)
	if sel.noop {
		rs, steps = g.add(rs, steps, "noop", "user-secrets sync: no change", func(int) (int, error) { return 0, nil }, nil)
	}
	g.interleave(rs, steps)
	if sel.changed {
		n := max(1, len(b.users)/100)
		g.interleave(g.add(nil, nil, "changed", "user-secrets sync: 1% changed", func(int) (int, error) {
			want, err := b.data.change(g.ctx, b.rootAPI, b.changeFrom, n)
			b.changeFrom += n
			return want, err
		}, nil))
	}
}

// add appends the row id of each binary to rs and steps.
func (g *rowGroups) add(rs []*row, steps []runStep, id, title string, prepare func(int) (int, error), verify func() error) ([]*row, []runStep) {
	for _, bin := range g.bins {
		t := title
		if len(g.bins) > 1 {
			t += " [" + filepath.Base(bin) + "]"
		}
		rs = append(rs, &row{ID: id, Title: t, Conc: g.c, Users: len(g.b.users), Scale: 1})
		steps = append(steps, runStep{prepare: prepare, command: g.b.syncCmd(bin, g.spec), count: syncWritten, verify: verify})
	}
	return rs, steps
}

// interleave runs a group and keeps its rows; false if any failed.
func (g *rowGroups) interleave(rs []*row, steps []runStep) bool {
	g.b.interleave(g.ctx, g.b.cfg.runs, rs, steps)
	g.rows = append(g.rows, rs...)
	return !slices.ContainsFunc(rs, func(r *row) bool { return r.Err != "" })
}

// limitIf is the limit's row and step, writing files or not, if want.
func (b *bench) limitIf(want bool, c int, write bool) ([]*row, []runStep) {
	if !want {
		return nil, nil
	}
	r, st := b.limitStep(c, write)
	return []*row{r}, []runStep{st}
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
