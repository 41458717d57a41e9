package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/excalibur/user-secrets/e2e/harness"
)

// results is everything a run measured, printed as tables or JSON.
type results struct {
	Date        string  `json:"date"`
	Command     string  `json:"command"`
	Commit      string  `json:"commit"` // of the user-secrets built, or the -bin given
	CPUs        int     `json:"cpus"`
	Go          string  `json:"go"`
	Vault       string  `json:"vault"`
	Users       int     `json:"users"`
	Keys        int     `json:"keys"`
	ValueBytes  int64   `json:"value_bytes"`
	Conc        int     `json:"concurrency"`
	Runs        int     `json:"runs"`
	SeedSeconds float64 `json:"seed_seconds"`
	RSSFloorKiB int64   `json:"rss_floor_kib"` // the launcher's part of every peak RSS
	Main        []*row  `json:"main"`
	Sweep       []*row  `json:"sweep"`
	Check       *row    `json:"check,omitempty"`
	NSS         *row    `json:"nss,omitempty"`
}

func (b *bench) newResults() *results {
	return &results{
		Date: time.Now().UTC().Format("2006-01-02"), Command: strings.Join(os.Args, " "),
		CPUs: runtime.NumCPU(), Go: runtime.Version(), Vault: harness.VaultVersion,
		Users: len(b.users), Keys: len(b.data.keys), ValueBytes: b.data.bytes,
		Conc: b.cfg.conc, Runs: b.cfg.runs, SeedSeconds: b.seedTime.Seconds(), RSSFloorKiB: b.rssFloor,
		Commit: b.commit(),
	}
}

// commit names what was measured: the repository's commit (with
// "+changes" if the work tree differs), or the binary given with -bin.
func (b *bench) commit() string {
	if b.cfg.bin != "" {
		return b.cfg.bin
	}
	repo, err := harness.RepoRoot()
	if err != nil {
		return "unknown"
	}
	out, err := exec.Command("git", "-C", repo, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	c := "commit " + strings.TrimSpace(string(out))
	// Uncommitted edits to the product (not to e2e/) change what is measured.
	diff := exec.Command("git", "-C", repo, "diff", "--quiet", "HEAD", "--", "*.go", "go.mod", "go.sum", ":!e2e")
	if diff.Run() != nil {
		c += "+changes"
	}
	return c
}

func (res *results) files() int { return res.Users * res.Keys }

func (res *results) failed() bool {
	for _, r := range append(append([]*row{res.Check, res.NSS}, res.Main...), res.Sweep...) {
		if r != nil && r.Err != "" {
			return true
		}
	}
	return false
}

func (res *results) print(w io.Writer) {
	fmt.Fprintf(w, "\nuser-secrets bench, %s: %d users × %d keys = %d files (values 32 B–4 KiB, %.1f MiB in all)\n",
		res.Date, res.Users, res.Keys, res.files(), float64(res.ValueBytes)/(1<<20))
	fmt.Fprintf(w, "user-secrets %s; Vault %s dev server (in memory) on 127.0.0.1; %d CPUs shared by Vault and client; %s\n",
		res.Commit, res.Vault, res.CPUs, res.Go)
	fmt.Fprintf(w, "median of %d runs; seeding took %.2f s (not in any row); CPU is user+system of the process and its children;\n", res.Runs, res.SeedSeconds)
	fmt.Fprintf(w, "peak RSS is ru_maxrss, which includes %.1f MiB of the launcher's own (see runner.go)\n\n", mib(res.RSSFloorKiB))
	res.printMain(w)
	res.printSweep(w)
	fmt.Fprintln(w)
	for _, r := range []*row{res.Check, res.NSS} {
		switch {
		case r == nil:
		case r.Err != "":
			fmt.Fprintf(w, "%s: ERROR: %s\n", r.Title, r.Err)
		default:
			fmt.Fprintf(w, "%s: %.1f ms median of %d runs, peak RSS %.1f MiB\n",
				r.Title, float64(r.wall().Microseconds())/1000, len(r.Samples), mib(r.peakRSS()))
		}
	}
}

func (res *results) printMain(w io.Writer) {
	limit, limitWrite := res.find(res.Main, "limit"), res.find(res.Main, "limit-write")
	width := 0
	for _, r := range res.Main {
		width = max(width, len(r.Title))
	}
	// Titles padded to one width read left-aligned in right-aligned columns.
	title := func(s string) string { return fmt.Sprintf("%-*s", width, s) }
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%s\t conc\twall\tfiles/s\twritten\tCPU\tpeak RSS\t÷ limit\t÷ limit+write\t\n", title("row"))
	var notes []string
	for _, r := range res.Main {
		if r.Err != "" {
			notes = append(notes, fmt.Sprintf("%s: ERROR: %s", r.Title, r.Err))
			fmt.Fprintf(tw, "%s\t %d\tERROR\t\t\t\t\t\t\t\n", title(r.Title), r.Conc)
			continue
		}
		if r.Note != "" {
			notes = append(notes, r.Title+": "+r.Note)
		}
		fmt.Fprintf(tw, "%s\t %d\t%s\t%s\t%d\t%s\t%.1f MiB\t%s\t%s\t\n", title(r.Title), r.Conc, secs(r.wall()),
			rate(res.files(), r.wall()), r.written(), secs(r.cpu()), mib(r.peakRSS()), ratio(r, limit), ratio(r, limitWrite))
	}
	tw.Flush()
	for _, n := range notes {
		fmt.Fprintln(w, "  "+n)
	}
}

// printSweep shows files/s per concurrency; in brackets each sync row's
// ratio to the limit it compares with.
func (res *results) printSweep(w io.Writer) {
	if len(res.Sweep) == 0 {
		return
	}
	fmt.Fprintf(w, "\nfiles/s by concurrency (wall time ratio to the limit in brackets):\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "conc\tlimit\tlimit+write\tsync full\tsync no-op\t\n")
	seen := map[int]bool{}
	for _, r := range res.Sweep {
		c := r.Conc
		if seen[c] {
			continue
		}
		seen[c] = true
		at := func(id string) *row { return res.find(res.Sweep, id, c) }
		cell := func(r, base *row) string {
			if r == nil || r.Err != "" || len(r.Samples) == 0 {
				return "-"
			}
			s := rate(res.files(), r.wall())
			if base != nil && base != r {
				s += " (" + ratio(r, base) + ")"
			}
			return s
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t\n", c, cell(at("limit"), nil), cell(at("limit-write"), nil),
			cell(at("full"), at("limit-write")), cell(at("noop"), at("limit")))
	}
	tw.Flush()
}

// find returns the row with id (and, if given, concurrency) in rows.
func (res *results) find(rows []*row, id string, conc ...int) *row {
	for _, r := range rows {
		if r.ID == id && (len(conc) == 0 || r.Conc == conc[0]) {
			return r
		}
	}
	return nil
}

func (res *results) writeJSON(path string) error {
	data, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

func ratio(r, base *row) string {
	if base == nil || base.Err != "" || len(base.Samples) == 0 || base.wall() == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f×", float64(r.wall())/float64(base.wall()))
}

func rate(files int, wall time.Duration) string {
	if wall <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f", float64(files)/wall.Seconds())
}

func secs(d time.Duration) string { return fmt.Sprintf("%.3f s", d.Seconds()) }

func mib(kib int64) float64 { return float64(kib) / 1024 }
