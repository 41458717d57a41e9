package e2e

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCrashAtRandomPoints guards atomicity under SIGKILL: a sync killed at
// 100 random moments leaves every key file holding one complete value, old
// or new, never a mix or a truncation, and the state file parseable; the next
// run completes and removes the temporary files the killed ones left.
func TestCrashAtRandomPoints(t *testing.T) {
	const nUsers, iterations = 6, 100
	keys := []string{"k0", "k1.conf", "k 2", "k3", "k4", "k5", "k6", "k7"}
	sys := systemUsers(t, nUsers)
	f := newFixture(t, shared)
	spec := f.kv2(map[string][]string{})
	for _, u := range sys {
		spec.Users[u.Username] = keys
	}
	f.writeSpec(spec)
	// values[set][user][key]: two complete generations a file may hold.
	values := [2]map[string]map[string]string{}
	for set := range values {
		values[set] = map[string]map[string]string{}
		for _, u := range sys {
			values[set][u.Username] = map[string]string{}
			for i, k := range keys {
				pad := strings.Repeat(fmt.Sprint(set), 32+i*500) // 32 B to ~3.5 KiB
				values[set][u.Username][k] = f.secretValue(fmt.Sprintf("%s-%d", k, set)) + pad
			}
		}
	}
	putSet := func(set int) {
		for u, data := range values[set] {
			f.put("secret", 2, f.Prefix+"/"+u, data)
		}
	}
	putSet(0)
	f.run("sync").expect(t, 0)
	putSet(1)
	start := time.Now()
	f.run("sync").expect(t, 0)
	full := time.Since(start)

	mixed := 0 // kills that landed mid-write: both generations on disk
	for i := range iterations {
		putSet(i % 2)
		cmd := exec.Command(usBin, "--config", f.Spec, "sync")
		must(t, cmd.Start())
		time.Sleep(rand.N(full + full/2))
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		if assertWholeValues(t, f, values, keys) {
			mixed++
		}
	}
	if mixed == 0 {
		t.Fatalf("no kill landed while files were being replaced; the test proved nothing")
	}
	r := f.run("sync")
	r.expect(t, 0)
	last := (iterations - 1) % 2
	for u, data := range values[last] {
		for k, v := range data {
			if readFile(t, filepath.Join(f.Root, u, k)) != v {
				t.Errorf("%s/%s does not hold the latest value after a clean run", u, k)
			}
		}
	}
	assertNoTempFiles(t, f.Root)
	t.Logf("a full sync of %d files took %s; killed %d times within 0..%s, %d of them mid-write",
		nUsers*len(keys), full, iterations, full+full/2, mixed)
}

// assertWholeValues fails unless every file holds one complete generation,
// and reports whether both generations are on disk at once.
func assertWholeValues(t *testing.T, f *fixture, values [2]map[string]map[string]string, keys []string) (mixed bool) {
	t.Helper()
	var seen [2]bool
	for u := range values[0] {
		for _, k := range keys {
			got := readFile(t, filepath.Join(f.Root, u, k))
			switch got {
			case values[0][u][k]:
				seen[0] = true
			case values[1][u][k]:
				seen[1] = true
			default:
				t.Fatalf("%s/%s holds %d bytes matching neither complete value", u, k, len(got))
			}
		}
	}
	if data, err := os.ReadFile(f.StateFile); err == nil && !json.Valid(data) {
		t.Fatalf("the state file is torn after a kill")
	}
	return seen[0] && seen[1]
}
