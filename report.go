package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"slices"
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

// syncReport prints every key's outcome as it is added, and counts them.
// Callers add each user's lines in user order. Nothing is printed before
// the first line or finish, so a run that fails before any key prints no
// report. Lines are not kept: at 10,000 users they were 5 MiB held until
// the end.
type syncReport struct {
	root   string // the output root, which the lines' paths are under
	dryRun bool
	json   bool
	w      *bufio.Writer
	begun  bool
	n      map[string]int // keys by status
	total  int
}

func newReport(w io.Writer, format, root string, dryRun bool) *syncReport {
	return &syncReport{root: root, dryRun: dryRun, json: format == "json", w: bufio.NewWriterSize(w, 64<<10), n: map[string]int{}}
}

// path is where l's file is.
func (r *syncReport) path(l keyLine) string { return filepath.Join(r.root, l.User, l.Name) }

// add prints one user's lines, in key order.
func (r *syncReport) add(lines []keyLine) {
	slices.SortStableFunc(lines, func(a, b keyLine) int { return strings.Compare(a.Key, b.Key) })
	for _, l := range lines {
		r.line(l)
	}
}

func (r *syncReport) line(l keyLine) {
	r.begin()
	r.n[l.Status]++
	r.total++
	if r.json {
		sep := ",\n    "
		if r.total == 1 {
			sep = "\n    "
		}
		r.w.WriteString(sep)
		writeIndented(r.w, keyJSON{l.User, l.Key, r.path(l), l.Status, l.Error, l.Bytes}, "    ")
		return
	}
	fmt.Fprintf(r.w, "%s/%s: %s", l.User, l.Key, l.Status)
	if l.Error != "" {
		fmt.Fprintf(r.w, ": %s", l.Error)
	}
	r.w.WriteByte('\n')
}

// begin writes what comes before the first line. The JSON report is what a
// json.Encoder indenting by two spaces writes for {version, dry_run, keys,
// summary}, written a piece at a time.
func (r *syncReport) begin() {
	if !r.begun && r.json {
		fmt.Fprintf(r.w, "{\n  \"version\": %d,\n  \"dry_run\": %t,\n  \"keys\": [", reportVersion, r.dryRun)
	}
	r.begun = true
}

// finish writes the summary and flushes.
func (r *syncReport) finish() error {
	r.begin()
	order, n := r.counts()
	if r.json {
		if r.total > 0 {
			r.w.WriteString("\n  ")
		}
		r.w.WriteString("],\n  \"summary\": ")
		writeIndented(r.w, n, "  ")
		r.w.WriteString("\n}\n")
		return r.w.Flush()
	}
	parts := make([]string, len(order))
	for i, s := range order {
		parts[i] = fmt.Sprintf("%d %s", n[s], s)
	}
	if len(parts) == 0 {
		parts = []string{"nothing to do"}
	}
	fmt.Fprintf(r.w, "summary: %d keys: %s\n", r.total, strings.Join(parts, ", "))
	return r.w.Flush()
}

// counts returns how many keys ended in each status, in report order.
func (r *syncReport) counts() (order []string, n map[string]int) {
	for _, s := range statusOrder {
		if r.n[s] > 0 {
			order = append(order, s)
		}
	}
	return order, r.n
}

// writeIndented writes v indented below prefix. The values written here, a
// keyJSON and a map of counts, always marshal.
func writeIndented(w *bufio.Writer, v any, prefix string) {
	data, _ := json.MarshalIndent(v, prefix, "  ")
	w.Write(data)
}

// err is the run's error when any key failed, so the exit code says so.
func (r *syncReport) err() error {
	failed := 0
	for s, n := range r.n {
		if isFailure(s) {
			failed += n
		}
	}
	if failed == 0 {
		return nil
	}
	return &exitError{code: exitPartial, err: fmt.Errorf("%d of %d keys failed; see the report", failed, r.total)}
}

// inOrder passes each job's lines to the report in job order, which is user
// order, while jobs finish in any order. It holds only the lines of jobs
// that finished ahead of a slower one.
type inOrder struct {
	rep     *syncReport
	waiting map[int][]keyLine
	next    int
}

func (o *inOrder) done(i int, lines []keyLine) {
	o.waiting[i] = lines
	for {
		lines, ok := o.waiting[o.next]
		if !ok {
			return
		}
		delete(o.waiting, o.next)
		o.rep.add(lines)
		o.next++
	}
}
