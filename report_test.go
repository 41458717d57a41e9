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
		name   string
		dryRun bool
		lines  []keyLine
	}{
		{"empty", false, nil},
		{"empty dry run", true, nil},
		{"one line", false, lines[:1]},
		{"several, with errors", false, lines},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keys := []keyJSON{}
			n := map[string]int{}
			for _, l := range tc.lines {
				keys = append(keys, keyJSON{l.User, l.Key, filepath.Join(root, l.User, l.Name), l.Status, l.Error, l.Bytes})
				n[l.Status]++
			}
			var want bytes.Buffer
			enc := json.NewEncoder(&want)
			enc.SetIndent("", "  ")
			err := enc.Encode(struct {
				Version int            `json:"version"`
				DryRun  bool           `json:"dry_run"`
				Keys    []keyJSON      `json:"keys"`
				Summary map[string]int `json:"summary"`
			}{reportVersion, tc.dryRun, keys, n})
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			rep := newReport(&got, "json", root, tc.dryRun)
			for _, l := range tc.lines {
				rep.add([]keyLine{l})
			}
			if err := rep.finish(); err != nil {
				t.Fatalf("finish: %v", err)
			}
			if got.String() != want.String() {
				t.Errorf("report is\n%s\njson.Encoder writes\n%s", got.String(), want.String())
			}
		})
	}
}

// Jobs finish in any order; the report must still list users in job order
// and each user's keys in key order, holding back only what came early.
func TestReportInOrder(t *testing.T) {
	var out bytes.Buffer
	rep := newReport(&out, "text", "/srv", false)
	o := inOrder{rep: rep, waiting: map[int][]keyLine{}}
	user := func(name string, keys ...string) []keyLine {
		var ls []keyLine
		for _, k := range keys {
			ls = append(ls, keyLine{User: name, Key: k, Name: k, Status: statusUnchanged})
		}
		return ls
	}
	o.done(2, user("carol", "z", "a"))
	o.done(1, nil) // a user with nothing to report
	if rep.total != 0 || len(o.waiting) != 2 {
		t.Fatalf("reported %d lines with job 0 unfinished; want users 1 and 2 held back", rep.total)
	}
	o.done(0, user("alice", "b", "a"))
	o.done(3, user("dave", "k"))
	if err := rep.finish(); err != nil {
		t.Fatal(err)
	}
	want := "alice/a: unchanged\nalice/b: unchanged\ncarol/a: unchanged\ncarol/z: unchanged\ndave/k: unchanged\nsummary: 5 keys: 5 unchanged\n"
	if out.String() != want || len(o.waiting) != 0 {
		t.Errorf("report\n%s\nwant\n%s(%d jobs still held)", out.String(), want, len(o.waiting))
	}
}
