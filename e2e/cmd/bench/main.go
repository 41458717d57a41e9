// Command bench measures `user-secrets sync` against the limit Vault allows
// and against the alternatives, on one real Vault dev server:
//
//	limit        plain net/http reads of the same entries, same concurrency
//	limit+write  the same, writing every file durably
//	sync full    user-secrets into an empty output root
//	sync no-op   again, nothing changed (must write 0 files)
//	sync 1%      after 1% of the entries changed
//	shell        `vault kv get -format=json` per user, jq and a redirect per field
//	agent        Vault Agent, exit_after_auth, one template per file
//	check        `user-secrets check` on a large spec
//
// It needs root: it creates its users by appending them to /etc/passwd (see
// users.go) and removes them when done, also on SIGINT/SIGTERM. See
// README.md, "Performance", for the results and how to read them.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// config is the command line.
type config struct {
	users, keys, runs int
	conc              int   // concurrency of the main table
	sweep             []int // concurrencies of the sweep table
	rows              []string
	sample            int // users the shell and agent rows run when there are more
	checkUsers        int
	quick             bool
	jsonOut           string
	profileDir        string
	workDir           string
	bin               string // a user-secrets binary to use instead of building one
	compare           string // more, comma-separated, whose sync rows are interleaved with bin's
	cleanup           bool
}

// rowIDs are the rows in table order; -rows picks a subset.
var rowIDs = []string{"limit", "limit-write", "full", "noop", "changed", "shell", "agent", "check", "nss"}

func main() {
	if len(os.Args) > 1 && os.Args[1] == limitCmd {
		os.Exit(limitMain(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == runnerCmd {
		os.Exit(runnerMain())
	}
	os.Exit(benchMain(os.Args[1:]))
}

func parseFlags(args []string) (config, error) {
	var c config
	var rows, sweep string
	fl := flag.NewFlagSet("bench", flag.ContinueOnError)
	fl.IntVar(&c.users, "users", 1000, "users (one KV entry each)")
	fl.IntVar(&c.keys, "keys", 5, "keys per user (one file each)")
	fl.IntVar(&c.runs, "runs", 3, "runs per row; the table shows the median")
	fl.IntVar(&c.conc, "c", 8, "concurrency of the main table (user-secrets' default)")
	fl.StringVar(&sweep, "concurrency", "1,4,8,16,32", "concurrencies of the sweep table; empty for none")
	fl.StringVar(&rows, "rows", strings.Join(rowIDs, ","), "rows to run")
	fl.IntVar(&c.sample, "sample", 100, "users the shell and agent rows run; more are extrapolated per user")
	fl.IntVar(&c.checkUsers, "check-users", 10000, "users in the spec `check` is timed on")
	fl.BoolVar(&c.quick, "quick", false, "CI smoke run: 50 users × 3 keys, 1 run, 20-user samples, check on 1,000 users")
	fl.StringVar(&c.jsonOut, "json", "", "also write the results as JSON to `FILE`")
	fl.StringVar(&c.profileDir, "profile", "", "write pprof profiles of sync and the limit into `DIR`")
	fl.StringVar(&c.workDir, "dir", "/var/tmp", "where the output roots go; must be a real disk (not tmpfs) for fsync to cost what it does")
	fl.StringVar(&c.bin, "bin", "", "benchmark this user-secrets `binary` (say, a patched build) instead of building the repository's")
	fl.StringVar(&c.compare, "compare", "", "also time these user-secrets `binaries`' (comma-separated) sync rows, interleaved run by run with the main one's")
	fl.BoolVar(&c.cleanup, "cleanup", false, "only remove bench users a killed run left in /etc/passwd")
	if err := fl.Parse(args); err != nil {
		return c, err
	}
	if c.quick {
		c.users, c.keys, c.runs, c.sample, c.checkUsers = 50, 3, 1, 20, 1000
		sweep = "1,4"
	}
	c.rows = strings.Split(rows, ",")
	for _, r := range c.rows {
		if !slices.Contains(rowIDs, r) {
			return c, fmt.Errorf("unknown row %q; rows are %s", r, strings.Join(rowIDs, ","))
		}
	}
	for _, s := range strings.Split(sweep, ",") {
		if s == "" {
			continue
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 256 {
			return c, fmt.Errorf("bad concurrency %q (1-256)", s)
		}
		c.sweep = append(c.sweep, n)
	}
	if c.users < 1 || c.keys < 1 || c.runs < 1 || c.sample < 1 {
		return c, fmt.Errorf("-users, -keys, -runs and -sample must be positive")
	}
	return c, nil
}

func benchMain(args []string) int {
	cfg, err := parseFlags(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 2
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "bench: skipped: needs root, to create its users and chown their files")
		if cfg.quick {
			return 0 // like the e2e tests that need root: a skip, not a failure
		}
		return 2
	}
	if n, err := removeBenchUsers(); err != nil {
		fmt.Fprintln(os.Stderr, "bench: removing users a killed run left:", err)
		return 1
	} else if n > 0 || cfg.cleanup {
		fmt.Fprintf(os.Stderr, "bench: removed %d users a killed run left in %s\n", n, passwdFile)
	}
	if cfg.cleanup {
		return 0
	}
	ctx, stop := onSignal()
	defer stop()
	res, err := run(ctx, cfg)
	if res != nil {
		res.print(os.Stdout)
		if cfg.jsonOut != "" {
			if err := res.writeJSON(cfg.jsonOut); err != nil {
				fmt.Fprintln(os.Stderr, "bench:", err)
				return 1
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	if res.failed() {
		return 1
	}
	return 0
}

// onSignal cancels the returned context on the first SIGINT, SIGTERM,
// SIGHUP or SIGPIPE (`bench | head` would otherwise kill it mid-write), so
// the run cleans up; a second one kills at once (the next run removes what
// is left). Each is logged: a run that stops early says why.
func onSignal() (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGPIPE)
	go func() {
		sig, ok := <-sigs
		if !ok {
			return
		}
		fmt.Fprintf(os.Stderr, "bench: %v: stopping and cleaning up (again to kill at once)\n", sig)
		// SIGPIPE stays caught: logging to a closed pipe must not kill the clean-up.
		signal.Reset(os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
		cancel()
	}()
	return ctx, func() { signal.Stop(sigs); close(sigs); cancel() }
}

// run sets up Vault, users and data, runs every row and returns the results;
// whatever happens, it removes its users, files and Vault before returning.
func run(ctx context.Context, cfg config) (*results, error) {
	b := &bench{cfg: cfg, started: time.Now()}
	defer b.close()
	if err := b.setup(ctx); err != nil {
		return nil, err
	}
	res := b.newResults()
	res.Main = b.mainRows(ctx)
	res.Sweep = b.sweepRows(ctx, res.Main)
	if b.want("check") {
		res.Check = b.checkRow(ctx)
	}
	if b.want("nss") {
		res.NSS = b.nssRow(ctx)
	}
	if cfg.profileDir != "" && ctx.Err() == nil {
		if err := b.profile(ctx); err != nil {
			return res, fmt.Errorf("profiles: %w", err)
		}
	}
	return res, ctx.Err()
}

func (b *bench) want(id string) bool { return slices.Contains(b.cfg.rows, id) }

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%6.1fs] "+format+"\n", append([]any{time.Since(b.started).Seconds()}, args...)...)
}
