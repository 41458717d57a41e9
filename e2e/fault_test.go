package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/excalibur/user-secrets/e2e/harness"
)

// kvRE matches the KV reads of a sync, not its login or token revocation.
const kvRE = `^/v1/secret/data/`

// faultFixture is a fixture whose spec points at a proxy in front of the
// shared Vault, with one synced user whose files are the last good copy.
type faultFixture struct {
	*fixture
	proxy *harness.Proxy
	users []string
	good  map[string]fileSnap // path -> state after the first good sync
}

func newFaultFixture(t *testing.T, nUsers int, timeout string) *faultFixture {
	t.Helper()
	return newFaultFixtureOn(t, shared, nUsers, timeout)
}

func newFaultFixtureOn(t *testing.T, v *harness.Vault, nUsers int, timeout string) *faultFixture {
	t.Helper()
	sys := systemUsers(t, nUsers)
	f := newFixture(t, v)
	p, err := harness.StartProxy(v.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	ff := &faultFixture{fixture: f, proxy: p, good: map[string]fileSnap{}}
	spec := specData{Addr: p.Addr, Timeout: timeout, KVMount: "secret", KVVersion: 2,
		KVPath: f.Prefix + "/{user}", Users: map[string][]string{}}
	for _, u := range sys {
		ff.users = append(ff.users, u.Username)
		f.put("secret", 2, f.Prefix+"/"+u.Username, map[string]string{"a": f.secretValue("a1"), "b": f.secretValue("b1")})
		spec.Users[u.Username] = []string{"a", "b"}
	}
	f.writeSpec(spec)
	f.run("sync").expect(t, 0, fmt.Sprintf("%d written", 2*nUsers))
	ff.recordGood(t)
	// New values in Vault, so a run that reads them must write.
	for _, u := range ff.users {
		f.put("secret", 2, f.Prefix+"/"+u, map[string]string{"a": f.secretValue("a2"), "b": f.secretValue("b2")})
	}
	p.Clear()
	return ff
}

// recordGood remembers every file as the last good copy.
func (ff *faultFixture) recordGood(t *testing.T) {
	t.Helper()
	for _, u := range ff.users {
		for _, k := range []string{"a", "b"} {
			p := filepath.Join(ff.Root, u, k)
			ff.good[p] = snapshot(t, p)
		}
	}
}

// assertGoodKept fails unless every file is exactly as the first sync left it.
func (ff *faultFixture) assertGoodKept(t *testing.T) {
	t.Helper()
	for p, want := range ff.good {
		if got := snapshot(t, p); got != want {
			t.Errorf("%s changed although its key failed", p)
		}
	}
	assertNoTempFiles(t, ff.Root)
}

func assertNoTempFiles(t *testing.T, root string) {
	t.Helper()
	filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err == nil && strings.HasPrefix(fi.Name(), ".user-secrets-tmp-") {
			t.Errorf("temporary file left behind: %s", p)
		}
		return nil
	})
}

// TestFaultTransientRecovered guards retries: a burst of 5xx, 429 with
// Retry-After, or refused connections that clear within the deadline are
// waited out, each retry is logged, and the sync completes.
func TestFaultTransientRecovered(t *testing.T) {
	tests := []struct {
		name  string
		fault harness.Fault
		n     int
		log   string
	}{
		{"503 burst", harness.Fault{Status: 503}, 6, `status="503 Service Unavailable"`},
		{"500 burst", harness.Fault{Status: 500}, 3, `status="500 Internal Server Error"`},
		{"429 with Retry-After", harness.Fault{Status: 429, RetryAfter: "1"}, 2, `status="429 Too Many Requests"`},
		{"connection resets", harness.Fault{Reset: true}, 4, "connection reset"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ff := newFaultFixture(t, 2, "30s")
			ff.proxy.Inject(kvRE, tc.n, tc.fault)
			r := ff.run("sync")
			r.expect(t, 0, "summary: 4 keys: 4 written", "vault request failed; retrying", tc.log)
			assertNoTempFiles(t, ff.Root)
		})
	}
}

// TestFaultNotRetried guards the other half of the retry policy: answers
// that will not change (400, 403, 404, 501) are not retried, so a denied
// path costs one request, not the whole deadline.
func TestFaultNotRetried(t *testing.T) {
	for _, code := range []int{400, 403, 404, 501} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			ff := newFaultFixture(t, 1, "30s")
			ff.proxy.Inject(kvRE, -1, harness.Fault{Status: code})
			start := time.Now()
			ff.run("sync").expect(t, 1, "2 failed")
			if n := ff.proxy.Count(kvRE); n != 1 {
				t.Errorf("%d requests for a %d, want exactly 1", n, code)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("took %s: the %d was waited on", d, code)
			}
			ff.assertGoodKept(t)
		})
	}
}

