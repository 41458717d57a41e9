package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"
)

// Node is one `vault server` process of a Cluster.
type Node struct {
	ID          string // raft node_id: node1, node2, node3
	Addr        string // API: https://127.0.0.1:port
	ClusterAddr string // raft and request forwarding: https://127.0.0.1:port

	dir    string
	client *http.Client
	cmd    *exec.Cmd
	exited chan struct{}
	killed atomic.Bool // exited on purpose, so waiting need not fail
}

func (n *Node) configFile() string { return filepath.Join(n.dir, "vault.hcl") }

func (n *Node) start(bin, home string) error {
	n.cmd = exec.Command(bin, "server", "-config="+n.configFile())
	n.cmd.Env = append(serverEnv(), "HOME="+home)
	logf, err := os.Create(filepath.Join(n.dir, "vault.log"))
	if err != nil {
		return err
	}
	n.cmd.Stdout, n.cmd.Stderr = logf, logf
	if err := n.cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", n.ID, err)
	}
	go func() { n.cmd.Wait(); logf.Close(); close(n.exited) }()
	return nil
}

// serverEnv is the environment without VAULT_* variables: the server reads
// some (VAULT_API_ADDR, VAULT_RAFT_NODE_ID, ...) in preference to its config.
func serverEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "VAULT_") {
			env = append(env, kv)
		}
	}
	return env
}

// Kill stops the node with SIGKILL, as a crash would, and waits for it.
func (n *Node) Kill() {
	if n.cmd == nil || n.cmd.Process == nil {
		return
	}
	n.killed.Store(true)
	n.cmd.Process.Kill()
	<-n.exited
}

// Exited reports whether the node's process has ended.
func (n *Node) Exited() bool {
	select {
	case <-n.exited:
		return true
	default:
		return false
	}
}

// Log returns what the node printed so far.
func (n *Node) Log() string {
	b, _ := os.ReadFile(filepath.Join(n.dir, "vault.log"))
	return string(b)
}

// Health returns the status of GET sys/health on n: 200 active, 429 standby,
// 474 standby that lost contact with the active node, 501 not initialized,
// 503 sealed.
func (n *Node) Health() (int, error) {
	st, _, err := n.Do("GET", "sys/health", "", nil)
	return st, err
}

// Do sends one request to n's API (path relative to /v1/) with token, which
// may be empty, and returns the raw status and body, so callers can observe
// answers that Vault.API would turn into errors. A redirect is not followed;
// its body is replaced by "Location: <url>". Do gives up after 10 s.
func (n *Node) Do(method, path, token string, body any) (int, []byte, error) {
	return n.do(context.Background(), method, path, token, body)
}

func (n *Node) do(ctx context.Context, method, path, token string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, method, n.Addr+"/v1/"+strings.TrimPrefix(path, "/"), rd)
	if err != nil {
		return 0, nil, err
	}
	if token != "" {
		req.Header.Set("X-Vault-Token", token)
	}
	// A standby that cannot forward to the active node answers 307 to it;
	// report that rather than follow it.
	client := *n.client
	client.Timeout = 0 // ctx bounds the request
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	if loc := resp.Header.Get("Location"); loc != "" {
		return resp.StatusCode, []byte("Location: " + loc), nil
	}
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, bytes.TrimSpace(data), err
}

// call is do without a token that wants a 2xx answer and decodes it into out.
func (n *Node) call(ctx context.Context, method, path string, body, out any) error {
	st, data, err := n.do(ctx, method, path, "", body)
	if err != nil {
		return err
	}
	if st/100 != 2 {
		return fmt.Errorf("%s %s /v1/%s: %d: %s", n.ID, method, path, st, data)
	}
	if out != nil && len(data) > 0 {
		return json.Unmarshal(data, out)
	}
	return nil
}

// freePorts returns n distinct free loopback ports. All listeners stay open
// until every port is chosen, so the kernel cannot hand out one twice.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
