package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/excalibur/user-secrets/config"
	"github.com/excalibur/user-secrets/perms"
)

// keyStatus is one key in `status`: its last outcome and its file's age.
type keyStatus struct {
	Key        string  `json:"key"`
	Path       string  `json:"path"`
	Status     string  `json:"status"` // "never synced" before the first run
	Error      string  `json:"error,omitempty"`
	FileAgeSec float64 `json:"file_age_seconds,omitempty"`
	fileFound  bool
}

type userStatus struct {
	User        string      `json:"user"`
	LastRun     *time.Time  `json:"last_run,omitempty"`
	LastSuccess *time.Time  `json:"last_success,omitempty"`
	Keys        []keyStatus `json:"keys"`
}

// showStatus reports, from the state file alone, what the last runs did for
// each selected user and how old each file is. It exits 1 if any key's last
// outcome was a failure or it was never synced, so a monitor can call it.
func showStatus(w io.Writer, spec *config.Spec, users []string, format string, now time.Time) error {
	names, err := selectUsers(spec, users)
	if err != nil {
		return err
	}
	state, err := perms.LoadState(spec.State.File, spec.Output.Root)
	if err != nil {
		return &exitError{code: exitPartial, err: err}
	}
	var out []userStatus
	bad := 0
	for _, name := range names {
		us := statusOf(spec, state, name, now)
		for _, k := range us.Keys {
			if isFailure(k.Status) || k.Status == "never synced" {
				bad++
			}
		}
		out = append(out, us)
	}
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		err = enc.Encode(struct {
			Version int          `json:"version"`
			Users   []userStatus `json:"users"`
		}{reportVersion, out})
	} else {
		err = writeStatusText(w, out, now)
	}
	if err == nil && bad > 0 {
		err = &exitError{code: exitPartial, err: fmt.Errorf("%d keys are not in place as of their last run", bad)}
	}
	return err
}

func statusOf(spec *config.Spec, state *perms.State, name string, now time.Time) userStatus {
	us := userStatus{User: name}
	run, ran := state.Runs[name]
	if ran {
		us.LastRun = &run.At
		if !run.LastSuccess.IsZero() {
			us.LastSuccess = &run.LastSuccess
		}
	}
	last := map[string]perms.KeyOutcome{}
	for _, k := range run.Keys {
		last[k.Key] = k
	}
	for _, f := range spec.Users[name].Files {
		ks := keyStatus{Key: f.Key, Path: filepath.Join(spec.Output.Root, name, f.Name), Status: "never synced"}
		if o, ok := last[f.Key]; ok {
			ks.Status, ks.Error = o.Status, o.Error
		}
		if fi, err := os.Lstat(ks.Path); err == nil {
			ks.FileAgeSec, ks.fileFound = now.Sub(fi.ModTime()).Seconds(), true
		}
		us.Keys = append(us.Keys, ks)
	}
	return us
}

func writeStatusText(w io.Writer, users []userStatus, now time.Time) error {
	var b strings.Builder
	for _, us := range users {
		switch {
		case us.LastRun == nil:
			fmt.Fprintf(&b, "%s: never synced\n", us.User)
		case us.LastSuccess == nil:
			fmt.Fprintf(&b, "%s: last run %s, never fully successful\n", us.User, ago(now.Sub(*us.LastRun)))
		default:
			fmt.Fprintf(&b, "%s: last run %s, last success %s\n", us.User, ago(now.Sub(*us.LastRun)), ago(now.Sub(*us.LastSuccess)))
		}
		for _, k := range us.Keys {
			fmt.Fprintf(&b, "%s/%s: %s", us.User, k.Key, k.Status)
			if k.Error != "" {
				fmt.Fprintf(&b, ": %s", k.Error)
			}
			if k.fileFound {
				fmt.Fprintf(&b, " (file %s old)\n", strings.TrimSuffix(ago(time.Duration(k.FileAgeSec*float64(time.Second))), " ago"))
			} else {
				b.WriteString(" (no file)\n")
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// ago says how long ago, to the unit an admin thinks in.
func ago(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}
