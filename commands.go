package main

import (
	"fmt"
	"os"
	"runtime/debug"
	"time"

	"github.com/urfave/cli/v2"
)

// Flags several commands share.
var (
	userFlag   = &cli.StringSliceFlag{Name: "user", Aliases: []string{"u"}, Usage: "only `NAME` (repeatable)"}
	formatFlag = &cli.StringFlag{Name: "format", Value: "text", Usage: "output as `text` or json"}
)

func checkFormat(c *cli.Context) error {
	if f := c.String("format"); f != "text" && f != "json" {
		return usageError(fmt.Errorf("unknown --format %q (want text or json)", f))
	}
	return nil
}

func syncCommand() *cli.Command {
	return &cli.Command{
		Name:      "sync",
		Usage:     "write every configured key from Vault into its user's directory",
		UsageText: "user-secrets [--config FILE] sync [--user NAME]... [--dry-run] [--format text|json] [--metrics-file PATH]",
		Flags: []cli.Flag{
			userFlag,
			&cli.BoolFlag{Name: "dry-run", Aliases: []string{"n"}, Usage: "read Vault and compare, but change nothing"},
			formatFlag,
			&cli.DurationFlag{
				Name:    "lock-timeout",
				Value:   60 * time.Second,
				Usage:   "wait up to `DURATION` for another run to finish",
				EnvVars: []string{"USER_SECRETS_LOCK_TIMEOUT"},
			},
			&cli.PathFlag{
				Name:    "metrics-file",
				Usage:   "write Prometheus textfile metrics to `PATH` (for node_exporter)",
				EnvVars: []string{"USER_SECRETS_METRICS_FILE"},
			},
		},
		Action: runSyncCommand,
	}
}

func runSyncCommand(c *cli.Context) error {
	if err := checkFormat(c); err != nil {
		return err
	}
	// A sync keeps about 500 bytes per key live for the whole run (spec,
	// state, jobs), and by default the heap grows to twice what is live
	// before each collection. Half that headroom keeps a 10,000-user sync
	// near 55 MiB instead of 68 for ~0.2 s more CPU (e2e/cmd/bench). Unlike
	// a fixed memory limit, it cannot make the GC run nonstop on a fleet
	// larger than the limit was set for. Commands that end sooner keep the
	// default; GOGC, if set, wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(50)
	}
	spec, err := loadSpec(c)
	if err != nil {
		return err
	}
	start := time.Now()
	opts := syncOptions{users: c.StringSlice("user"), dryRun: c.Bool("dry-run"), lockTimeout: c.Duration("lock-timeout")}
	rep := newReport(c.App.Writer, c.String("format"), spec.Output.Root, opts.dryRun)
	err = runSync(c.Context, spec, opts, rep)
	if err == nil {
		if err = rep.finish(); err == nil {
			err = rep.err()
		}
	}
	if path := c.Path("metrics-file"); path != "" && !opts.dryRun {
		if merr := writeMetrics(path, spec, rep, exitCode(err), start, time.Now()); merr != nil {
			fmt.Fprintf(c.App.ErrWriter, "user-secrets: warning: %v\n", merr)
		}
	}
	return err
}

func checkCommand() *cli.Command {
	return &cli.Command{
		Name:      "check",
		Usage:     "validate the spec offline, or with --online against Vault (writes nothing)",
		UsageText: "user-secrets [--config FILE] check [--online [--user NAME]... [--format text|json]]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "online", Usage: "also log in and check every user's path and keys in Vault"},
			userFlag,
			formatFlag,
		},
		Action: func(c *cli.Context) error {
			if err := checkFormat(c); err != nil {
				return err
			}
			spec, err := loadSpec(c)
			if err != nil {
				return err
			}
			if c.Bool("online") {
				return checkOnline(c, spec)
			}
			users, keys := spec.Count()
			fmt.Fprintf(c.App.Writer, "%s: ok (%d users, %d keys)\n", spec.File, users, keys)
			return nil
		},
	}
}

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:      "status",
		Usage:     "show what the last runs did per key and how old each file is (no Vault access)",
		UsageText: "user-secrets [--config FILE] status [--user NAME]... [--format text|json]",
		Flags:     []cli.Flag{userFlag, formatFlag},
		Action: func(c *cli.Context) error {
			if err := checkFormat(c); err != nil {
				return err
			}
			spec, err := loadSpec(c)
			if err != nil {
				return err
			}
			return showStatus(c.App.Writer, spec, c.StringSlice("user"), c.String("format"), time.Now())
		},
	}
}

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the version",
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return usageError(fmt.Errorf("unexpected argument %q", c.Args().First()))
			}
			fmt.Fprintf(c.App.Writer, "user-secrets %s\n", version())
			return nil
		},
	}
}
