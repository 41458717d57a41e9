package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/excalibur/user-secrets/config"
	"github.com/excalibur/user-secrets/perms"
)

// writeMetrics writes Prometheus textfile-collector metrics for node_exporter:
// the run's outcome, and per user the last time every key was in place, read
// from the state file so a failed run keeps reporting the last success.
// The file is replaced atomically, so the collector never reads half of it.
func writeMetrics(path string, spec *config.Spec, rep *syncReport, code int, start, end time.Time) error {
	var b strings.Builder
	gauge := func(name, help string) { fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name) }
	gauge("user_secrets_last_run_timestamp_seconds", "When the last sync ended.")
	fmt.Fprintf(&b, "user_secrets_last_run_timestamp_seconds %d\n", end.Unix())
	gauge("user_secrets_run_duration_seconds", "How long the last sync took.")
	fmt.Fprintf(&b, "user_secrets_run_duration_seconds %.3f\n", end.Sub(start).Seconds())
	gauge("user_secrets_exit_code", "Exit code of the last sync (0 ok, 1 some keys failed, 2 spec, 3 vault, 4 locked).")
	fmt.Fprintf(&b, "user_secrets_exit_code %d\n", code)
	gauge("user_secrets_keys", "Keys by status in the last sync.")
	_, counts := rep.counts()
	for _, s := range []string{statusWritten, statusUnchanged, statusRemoved, statusFailed} {
		fmt.Fprintf(&b, "user_secrets_keys{status=%q} %d\n", s, counts[s])
	}
	if state, err := perms.LoadState(spec.State.File, spec.Output.Root); err == nil {
		gauge("user_secrets_user_last_success_timestamp_seconds", "Last sync in which every key of the user was in place.")
		users := make([]string, 0, len(state.Runs))
		for u := range state.Runs {
			users = append(users, u)
		}
		sort.Strings(users)
		for _, u := range users {
			if t := state.Runs[u].LastSuccess; !t.IsZero() {
				fmt.Fprintf(&b, "user_secrets_user_last_success_timestamp_seconds{user=%q} %d\n", u, t.Unix())
			}
		}
	}
	return replaceFile(path, []byte(b.String()), 0o644)
}

// replaceFile writes data to path atomically: temp file, fsync, rename.
func replaceFile(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("write metrics file: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(mode)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("write metrics file %q: %w", path, err)
	}
	return nil
}
