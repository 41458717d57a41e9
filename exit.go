package main

import (
	"errors"
	"fmt"
	"io"
	"runtime/debug"

	"github.com/excalibur/user-secrets/config"
	"github.com/excalibur/user-secrets/perms"
)

// Exit codes; see exitCodesHelp.
const (
	exitOK      = 0
	exitPartial = 1
	exitUsage   = 2
	exitVault   = 3
	exitLocked  = 4
)

// exitError is an error with the exit code it calls for and an optional hint.
type exitError struct {
	code int
	err  error
	hint string
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageError(err error) error {
	return &exitError{code: exitUsage, err: err, hint: `run "user-secrets --help" for usage`}
}

func specError(err error) error {
	return &exitError{code: exitUsage, err: err, hint: `run "user-secrets check" after editing the spec`}
}

func vaultError(err error, hint string) error {
	return &exitError{code: exitVault, err: err, hint: hint}
}

func lockError(err error) error {
	if errors.Is(err, perms.ErrLocked) {
		return &exitError{code: exitLocked, err: err, hint: "another sync is running; wait for it or raise --lock-timeout"}
	}
	return &exitError{code: exitUsage, err: err, hint: "check state.lock_file in the spec"}
}

// exitCode is the exit code err calls for; an error that does not say is a
// usage error, as urfave/cli's own are.
func exitCode(err error) int {
	var ee *exitError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ee):
		return ee.code
	}
	return exitUsage
}

// report prints err the way every command does and returns the exit code.
// A spec with several problems prints one line per problem.
func report(stderr io.Writer, err error) int {
	if err == nil {
		return exitOK
	}
	code, hint := exitCode(err), ""
	var ee *exitError
	if errors.As(err, &ee) {
		hint = ee.hint
	}
	var ps config.Problems
	if errors.As(err, &ps) {
		for _, p := range ps {
			fmt.Fprintf(stderr, "user-secrets: error: %v\n", p)
		}
	} else {
		fmt.Fprintf(stderr, "user-secrets: error: %v\n", err)
	}
	if hint != "" {
		fmt.Fprintf(stderr, "user-secrets: hint: %s\n", hint)
	}
	return code
}

// buildVersion is set with -ldflags "-X main.buildVersion=v1.2.3" by packagers.
var buildVersion string

func version() string {
	if buildVersion != "" {
		return buildVersion
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}
