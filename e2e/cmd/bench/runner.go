package main

// Every timed command is started by a runner: this binary re-run as a small
// child process at the very start. The reason is ru_maxrss. Go starts
// children with vfork (CLONE_VM), so at exec the kernel records the peak RSS
// of the parent's address space as the child's starting maximum: run from
// the bench itself, which holds the dataset (100+ MiB at 10,000 users),
// every command would report at least that. The runner's own peak is a few
// MiB; it is measured once (running `true`) and printed as the floor.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const (
	runnerCmd  = "runner"
	maxRunTime = 30 * time.Minute
)

type runRequest struct {
	Path   string   `json:"path"`
	Args   []string `json:"args"`
	Env    []string `json:"env"`
	Stdout string   `json:"stdout"` // files, not pipes: the runner holds no output in memory
	Stderr string   `json:"stderr"`
	// Timeout bounds one command, so that a stuck one (Vault Agent retries
	// for minutes before giving up) cannot stall the whole run.
	Timeout time.Duration `json:"timeout"`
}

type runReply struct {
	Wall   time.Duration `json:"wall"`
	CPU    time.Duration `json:"cpu"`
	RSSKiB int64         `json:"rss_kib"`
	Err    string        `json:"err"`
}

// runnerMain serves requests from stdin, one at a time, until stdin closes;
// closing it also kills the command running, so the bench can cancel.
func runnerMain() int {
	ctx, cancel := context.WithCancel(context.Background())
	reqs := make(chan runRequest)
	go func() {
		defer cancel()
		defer close(reqs)
		dec := json.NewDecoder(os.Stdin)
		for {
			var r runRequest
			if dec.Decode(&r) != nil {
				return
			}
			reqs <- r
		}
	}()
	enc := json.NewEncoder(os.Stdout)
	for r := range reqs {
		if enc.Encode(runOne(ctx, r)) != nil {
			return 1
		}
	}
	return 0
}

func runOne(ctx context.Context, r runRequest) runReply {
	stdout, err1 := os.Create(r.Stdout)
	stderr, err2 := os.Create(r.Stderr)
	if err := errors.Join(err1, err2); err != nil {
		return runReply{Err: err.Error()}
	}
	defer stdout.Close()
	defer stderr.Close()
	ctx, cancel := context.WithTimeout(ctx, r.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.Path, r.Args[1:]...)
	cmd.Env, cmd.Stdout, cmd.Stderr = r.Env, stdout, stderr
	start := time.Now()
	err := cmd.Run()
	rep := runReply{Wall: time.Since(start)}
	if err != nil {
		rep.Err = err.Error()
	}
	if cmd.ProcessState == nil {
		return rep // it did not start
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		rep.RSSKiB = ru.Maxrss // KiB on Linux
		rep.CPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return rep
}

// runner is the bench's side of the runner process.
type runner struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *json.Decoder
	dir  string
	seq  int
	once sync.Once
	dead atomic.Bool
}

func startRunner(self, dir string) (*runner, error) {
	cmd := exec.Command(self, runnerCmd)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &runner{cmd: cmd, in: in, out: json.NewDecoder(bufio.NewReader(out)), dir: dir}, nil
}

// run runs cmd (built, never started, by exec.Command) to completion and
// returns its sample and stdout. If ctx ends first, the runner is stopped,
// which kills the command.
func (rn *runner) run(ctx context.Context, cmd *exec.Cmd) (sample, []byte, error) {
	if rn.dead.Load() {
		return sample{}, nil, errors.Join(ctx.Err(), errors.New("the runner has stopped"))
	}
	rn.seq++
	base := fmt.Sprintf("%s/run-%d", rn.dir, rn.seq)
	req := runRequest{Path: cmd.Path, Args: cmd.Args, Env: cmd.Env, Stdout: base + ".out", Stderr: base + ".err", Timeout: maxRunTime}
	if req.Env == nil {
		req.Env = os.Environ()
	}
	defer os.Remove(req.Stdout)
	defer os.Remove(req.Stderr)
	stop := context.AfterFunc(ctx, rn.close)
	defer stop()
	var rep runReply
	err := json.NewEncoder(rn.in).Encode(req)
	if err == nil {
		err = rn.out.Decode(&rep)
	}
	if err != nil {
		rn.close()
		return sample{}, nil, errors.Join(ctx.Err(), fmt.Errorf("runner: %w", err))
	}
	if rep.Err != "" {
		msg, _ := os.ReadFile(req.Stderr)
		return sample{}, nil, fmt.Errorf("%s: %s\n%s", strings.Join(cmd.Args, " "), rep.Err, tail(string(msg), 2000))
	}
	stdout, err := os.ReadFile(req.Stdout)
	return sample{Wall: rep.Wall, CPU: rep.CPU, RSSKiB: rep.RSSKiB}, stdout, err
}

// close tells the runner to stop, which kills what it runs. It may be
// called from ctx's AfterFunc while run waits for a reply: that read then
// fails, and run reports ctx's error.
func (rn *runner) close() {
	rn.once.Do(func() {
		rn.dead.Store(true)
		rn.in.Close()
	})
}

// wait closes the runner and waits for it to exit.
func (rn *runner) wait() {
	rn.close()
	rn.cmd.Wait()
}
