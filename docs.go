package main

import (
	"fmt"
	"io"

	"github.com/urfave/cli/v2"
)

// docsCommand prints documentation generated from the CLI definition, so
// the man page and completions never drift from the flags.
func docsCommand() *cli.Command {
	return &cli.Command{
		Name:  "docs",
		Usage: "print the man page or a shell completion script",
		Subcommands: []*cli.Command{
			{
				Name:  "man",
				Usage: "print the man page (roff)",
				Action: func(c *cli.Context) error {
					man, err := c.App.ToMan()
					if err != nil {
						return err
					}
					_, err = io.WriteString(c.App.Writer, man)
					return err
				},
			},
			{
				Name:      "completion",
				Usage:     "print a completion script for `SHELL`: bash, zsh or fish",
				ArgsUsage: "bash|zsh|fish",
				Action:    printCompletion,
			},
		},
	}
}

func printCompletion(c *cli.Context) error {
	switch shell := c.Args().First(); shell {
	case "bash":
		_, err := io.WriteString(c.App.Writer, bashCompletion)
		return err
	case "zsh":
		_, err := io.WriteString(c.App.Writer, "autoload -U +X bashcompinit && bashcompinit\n"+bashCompletion)
		return err
	case "fish":
		fish, err := c.App.ToFishCompletion()
		if err == nil {
			_, err = io.WriteString(c.App.Writer, fish)
		}
		return err
	default:
		return usageError(fmt.Errorf("unknown shell %q (want bash, zsh or fish)", shell))
	}
}

// bashCompletion asks the binary itself for candidates (urfave/cli's
// --generate-bash-completion), so it completes whatever this version has.
const bashCompletion = `_user_secrets() {
	local cur=${COMP_WORDS[COMP_CWORD]}
	local opts
	opts=$("${COMP_WORDS[@]:0:COMP_CWORD}" --generate-bash-completion 2>/dev/null)
	COMPREPLY=($(compgen -W "$opts" -- "$cur"))
}
complete -o default -F _user_secrets user-secrets
`
