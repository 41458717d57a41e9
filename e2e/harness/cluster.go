package harness

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Cluster is a 3-node Vault raft cluster serving HTTPS on 127.0.0.1,
// initialized with a single unseal key share and KV v2 mounted at secret/.
type Cluster struct {
	Nodes     []*Node
	CACert    string // PEM file of the CA that signed every node's certificate
	RootToken string
	UnsealKey string // base64; the only key share, so it unseals any node

	dir    string
	opts   ClusterOptions
	client *http.Client
}

// ClusterOptions choose how StartClusterWith starts a cluster.
type ClusterOptions struct {
	Bin string // server binary; empty means VaultBinary
	// PerformanceMultiplier is raft's performance_multiplier: 0 keeps
	// Vault's default (5), under which electing a new leader takes 5-30 s.
	// 1 makes start-up and failover several times faster, for tests that
	// are not about production timing.
	PerformanceMultiplier int
}

const (
	clusterSize       = 3
	clusterStartLimit = 90 * time.Second
)

// errPortInUse marks a start that failed because a probed port was taken
// before Vault bound it; only that is worth another attempt.
var errPortInUse = errors.New("port taken before vault could bind it")

// StartCluster starts a cluster with Vault's default raft timings.
func StartCluster() (*Cluster, error) { return StartClusterWith(ClusterOptions{}) }

// StartClusterWith starts three raft nodes that join each other by
// retry_join, initializes and unseals them, and waits until all three are
// healthy voters. It gives up after about 90 s with every node's log in the
// error.
func StartClusterWith(opts ClusterOptions) (*Cluster, error) {
	if opts.Bin == "" {
		var err error
		if opts.Bin, err = VaultBinary(func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }); err != nil {
			return nil, err
		}
	}
	deadline := time.Now().Add(clusterStartLimit)
	var lastErr error
	for attempt := 0; attempt < 3 && time.Now().Before(deadline); attempt++ {
		c, err := startClusterOnce(opts, deadline)
		if err == nil {
			return c, nil
		}
		if lastErr = err; !errors.Is(err, errPortInUse) {
			break
		}
	}
	return nil, lastErr
}

