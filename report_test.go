package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"testing"
)

// The JSON report is written a line at a time; it must be byte for byte what
// a json.Encoder indenting by two spaces writes, the format users parse.
func TestReportJSONMatchesEncoder(t *testing.T) {
	const root = "/var/lib/vault/users"
	lines := []keyLine{
		{User: "alice", Key: "api.key", Name: "api.key", Status: statusWritten, Bytes: 40},
		{User: "alice", Key: "db <pw> & \"x\"", Name: "db", Status: statusFailed, Error: `key "db" not found in secret/x (fields present: 2)`},
		{User: "bob", Status: statusFailed, Error: "user directory is a symlink"},
	}
	for _, tc := range []struct {
		name string
		rep  syncReport
	}{
		{"empty", syncReport{root: root}},
		{"empty dry run", syncReport{root: root, dryRun: true}},
		{"one line", syncReport{root: root, lines: lines[:1]}},
		{"several, with errors", syncReport{root: root, lines: lines}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, n := tc.rep.counts()
			keys := []keyJSON{}
			for _, l := range tc.rep.lines {
				keys = append(keys, keyJSON{l.User, l.Key, filepath.Join(root, l.User, l.Name), l.Status, l.Error, l.Bytes})
			}
			var want bytes.Buffer
			enc := json.NewEncoder(&want)
			enc.SetIndent("", "  ")
			err := enc.Encode(struct {
				Version int            `json:"version"`
				DryRun  bool           `json:"dry_run"`
				Keys    []keyJSON      `json:"keys"`
				Summary map[string]int `json:"summary"`
			}{reportVersion, tc.rep.dryRun, keys, n})
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if err := tc.rep.write(&got, "json"); err != nil {
				t.Fatalf("write: %v", err)
			}
			if got.String() != want.String() {
				t.Errorf("report is\n%s\njson.Encoder writes\n%s", got.String(), want.String())
			}
		})
	}
}
