package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/excalibur/user-secrets/e2e/harness"
)

// The profiling build of user-secrets is made with `go build -overlay`, which
// adds profileHook to package main and swaps main.go for a copy whose main()
// runs through it. The sources on disk are not touched.
const (
	profileMainCall = "os.Exit(run(os.Args, os.Stdout, os.Stderr))"
	profileMainHook = "os.Exit(benchProfiled(func() int { return run(os.Args, os.Stdout, os.Stderr) }))"
	profileHook     = `package main

import (
	"os"
	"runtime/pprof"
	"runtime/trace"
)

// benchProfiled runs the CLI under the profiles the bench asks for by env.
func benchProfiled(run func() int) int {
	if p := os.Getenv("BENCH_CPUPROFILE"); p != "" {
		if f, err := os.Create(p); err == nil {
			pprof.StartCPUProfile(f)
			defer f.Close()
			defer pprof.StopCPUProfile()
		}
	}
	if p := os.Getenv("BENCH_TRACE"); p != "" {
		if f, err := os.Create(p); err == nil {
			trace.Start(f)
			defer f.Close()
			defer trace.Stop()
		}
	}
	code := run()
	if p := os.Getenv("BENCH_MEMPROFILE"); p != "" {
		if f, err := os.Create(p); err == nil {
			pprof.Lookup("allocs").WriteTo(f, 0)
			f.Close()
		}
	}
	return code
}
`
)

// profile writes CPU and allocation profiles and an execution trace of a
// full and a no-op sync, and a CPU profile of the write-inclusive limit.
func (b *bench) profile(ctx context.Context) error {
	dir, err := filepath.Abs(b.cfg.profileDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	bin, err := b.buildProfiling()
	if err != nil {
		return err
	}
	if err := b.resetSync(b.cfg.conc); err != nil {
		return err
	}
	spec, err := b.writeSpec(b.cfg.conc)
	if err != nil {
		return err
	}
	for _, name := range []string{"sync-full", "sync-noop"} {
		cmd := exec.Command(bin, "--config", spec, "sync")
		base := filepath.Join(dir, name)
		cmd.Env = append(os.Environ(), "BENCH_CPUPROFILE="+base+".cpu.pprof",
			"BENCH_MEMPROFILE="+base+".allocs.pprof", "BENCH_TRACE="+base+".trace")
		s, out, err := b.measure(ctx, cmd)
		if err != nil {
			return err
		}
		n, err := syncWritten(out)
		if err != nil {
			return err
		}
		b.logf("profiled %s: %.3f s, %d written", name, s.Wall.Seconds(), n)
	}
	root, err := b.freshDir("limit-out")
	if err != nil {
		return err
	}
	cmd := exec.Command(b.self, b.limitArgs(b.cfg.conc, root, filepath.Join(dir, "limit-write.cpu.pprof"))...)
	if _, _, err := b.measure(ctx, cmd); err != nil {
		return err
	}
	b.logf("profiles in %s; read them with: go tool pprof -top %s %s", dir, bin, filepath.Join(dir, "sync-full.cpu.pprof"))
	return nil
}

// buildProfiling builds user-secrets with the profile hook into the profile
// dir, so the binary stays next to its profiles for pprof's symbols.
func (b *bench) buildProfiling() (string, error) {
	repo, err := harness.RepoRoot()
	if err != nil {
		return "", err
	}
	repo, err = filepath.Abs(repo)
	if err != nil {
		return "", err
	}
	src, err := os.ReadFile(filepath.Join(repo, "main.go"))
	if err != nil {
		return "", err
	}
	if strings.Count(string(src), profileMainCall) != 1 {
		return "", fmt.Errorf("main.go no longer calls %s once; update the bench's profile hook", profileMainCall)
	}
	mainCopy := filepath.Join(b.dir, "profile-main.go")
	hook := filepath.Join(b.dir, "profile-hook.go")
	overlay := filepath.Join(b.dir, "overlay.json")
	replaced := strings.Replace(string(src), profileMainCall, profileMainHook, 1)
	ov, _ := json.Marshal(map[string]any{"Replace": map[string]string{
		filepath.Join(repo, "main.go"):             mainCopy,
		filepath.Join(repo, "zz_bench_profile.go"): hook,
	}})
	if err := writeFiles(map[string]string{mainCopy: replaced, hook: profileHook, overlay: string(ov)}); err != nil {
		return "", err
	}
	bin := filepath.Join(b.cfg.profileDir, "user-secrets-profiling")
	bin, _ = filepath.Abs(bin)
	cmd := exec.Command("go", "build", "-overlay", overlay, "-o", bin, ".")
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build profiling user-secrets: %w\n%s", err, out)
	}
	return bin, nil
}
