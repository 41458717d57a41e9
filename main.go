// Command user-secrets places each user's Vault secrets as files only that
// user can read. See README.md for the spec format and the guarantees.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/excalibur/user-secrets/config"
)

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

// run is main without the exit, so deferred cleanup in the commands (token
// revocation) has finished before the exit code is chosen.
func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	slog.SetDefault(slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{ReplaceAttr: dropTime})))
	err := newApp(stdout, stderr).RunContext(ctx, args)
	return report(stderr, err)
}

// dropTime leaves timestamps to the journal, which adds its own.
func dropTime(groups []string, a slog.Attr) slog.Attr {
	if a.Key == slog.TimeKey && len(groups) == 0 {
		return slog.Attr{}
	}
	return a
}

func newApp(stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:        "user-secrets",
		Usage:       "place users' Vault secrets in files only they can read",
		Description: exitCodesHelp,
		Version:     version(),
		Writer:      stdout,
		ErrWriter:   stderr,
		Flags: []cli.Flag{
			&cli.PathFlag{
				Name:    "config",
				Aliases: []string{"c"},
				Usage:   "read the spec from `FILE`",
				Value:   config.DefaultPath,
				EnvVars: []string{"USER_SECRETS_CONFIG"},
			},
		},
		Commands:        []*cli.Command{syncCommand(), checkCommand(), versionCommand()},
		HideVersion:     true,
		HideHelpCommand: true,
		// Every error comes back from Run; report picks the exit code.
		ExitErrHandler: func(*cli.Context, error) {},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return usageError(err)
		},
		// Reached only when no command matched.
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return usageError(fmt.Errorf("unknown command %q", c.Args().First()))
			}
			cli.ShowAppHelp(c)
			return usageError(fmt.Errorf("no command given"))
		},
	}
	for _, cmd := range app.Commands {
		cmd.HideHelpCommand = true
		cmd.OnUsageError = app.OnUsageError
	}
	return app
}

const exitCodesHelp = `Exit codes:
   0  every configured key is in place (written or unchanged)
   1  some users or keys failed; everything else was still synced
   2  usage or spec error; nothing was contacted or written
   3  could not reach or log in to Vault; nothing on disk was changed
   4  another run held the lock for all of --lock-timeout; nothing was done`

func syncCommand() *cli.Command {
	return &cli.Command{
		Name:      "sync",
		Usage:     "write every configured key from Vault into its user's directory",
		UsageText: "user-secrets [--config FILE] sync [--user NAME]... [--dry-run] [--format text|json]",
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "user", Aliases: []string{"u"}, Usage: "sync only `NAME` (repeatable)"},
			&cli.BoolFlag{Name: "dry-run", Aliases: []string{"n"}, Usage: "read Vault and compare, but change nothing"},
			&cli.StringFlag{Name: "format", Value: "text", Usage: "report as `text` or json"},
			&cli.DurationFlag{
				Name:    "lock-timeout",
				Value:   60 * time.Second,
				Usage:   "wait up to `DURATION` for another run to finish",
				EnvVars: []string{"USER_SECRETS_LOCK_TIMEOUT"},
			},
		},
		Action: func(c *cli.Context) error {
			format := c.String("format")
			if format != "text" && format != "json" {
				return usageError(fmt.Errorf("unknown --format %q (want text or json)", format))
			}
			spec, err := loadSpec(c)
			if err != nil {
				return err
			}
			opts := syncOptions{users: c.StringSlice("user"), dryRun: c.Bool("dry-run"), lockTimeout: c.Duration("lock-timeout")}
			rep, err := runSync(c.Context, spec, opts)
			if err != nil {
				return err
			}
			if err := rep.write(c.App.Writer, format); err != nil {
				return err
			}
			return rep.err()
		},
	}
}

func checkCommand() *cli.Command {
	return &cli.Command{
		Name:  "check",
		Usage: "validate the spec offline (exit 0 if valid, 2 if not)",
		Action: func(c *cli.Context) error {
			spec, err := loadSpec(c)
			if err != nil {
				return err
			}
			users, keys := spec.Count()
			fmt.Fprintf(c.App.Writer, "%s: ok (%d users, %d keys)\n", spec.File, users, keys)
			return nil
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

func loadSpec(c *cli.Context) (*config.Spec, error) {
	if c.Args().Present() {
		return nil, usageError(fmt.Errorf("unexpected argument %q", c.Args().First()))
	}
	spec, err := config.Load(c.Path("config"))
	if err != nil {
		return nil, specError(err)
	}
	return spec, nil
}
