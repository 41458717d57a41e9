package e2e

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/excalibur/user-secrets/e2e/harness"
)

// TestClusterLeaderKilled guards a sync pointed at a standby of a 3-node raft
// cluster (TLS, retry_join) while the leader is killed: the standby first
// redirects to the dead leader, then forwards to the newly elected one. The
// run must ride that out within its deadline, and every key end up written
// with the new value or failed with the old copy kept.
func TestClusterLeaderKilled(t *testing.T) {
	users := systemUsers(t, 4)
	c, err := harness.StartClusterWith(harness.ClusterOptions{PerformanceMultiplier: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	admin, err := c.Admin()
	if err != nil {
		t.Fatal(err)
	}
	leader, err := c.Leader()
	if err != nil {
		t.Fatal(err)
	}
	standby := c.Standbys()[0]

	f := newFixture(t, admin)
	ff := &faultFixture{fixture: f, good: map[string]fileSnap{}}
	spec := specData{Addr: standby.Addr, CACert: c.CACert, Timeout: "90s", KVMount: "secret", KVVersion: 2,
		KVPath: f.Prefix + "/{user}", Users: map[string][]string{}}
	for _, u := range users {
		ff.users = append(ff.users, u.Username)
		f.put("secret", 2, f.Prefix+"/"+u.Username, map[string]string{"a": f.secretValue("a1"), "b": f.secretValue("b1")})
		spec.Users[u.Username] = []string{"a", "b"}
	}
	f.writeSpec(spec)
	f.run("sync").expect(t, 0, "8 written")
	ff.recordGood(t)
	for _, u := range ff.users {
		f.put("secret", 2, f.Prefix+"/"+u, map[string]string{"a": f.secretValue("a2"), "b": f.secretValue("b2")})
	}

	cmd := exec.Command(usBin, "--config", f.Spec, "sync")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	must(t, cmd.Start())
	leader.Kill()
	start := time.Now()
	err = cmd.Wait()
	t.Logf("sync finished %s after the leader was killed:\n%s", time.Since(start).Round(time.Millisecond), out.String())
	if err != nil {
		t.Errorf("sync through a standby during failover: %v, want success within the deadline", err)
	}
	ff.assertNoLeak(nil, "output", out.String())
	ff.assertWrittenOrKept(t, out.String())
	if _, err := c.WaitLeader(leader, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	f.run("sync").expect(t, 0, "8 unchanged")
}
