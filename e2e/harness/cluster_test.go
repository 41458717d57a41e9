package harness

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// haveVaultBinary reports where the Vault binary is without building it:
// a cold build takes 20+ minutes, which a unit-sized test must not start.
func haveVaultBinary() (string, bool) {
	if bin := os.Getenv("VAULT_BIN"); bin != "" {
		_, err := os.Stat(bin)
		return bin, err == nil
	}
	dir, err := cacheDir()
	if err != nil {
		return "", false
	}
	bin := filepath.Join(dir, "vault-"+VaultVersion)
	_, err = os.Stat(bin)
	return bin, err == nil
}

func TestClusterFailover(t *testing.T) {
	if bin, ok := haveVaultBinary(); !ok {
		t.Skipf("no Vault binary at %s; run the e2e tests once to build it", bin)
	}
	began := time.Now()
	c, err := StartCluster()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	t.Logf("cluster of %d nodes up in %s", len(c.Nodes), time.Since(began).Round(time.Millisecond))

	admin, err := c.Admin()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"api_key": "cluster-value"}
	if err := admin.PutKV("secret", 2, "cluster/alice", want); err != nil {
		t.Fatal(err)
	}
	role, err := admin.CreateRole("cluster", t.TempDir(), "secret/data/cluster/*")
	if err != nil {
		t.Fatal(err)
	}
	standbys := c.Standbys()
	if len(standbys) != 2 {
		t.Fatalf("want 2 standbys, got %d", len(standbys))
	}
	// A standby forwards the read to the active node over the cluster port.
	checkEntry(t, c.VaultAt(standbys[0]), want)

	leader, err := c.Leader()
	if err != nil {
		t.Fatal(err)
	}
	stop := observe(t, standbys, clientProbes(c.RootToken, role))
	killed := time.Now()
	leader.Kill()
	// Followers keep raft's start-up timeouts (3x: 15-30 s) until their
	// first election or 15-30 s after start, and this cluster is only
	// seconds old, so allow more than a settled cluster would need (5-20 s).
	next, err := c.WaitLeader(leader, 45*time.Second)
	if err != nil {
		t.Fatalf("%v\n%s", err, c.logs())
	}
	t.Logf("%s killed; %s active after %s", leader.ID, next.ID, time.Since(killed).Round(time.Millisecond))
	stop()
	for _, n := range standbys { // the survivors, one of them now active
		checkEntry(t, c.VaultAt(n), want)
	}
}

func checkEntry(t *testing.T, v *Vault, want map[string]string) {
	t.Helper()
	var got struct {
		Data struct{ Data map[string]string }
	}
	if err := v.API("GET", "secret/data/cluster/alice", nil, &got); err != nil {
		t.Fatalf("read via %s: %v", v.Addr, err)
	}
	if fmt.Sprint(got.Data.Data) != fmt.Sprint(want) {
		t.Fatalf("read via %s: got %v, want %v", v.Addr, got.Data.Data, want)
	}
}

// probe is one request a client of user-secrets' kind makes to a node.
type probe struct {
	name string
	do   func(n *Node) (int, []byte, error)
}

// clientProbes are what user-secrets does (AppRole login, KV v2 read) plus
// the health check a load balancer would use.
func clientProbes(token string, role *Role) []probe {
	login := map[string]string{"role_id": role.RoleID, "secret_id": role.SecretID}
	return []probe{
		{"kv read", func(n *Node) (int, []byte, error) {
			return n.Do("GET", "secret/data/cluster/alice", token, nil)
		}},
		{"approle login", func(n *Node) (int, []byte, error) {
			return n.Do("POST", "auth/approle/login", "", login)
		}},
		{"health", func(n *Node) (int, []byte, error) {
			st, _, err := n.Do("GET", "sys/health", "", nil)
			return st, nil, err
		}},
	}
}

// observe runs every probe on every node each 50 ms while leadership moves
// and logs each change of answer, to document what clients see during an
// election. The returned func waits until every probe has answered 2xx (or
// 429, a healthy standby) again, at most 10 s more, then stops; it also runs
// at cleanup, so no goroutine logs after a failed test.
func observe(t *testing.T, nodes []*Node, probes []probe) (stop func()) {
	start := time.Now()
	var wg sync.WaitGroup
	done := make(chan struct{})
	for _, n := range nodes {
		for _, p := range probes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				last, limit := "", time.Time{}
				for {
					st, body, err := p.do(n)
					ans := fmt.Sprintf("%d %s", st, body)
					if err != nil {
						ans = "error: " + err.Error()
					} else if st/100 == 2 {
						ans = fmt.Sprint(st) // bodies of successes vary (tokens)
					}
					if ans != last {
						t.Logf("+%5dms %s %s: %s", time.Since(start).Milliseconds(), n.ID, p.name, strings.TrimSpace(ans))
						last = ans
					}
					select {
					case <-done:
						if limit.IsZero() {
							limit = time.Now().Add(10 * time.Second)
						}
						if st/100 == 2 || st == 429 || time.Now().After(limit) {
							return
						}
					default:
					}
					time.Sleep(50 * time.Millisecond)
				}
			}()
		}
	}
	var once sync.Once
	stop = func() { once.Do(func() { close(done); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}
