package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
)

// Statuses of one key in the report.
const (
	statusWritten     = "written"
	statusUnchanged   = "unchanged"
	statusWouldWrite  = "would write"
	statusRemoved     = "removed"
	statusWouldRemove = "would remove"
	statusFailed      = "failed"
)

// statusOrder is the order of the summary; the last four are failures.
var statusOrder = []string{statusWritten, statusWouldWrite, statusUnchanged, statusRemoved, statusWouldRemove,
	checkOK, statusFailed, checkMissingEntry, checkMissingKey, checkDenied}

func isFailure(status string) bool {
	switch status {
	case statusFailed, checkMissingEntry, checkMissingKey, checkDenied:
		return true
	}
	return false
}

// reportVersion is bumped when the JSON report changes incompatibly.
const reportVersion = 1

// keyLine is the outcome for one key. Error never holds a secret value: it
// is built from messages that name keys and paths only.
type keyLine struct {
	User string
	Key  string
	// Name is the file's name in the user's directory, "" for a line about
	// the directory itself. The path is made only when printed: 50,000
	// paths held until the end were 4 MiB.
	Name   string
	Status string
	Error  string
	Bytes  int // size of the value placed, or that would be
}

// keyJSON is a keyLine in the JSON report.
type keyJSON struct {
	User   string `json:"user"`
	Key    string `json:"key"`
	Path   string `json:"path"`
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
	Bytes  int    `json:"bytes"`
}

func (l *keyLine) fail(err error) keyLine {
	l.Status, l.Error = statusFailed, err.Error()
	return *l
}

// syncReport is every key's outcome, in user then key order.
type syncReport struct {
	root   string // the output root, which the lines' paths are under
	dryRun bool
	lines  []keyLine
}

// path is where l's file is.
func (r *syncReport) path(l keyLine) string { return filepath.Join(r.root, l.User, l.Name) }

func (r *syncReport) add(lines []keyLine) { r.lines = append(r.lines, lines...) }

// sort orders lines by user, then key, as the report promises.
func (r *syncReport) sort() {
	sort.SliceStable(r.lines, func(a, b int) bool {
		la, lb := r.lines[a], r.lines[b]
		if la.User != lb.User {
			return la.User < lb.User
		}
		return la.Key < lb.Key
	})
}

// counts returns how many keys ended in each status, in report order.
func (r *syncReport) counts() (order []string, n map[string]int) {
	n = map[string]int{}
	for _, l := range r.lines {
		n[l.Status]++
	}
	for _, s := range statusOrder {
		if n[s] > 0 {
			order = append(order, s)
		}
	}
	return order, n
}

// write prints the report as it goes rather than building it first: at
// 10,000 users a whole JSON report is tens of megabytes.
func (r *syncReport) write(w io.Writer, format string) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	if format == "json" {
		r.writeJSON(bw)
	} else {
		r.writeText(bw)
	}
	return bw.Flush()
}

func (r *syncReport) writeText(w *bufio.Writer) {
	for _, l := range r.lines {
		fmt.Fprintf(w, "%s/%s: %s", l.User, l.Key, l.Status)
		if l.Error != "" {
			fmt.Fprintf(w, ": %s", l.Error)
		}
		w.WriteByte('\n')
	}
	order, n := r.counts()
	parts := make([]string, len(order))
	for i, s := range order {
		parts[i] = fmt.Sprintf("%d %s", n[s], s)
	}
	if len(parts) == 0 {
		parts = []string{"nothing to do"}
	}
	fmt.Fprintf(w, "summary: %d keys: %s\n", len(r.lines), strings.Join(parts, ", "))
}

// writeJSON writes, a line at a time, what a json.Encoder indenting by two
// spaces writes for {version, dry_run, keys, summary}.
func (r *syncReport) writeJSON(w *bufio.Writer) {
	_, n := r.counts()
	fmt.Fprintf(w, "{\n  \"version\": %d,\n  \"dry_run\": %t,\n  \"keys\": [", reportVersion, r.dryRun)
	for i, l := range r.lines {
		if i > 0 {
			w.WriteByte(',')
		}
		w.WriteString("\n    ")
		writeIndented(w, keyJSON{l.User, l.Key, r.path(l), l.Status, l.Error, l.Bytes}, "    ")
	}
	if len(r.lines) > 0 {
		w.WriteString("\n  ")
	}
	w.WriteString("],\n  \"summary\": ")
	writeIndented(w, n, "  ")
	w.WriteString("\n}\n")
}

// writeIndented writes v indented below prefix. The values written here, a
// keyLine and a map of counts, always marshal.
func writeIndented(w *bufio.Writer, v any, prefix string) {
	data, _ := json.MarshalIndent(v, prefix, "  ")
	w.Write(data)
}

// err is the run's error when any key failed, so the exit code says so.
func (r *syncReport) err() error {
	failed := 0
	for _, l := range r.lines {
		if isFailure(l.Status) {
			failed++
		}
	}
	if failed == 0 {
		return nil
	}
	return &exitError{code: exitPartial, err: fmt.Errorf("%d of %d keys failed; see the report", failed, len(r.lines))}
}