func startClusterOnce(opts ClusterOptions, deadline time.Time) (*Cluster, error) {
	dir, err := os.MkdirTemp("", "user-secrets-raft-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{dir: dir, opts: opts}
	err = c.prepare()
	for _, n := range c.Nodes {
		if err == nil {
			err = n.start(opts.Bin, dir)
		}
	}
	if err == nil {
		if err = c.bootstrap(deadline); err != nil {
			err = fmt.Errorf("raft cluster: %w\n%s", err, c.logs())
		}
	}
	if err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// prepare writes certificates and one config per node into c.dir.
func (c *Cluster) prepare() error {
	var names []string
	for i := range clusterSize {
		names = append(names, fmt.Sprintf("node%d", i+1))
	}
	ca, pairs, err := writeCerts(c.dir, names...)
	if err != nil {
		return err
	}
	c.CACert = ca
	if c.client, err = tlsClient(ca); err != nil {
		return err
	}
	ports, err := freePorts(2 * clusterSize)
	if err != nil {
		return err
	}
	for i, name := range names {
		n := &Node{ID: name, dir: filepath.Join(c.dir, name), client: c.client, exited: make(chan struct{})}
		n.Addr = fmt.Sprintf("https://127.0.0.1:%d", ports[2*i])
		n.ClusterAddr = fmt.Sprintf("https://127.0.0.1:%d", ports[2*i+1])
		if err := os.MkdirAll(filepath.Join(n.dir, "raft"), 0o700); err != nil {
			return err
		}
		c.Nodes = append(c.Nodes, n)
	}
	for i, n := range c.Nodes {
		if err := os.WriteFile(n.configFile(), []byte(c.config(n, ca, pairs[i])), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// config renders n's HCL: raft storage that retry_joins every other node,
// and one TLS listener for API and cluster traffic.
func (c *Cluster) config(n *Node, ca string, tls certPair) string {
	var b strings.Builder
	fmt.Fprintf(&b, "storage \"raft\" {\n  path    = %q\n  node_id = %q\n", filepath.Join(n.dir, "raft"), n.ID)
	// Autopilot promotes at most one non-voter per reconcile pass (10 s by
	// default); 2 s gets three voters sooner. Elections are not affected.
	b.WriteString("  autopilot_reconcile_interval = \"2s\"\n")
	if m := c.opts.PerformanceMultiplier; m > 0 {
		fmt.Fprintf(&b, "  performance_multiplier = %d\n", m)
	}
	for _, peer := range c.Nodes {
		if peer != n {
			fmt.Fprintf(&b, "  retry_join {\n    leader_api_addr     = %q\n    leader_ca_cert_file = %q\n  }\n", peer.Addr, ca)
		}
	}
	fmt.Fprintf(&b, "}\nlistener \"tcp\" {\n  address         = %q\n  cluster_address = %q\n",
		strings.TrimPrefix(n.Addr, "https://"), strings.TrimPrefix(n.ClusterAddr, "https://"))
	fmt.Fprintf(&b, "  tls_cert_file   = %q\n  tls_key_file    = %q\n}\n", tls.Cert, tls.Key)
	fmt.Fprintf(&b, "api_addr      = %q\ncluster_addr  = %q\ndisable_mlock = true\nui            = false\n", n.Addr, n.ClusterAddr)
	return b.String()
}

// bootstrap initializes node 1, unseals it, lets the others join and unseals
// them, then waits for three voters and mounts KV v2 at secret/ so the cluster
// looks like a dev server to tests.
func (c *Cluster) bootstrap(deadline time.Time) error {
	if err := c.initialize(deadline); err != nil {
		return err
	}
	if err := c.unseal(c.Nodes[0], deadline); err != nil {
		return err
	}
	// New raft peers join as non-voters and autopilot promotes them only
	// after server_stabilization_time (10 s by default); shorten it so
	// start-up stays fast. Failover timing is not affected.
	if err := c.VaultAt(c.Nodes[0]).API("POST", "sys/storage/raft/autopilot/configuration",
		map[string]string{"server_stabilization_time": "2s"}, nil); err != nil {
		return err
	}
	for _, n := range c.Nodes[1:] {
		if err := c.unseal(n, deadline); err != nil {
			return err
		}
	}
	if err := c.poll(deadline, "three raft voters", c.threeVoters); err != nil {
		return err
	}
	if err := c.poll(deadline, "every node active or standby", c.allHealthy); err != nil {
		return err
	}
	admin, err := c.Admin()
	if err != nil {
		return err
	}
	return admin.MountKV("secret", 2)
}

// initialize runs sys/init on node 1 and keeps the key and root token.
func (c *Cluster) initialize(deadline time.Time) error {
	first := c.Nodes[0]
	if err := c.poll(deadline, "node1 to listen", func() (bool, error) {
		err := first.call(context.Background(), "GET", "sys/seal-status", nil, nil)
		return err == nil, err
	}); err != nil {
		return err
	}
	// Init bootstraps a one-node raft and waits for its first election, which
	// takes 5-10 s with default timings, so it gets the whole start budget.
	// It is not retried: a lost answer would leave no way to get the key.
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	var init struct {
		Keys      []string `json:"keys_base64"`
		RootToken string   `json:"root_token"`
	}
	if err := first.call(ctx, "PUT", "sys/init", map[string]int{"secret_shares": 1, "secret_threshold": 1}, &init); err != nil {
		return err
	}
	if len(init.Keys) != 1 || init.RootToken == "" {
		return fmt.Errorf("sys/init returned %d keys and root token %t", len(init.Keys), init.RootToken != "")
	}
	c.RootToken, c.UnsealKey = init.RootToken, init.Keys[0]
	return nil
}

// unseal submits the key once n has joined (a joining node reports
// initialized only after the leader answered its join challenge; before that
// sys/unseal fails), and waits until n is active or standby.
func (c *Cluster) unseal(n *Node, deadline time.Time) error {
	return c.poll(deadline, n.ID+" to join and unseal", func() (bool, error) {
		if st, err := n.Health(); err == nil && (st == 200 || st == 429) {
			return true, nil
		}
		var s struct{ Initialized, Sealed bool }
		if err := n.call(context.Background(), "GET", "sys/seal-status", nil, &s); err != nil {
			return false, err
		}
		if !s.Initialized {
			return false, errors.New(n.ID + " has not joined yet")
		}
		if s.Sealed {
			return false, n.call(context.Background(), "PUT", "sys/unseal", map[string]string{"key": c.UnsealKey}, nil)
		}
		return false, errors.New(n.ID + " is unsealed but not yet active or standby")
	})
}

func (c *Cluster) threeVoters() (bool, error) {
	var out struct {
		Data struct {
			Config struct {
				Servers []struct {
					NodeID string `json:"node_id"`
					Voter  bool
				}
			}
		}
	}
	if err := c.VaultAt(c.Nodes[0]).API("GET", "sys/storage/raft/configuration", nil, &out); err != nil {
		return false, err
	}
	var voters []string
	for _, s := range out.Data.Config.Servers {
		if s.Voter {
			voters = append(voters, s.NodeID)
		}
	}
	return len(voters) == clusterSize, fmt.Errorf("voters so far: %v", voters)
}

func (c *Cluster) allHealthy() (bool, error) {
	for _, n := range c.Nodes {
		if st, err := n.Health(); err != nil || (st != 200 && st != 429) {
			return false, fmt.Errorf("%s: sys/health %d, %v", n.ID, st, err)
		}
	}
	return true, nil
}

// poll calls cond every 200 ms until it reports done. It fails early when a
// node that was not killed on purpose has exited.
func (c *Cluster) poll(deadline time.Time, what string, cond func() (bool, error)) error {
	var last error
	for time.Now().Before(deadline) {
		for _, n := range c.Nodes {
			if n.Exited() && !n.killed.Load() {
				if strings.Contains(n.Log(), "address already in use") {
					return fmt.Errorf("%s: %w", n.ID, errPortInUse)
				}
				return fmt.Errorf("%s exited while waiting for %s", n.ID, what)
			}
		}
		done, err := cond()
		if done {
			return nil
		}
		last = err
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("timed out waiting for %s; last error: %v", what, last)
}

// Leader returns the active node: the live node whose sys/health is 200.
func (c *Cluster) Leader() (*Node, error) {
	for _, n := range c.Nodes {
		if st, err := n.Health(); err == nil && st == http.StatusOK {
			return n, nil
		}
	}
	return nil, errors.New("no active vault node")
}

// Standbys returns the live nodes that report a healthy standby (sys/health
// 429). A standby that has lost contact with the active node reports 474
// and is not listed.
func (c *Cluster) Standbys() []*Node {
	var out []*Node
	for _, n := range c.Nodes {
		if st, err := n.Health(); err == nil && st == http.StatusTooManyRequests {
			out = append(out, n)
		}
	}
	return out
}

// WaitLeader waits until a node other than exclude (nil for any) is active.
func (c *Cluster) WaitLeader(exclude *Node, timeout time.Duration) (*Node, error) {
	var leader *Node
	err := c.poll(time.Now().Add(timeout), "a new active node", func() (bool, error) {
		n, err := c.Leader()
		leader = n
		return err == nil && n != exclude, err
	})
	if err != nil {
		return nil, err
	}
	return leader, nil
}

// Admin returns a *Vault that sends root-token API calls to the active node,
// so CreateRole, MountKV, PutKV etc. work as on a dev server. If leadership
// moves later, its calls still work while that node lives: standbys forward.
func (c *Cluster) Admin() (*Vault, error) {
	n, err := c.Leader()
	if err != nil {
		return nil, err
	}
	return c.VaultAt(n), nil
}

// VaultAt returns a *Vault that talks to node n with the root token. The
// cluster owns the process: Stop and Kill on the result do nothing.
func (c *Cluster) VaultAt(n *Node) *Vault {
	return attachVault(n.Addr, c.CACert, c.RootToken, c.client, filepath.Join(c.dir, "attached"))
}

// attachVault makes a *Vault for a server that StartVault did not start.
// dir must not exist: Vault.Stop removes it and Vault.Log reads from it.
func attachVault(addr, caFile, token string, client *http.Client, dir string) *Vault {
	exited := make(chan struct{})
	close(exited) // Vault.Kill waits on it
	return &Vault{Addr: addr, CACert: caFile, RootToken: token, client: client,
		cmd: &exec.Cmd{}, dir: dir, exited: exited}
}

// Stop kills every node and removes all files of the cluster.
func (c *Cluster) Stop() {
	for _, n := range c.Nodes {
		n.Kill()
	}
	os.RemoveAll(c.dir)
}

// logs is the tail of every node's log, for start-up errors.
func (c *Cluster) logs() string {
	var b strings.Builder
	for _, n := range c.Nodes {
		l := n.Log()
		if len(l) > 6000 {
			l = "..." + l[len(l)-6000:]
		}
		fmt.Fprintf(&b, "=== %s (%s) log ===\n%s\n", n.ID, n.Addr, l)
	}
	return b.String()
}
