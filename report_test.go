package main

import (
	"bytes"
	"encoding/json"
	"testing"
)

// The JSON report is written a line at a time; it must be byte for byte what
// a json.Encoder indenting by two spaces writes, the format users parse.
func TestReportJSONMatchesEncoder(t *testing.T) {
	lines := []keyLine{
		{User: "alice", Key: "api.key", Path: "/var/lib/vault/users/alice/api.key", Status: statusWritten, Bytes: 40},
		{User: "alice", Key: "db <pw> & \"x\"", Path: "/var/lib/vault/users/alice/db", Status: statusFailed, Error: `key "db" not found in secret/x (fields present: 2)`},
		{User: "bob", Key: "token", Status: statusUnchanged},
	}
	for _, tc := range []struct {
		name string
		rep  syncReport
	}{
		{"empty", syncReport{}},
		{"empty dry run", syncReport{dryRun: true}},
		{"one line", syncReport{lines: lines[:1]}},
		{"several, with an error", syncReport{lines: lines}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, n := tc.rep.counts()
			keys := tc.rep.lines
			if keys == nil {
				keys = []keyLine{}
			}
			var want bytes.Buffer
			enc := json.NewEncoder(&want)
			enc.SetIndent("", "  ")
			err := enc.Encode(struct {
				Version int            `json:"version"`
				DryRun  bool           `json:"dry_run"`
				Keys    []keyLine      `json:"keys"`
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
