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
	err := newApp(stdout, stderr).RunContext(ctx, args)
	return report(stderr, err)
}

// setupLogging sends log/slog to stderr at the chosen level and format. Text
// leaves timestamps to the journal, which adds its own; JSON keeps them for
// log shippers.
func setupLogging(c *cli.Context, stderr io.Writer) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
		return usageError(fmt.Errorf("unknown --log-level %q (want debug, info, warn or error)", c.String("log-level")))
	}
	opts := &slog.HandlerOptions{Level: level}
	switch c.String("log-format") {
	case "text":
		opts.ReplaceAttr = dropTime
		slog.SetDefault(slog.New(slog.NewTextHandler(stderr, opts)))
	case "json":
		slog.SetDefault(slog.New(slog.NewJSONHandler(stderr, opts)))
	default:
		return usageError(fmt.Errorf("unknown --log-format %q (want text or json)", c.String("log-format")))
	}
	return nil
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
			&cli.StringFlag{Name: "log-level", Value: "info", Usage: "log `LEVEL`: debug, info, warn or error", EnvVars: []string{"USER_SECRETS_LOG_LEVEL"}},
			&cli.StringFlag{Name: "log-format", Value: "text", Usage: "log as `text` or json", EnvVars: []string{"USER_SECRETS_LOG_FORMAT"}},
		},
		Before:               func(c *cli.Context) error { return setupLogging(c, stderr) },
		Commands:             []*cli.Command{syncCommand(), checkCommand(), statusCommand(), versionCommand(), docsCommand()},
		HideVersion:          true,
		EnableBashCompletion: true,
		HideHelpCommand:      true,
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