// TestFaultPersistent guards the deadline: failures that outlast the spec's
// timeout fail every key with a reason and keep every last good copy.
func TestFaultPersistent(t *testing.T) {
	tests := []struct {
		name  string
		fault harness.Fault
		want  string
	}{
		{"5xx until the deadline", harness.Fault{Status: 503}, "vault did not answer before the deadline (last error: vault answered 503 Service Unavailable)"},
		{"slow past the deadline", harness.Fault{Delay: time.Minute}, "vault did not answer before the deadline"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ff := newFaultFixture(t, 2, "3s")
			ff.proxy.Inject(kvRE, -1, tc.fault)
			start := time.Now()
			ff.run("sync").expect(t, 1, "summary: 4 keys: 4 failed", tc.want)
			if d := time.Since(start); d > 15*time.Second {
				t.Errorf("took %s with a 3s deadline", d)
			}
			ff.assertGoodKept(t)
		})
	}
}

// TestFaultVaultGoneMidSync guards a Vault that stops answering while a sync
// of many users runs, by a dropped network or by the server dying: the run
// ends by its deadline, every key is written or failed with a reason, and
// no file is left partial or lost.
func TestFaultVaultGoneMidSync(t *testing.T) {
	tests := []struct {
		name string
		gone func(ff *faultFixture, v *harness.Vault)
	}{
		{"connections refused", func(ff *faultFixture, _ *harness.Vault) { ff.proxy.Pause() }},
		{"vault killed", func(_ *faultFixture, v *harness.Vault) { v.Kill() }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := startVault(t, false)
			ff := newFaultFixtureOn(t, v, 8, "4s")
			// Slow the first reads so the fault lands mid-sync.
			ff.proxy.Inject(kvRE, 3, harness.Fault{Delay: 300 * time.Millisecond})
			cmd := exec.Command(usBin, "--config", ff.Spec, "sync")
			var out strings.Builder
			cmd.Stdout, cmd.Stderr = &out, &out
			must(t, cmd.Start())
			time.Sleep(150 * time.Millisecond)
			tc.gone(ff, v)
			err := cmd.Wait()
			ee, ok := err.(*exec.ExitError)
			if !ok || (ee.ExitCode() != 1 && ee.ExitCode() != 3) {
				t.Fatalf("exit %v, want 1 (some keys failed) or 3 (login lost)\n%s", err, out.String())
			}
			ff.assertNoLeak(nil, "output", out.String())
			ff.assertWrittenOrKept(t, out.String())
		})
	}
}

// assertWrittenOrKept fails unless each file reported written holds a new
// value and every other file is exactly its last good copy.
func (ff *faultFixture) assertWrittenOrKept(t *testing.T, report string) {
	t.Helper()
	for _, u := range ff.users {
		for _, k := range []string{"a", "b"} {
			p := filepath.Join(ff.Root, u, k)
			got := snapshot(t, p)
			if strings.Contains(report, u+"/"+k+": written") {
				if got.content == ff.good[p].content {
					t.Errorf("%s reported written but holds the old value", p)
				}
			} else if got != ff.good[p] {
				t.Errorf("%s not reported written but changed", p)
			}
		}
	}
	assertNoTempFiles(t, ff.Root)
}

// TestSignalRevokesToken guards cleanup on SIGINT and SIGTERM: the run stops
// promptly, its keys fail as interrupted, nothing is lost, and its token is
// revoked on the way out.
func TestSignalRevokesToken(t *testing.T) {
	for _, sig := range []os.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			ff := newFaultFixture(t, 1, "60s")
			before := tokenCount(t)
			ff.proxy.Inject(kvRE, -1, harness.Fault{Delay: time.Minute})
			cmd := exec.Command(usBin, "--config", ff.Spec, "sync")
			var out strings.Builder
			cmd.Stdout, cmd.Stderr = &out, &out
			must(t, cmd.Start())
			waitFor(t, func() bool { return ff.proxy.Count(kvRE) > 0 })
			start := time.Now()
			cmd.Process.Signal(sig)
			err := cmd.Wait()
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
				t.Fatalf("exit %v, want 1\n%s", err, out.String())
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("took %s to stop after %v", d, sig)
			}
			if !strings.Contains(out.String(), "interrupted") {
				t.Errorf("report does not say the keys were interrupted:\n%s", out.String())
			}
			if after := tokenCount(t); after != before {
				t.Errorf("%d tokens before, %d after: the interrupted run left its token", before, after)
			}
			ff.assertGoodKept(t)
		})
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not met within 20s")
}
