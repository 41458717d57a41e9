package main

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"time"
)

// sample is one timed run of a command.
type sample struct {
	Wall    time.Duration `json:"wall_ns"`
	CPU     time.Duration `json:"cpu_ns"`       // user + system time of the process and its waited-for children
	RSSKiB  int64         `json:"peak_rss_kib"` // ru_maxrss of the same
	Written int           `json:"written"`      // files the run wrote
}

// row is one line of the results: several runs of one approach.
type row struct {
	ID      string   `json:"id"`
	Title   string   `json:"title"`
	Conc    int      `json:"concurrency"`
	Users   int      `json:"users_run"` // fewer than the bench's users when sampled
	Scale   float64  `json:"scale"`     // wall and written are multiplied by this
	Samples []sample `json:"samples"`
	Note    string   `json:"note,omitempty"`
	Err     string   `json:"error,omitempty"`
}

// wall is the median run's wall time, extrapolated when sampled.
func (r *row) wall() time.Duration {
	if len(r.Samples) == 0 {
		return 0
	}
	w := make([]time.Duration, len(r.Samples))
	for i, s := range r.Samples {
		w[i] = s.Wall
	}
	return time.Duration(float64(median(w)) * r.Scale)
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	d = slices.Clone(d)
	slices.Sort(d)
	if len(d)%2 == 0 {
		return (d[len(d)/2-1] + d[len(d)/2]) / 2
	}
	return d[len(d)/2]
}

// cpu is the median run's CPU time, extrapolated when sampled. On a small
// host the client's CPU is taken from Vault's, so it is worth watching.
func (r *row) cpu() time.Duration {
	c := make([]time.Duration, len(r.Samples))
	for i, s := range r.Samples {
		c[i] = s.CPU
	}
	return time.Duration(float64(median(c)) * r.Scale)
}

// peakRSS is the highest of the runs: the figure a host must have free.
func (r *row) peakRSS() int64 {
	var p int64
	for _, s := range r.Samples {
		p = max(p, s.RSSKiB)
	}
	return p
}

// written is the files the median-ranked runs wrote, extrapolated.
func (r *row) written() int {
	if len(r.Samples) == 0 {
		return 0
	}
	return int(float64(r.Samples[len(r.Samples)-1].Written)*r.Scale + 0.5)
}

// runStep is one run of a row: prepare (untimed) returns the number of
// files the run must write; then the command is timed; count says how many
// it wrote, from its stdout; verify, if set, checks the files after the
// row's last run.
type runStep struct {
	prepare func(run int) (want int, err error)
	command func() *exec.Cmd // made with exec.Command; measure runs it
	count   func(stdout []byte) (int, error)
	verify  func() error
}

// repeat runs a row's step runs times and records each sample.
func (b *bench) repeat(ctx context.Context, r *row, runs int, st runStep) *row {
	b.interleave(ctx, runs, []*row{r}, []runStep{st})
	return r
}

// interleave runs several rows' steps in turn, run after run, so that drift
// on a shared machine (other VMs, the page cache, Vault's own state) hits
// every row alike. A run that fails or writes the wrong number of files
// ends its row with an error: a benchmark of something broken is worthless.
func (b *bench) interleave(ctx context.Context, runs int, rows []*row, steps []runStep) {
	for run := range runs {
		for i, r := range rows {
			if r.Err != "" {
				continue
			}
			if err := b.once(ctx, r, steps[i], run, runs); err != nil {
				r.Err = err.Error()
			}
		}
	}
}

func (b *bench) once(ctx context.Context, r *row, st runStep, run, runs int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	want, err := st.prepare(run)
	if err != nil {
		return fmt.Errorf("prepare: %w", err)
	}
	s, out, err := b.measure(ctx, st.command())
	if err == nil {
		s.Written, err = st.count(out)
	}
	if err == nil && want >= 0 && s.Written != want {
		err = fmt.Errorf("wrote %d files, want %d", s.Written, want)
	}
	if err == nil && run == runs-1 && st.verify != nil {
		if err = st.verify(); err != nil {
			err = fmt.Errorf("verify: %w", err)
		}
	}
	if err != nil {
		return err
	}
	r.Samples = append(r.Samples, s)
	b.logf("  %-36s run %d/%d: %8.3f s  cpu %7.3f s  %6.1f MiB  %d written", r.Title, run+1, runs,
		s.Wall.Seconds(), s.CPU.Seconds(), float64(s.RSSKiB)/1024, s.Written)
	return nil
}

// measure runs cmd (made by exec.Command, not started) through the runner.
func (b *bench) measure(ctx context.Context, cmd *exec.Cmd) (sample, []byte, error) {
	return b.runner.run(ctx, cmd)
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
