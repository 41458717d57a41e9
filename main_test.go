package main

import (
	"errors"
	"os"
	"os/exec"
	"strconv"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain lets the scripts run the real binary: testscript re-executes this
// test binary as "user-secrets", so flags, exit codes and output are what an
// admin or a systemd unit sees.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){"user-secrets": main})
}

func TestScript(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata",
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exits":  cmdExits,
			"expand": cmdExpand,
		},
	})
}

// cmdExits is "exits CODE command [args...]": run command like exec and
// require exactly that exit status. exec and "! exec" only tell zero from
// non-zero, but the codes are this CLI's contract with its callers (see
// exitCodesHelp), so a usage error turning into a Vault error must fail a
// test. Like exec it leaves stdout and stderr for the next assertions.
func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! exits; name the code you expect")
	}
	if len(args) < 2 {
		ts.Fatalf("usage: exits CODE command [args...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exits: bad code %q", args[0])
	}
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("exits: %v", err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited with %d, want %d", args[1], got, want)
	}
}

// cmdExpand is "expand FILE...": replace $VAR and ${VAR} in each file from
// the script's environment. A spec must name absolute paths, and the only
// absolute place a script owns is $WORK, which txtar files cannot spell.
func cmdExpand(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: expand FILE...")
	}
	for _, name := range args {
		text := ts.ReadFile(name)
		ts.Check(os.WriteFile(ts.MkAbs(name), []byte(os.Expand(text, ts.Getenv)), 0o644))
	}
}
