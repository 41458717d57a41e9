package harness

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// proxyFixture is one real dev Vault behind one Proxy, shared by subtests.
type proxyFixture struct {
	v  *Vault
	p  *Proxy
	c  *http.Client // keeps connections alive, like user-secrets
	kv string       // URL of a KV v2 entry through the proxy
}

const (
	proxyKVRE     = `^/v1/secret/data/`
	proxyKVPath   = "/v1/secret/data/proxy/alice"
	proxyInjected = `{"errors":["injected fault"]}`
)

// TestProxy shows each fault against one real dev Vault, through plain
// net/http requests to the proxy.
func TestProxy(t *testing.T) {
	v, err := StartVault(Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Stop)
	if err := v.PutKV("secret", 2, "proxy/alice", map[string]string{"k": "real-value"}); err != nil {
		t.Fatal(err)
	}
	p, err := StartProxy(v.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	f := &proxyFixture{v: v, p: p, c: &http.Client{Timeout: 10 * time.Second}, kv: p.Addr + proxyKVPath}
	for _, tc := range []struct {
		name string
		run  func(*testing.T, *proxyFixture)
	}{
		{"PassThrough", testProxyPassThrough},
		{"Status", testProxyStatus},
		{"OnlyMatchingPaths", testProxyOnlyMatchingPaths},
		{"Concurrent", testProxyConcurrent},
		{"Delay", testProxyDelay},
		{"Reset", testProxyReset},
		{"ResetOnReusedConnection", testProxyResetOnReusedConnection},
		{"PauseResume", testProxyPauseResume},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p.Clear()
			tc.run(t, f)
		})
	}
}

// get reads the KV entry through the proxy with the root token.
func (f *proxyFixture) get(t *testing.T) proxyReply {
	t.Helper()
	return proxyCall(t, f.c, "GET", f.kv, f.v.RootToken)
}

func testProxyPassThrough(t *testing.T, f *proxyFixture) {
	expectReply(t, proxyCall(t, f.c, "GET", f.p.Addr+"/v1/sys/health", ""), 200, `"initialized":true`)
	expectReply(t, f.get(t), 200, `"k":"real-value"`)
	expectReply(t, proxyCall(t, f.c, "GET", f.kv, ""), 403, "permission denied") // Vault's own refusal
	wantProxyLog(t, f.p, Record{"GET", "/v1/sys/health", 200, false},
		Record{"GET", proxyKVPath, 200, false}, Record{"GET", proxyKVPath, 403, false})
}

func testProxyStatus(t *testing.T, f *proxyFixture) {
	for _, tc := range []struct {
		name  string
		n     int
		fault Fault
		want  []int // statuses of successive requests
	}{
		{"503 twice then forwarded", 2, Fault{Status: 503}, []int{503, 503, 200}},
		{"429 with Retry-After", 1, Fault{Status: 429, RetryAfter: "1"}, []int{429, 200}},
		{"403 once", 1, Fault{Status: 403}, []int{403, 200}},
		{"500 until Clear", -1, Fault{Status: 500}, []int{500, 500, 500}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.p.Clear()
			f.p.Inject(proxyKVRE, tc.n, tc.fault)
			var log []Record
			for _, status := range tc.want {
				r := f.get(t)
				if status == 200 {
					expectReply(t, r, 200, "real-value")
				} else {
					expectReply(t, r, status, proxyInjected)
					if r.retryAfter != tc.fault.RetryAfter {
						t.Errorf("Retry-After %q, want %q", r.retryAfter, tc.fault.RetryAfter)
					}
				}
				log = append(log, Record{"GET", proxyKVPath, status, status != 200})
			}
			wantProxyLog(t, f.p, log...)
			f.p.Clear()
			expectReply(t, f.get(t), 200, "real-value")
		})
	}
}

func testProxyOnlyMatchingPaths(t *testing.T, f *proxyFixture) {
	f.p.Inject(proxyKVRE, -1, Fault{Status: 503})
	expectReply(t, proxyCall(t, f.c, "GET", f.p.Addr+"/v1/sys/health", ""), 200, `"sealed":false`)
	expectReply(t, f.get(t), 503, proxyInjected)
	if n := f.p.Count(proxyKVRE); n != 1 {
		t.Errorf("Count(%q) = %d, want 1", proxyKVRE, n)
	}
}

// testProxyConcurrent checks that a rule faults exactly n requests when
// many arrive at once, as when user-secrets reads users in parallel.
func testProxyConcurrent(t *testing.T, f *proxyFixture) {
	f.p.Inject(proxyKVRE, 5, Fault{Status: 503})
	statuses := make(chan int, 20)
	var wg sync.WaitGroup
	for range cap(statuses) {
		wg.Go(func() { // no t.Fatal off the test goroutine
			r, err := proxySend(f.c, "GET", f.kv, f.v.RootToken)
			if err != nil {
				t.Error(err)
			}
			statuses <- r.status
		})
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for s := range statuses {
		count[s]++
	}
	if count[503] != 5 || count[200] != 15 || f.p.Count(proxyKVRE) != 20 {
		t.Errorf("statuses %v, %d logged; want 5 x 503, 15 x 200, 20 logged", count, f.p.Count(proxyKVRE))
	}
}

func testProxyDelay(t *testing.T, f *proxyFixture) {
	f.p.Inject(proxyKVRE, 1, Fault{Delay: 300 * time.Millisecond})
	start := time.Now()
	expectReply(t, f.get(t), 200, "real-value")
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("delayed request took %s, want >= 300ms", d)
	}

	f.p.Inject(proxyKVRE, 1, Fault{Delay: time.Minute})
	short := &http.Client{Timeout: 100 * time.Millisecond}
	start = time.Now()
	var ne net.Error
	if _, err := short.Get(f.kv); !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("client with a 100ms timeout got %v, want a timeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("timed-out request took %s", d)
	}
	wantProxyLog(t, f.p, Record{"GET", proxyKVPath, 200, true}, Record{"GET", proxyKVPath, 0, true})
}

func testProxyReset(t *testing.T, f *proxyFixture) {
	f.p.Inject(proxyKVRE, 1, Fault{Reset: true})
	fresh := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	if resp, err := fresh.Get(f.kv); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("got response %v, error %v; want connection reset", resp, err)
	}
	expectReply(t, f.get(t), 200, "real-value")
	wantProxyLog(t, f.p, Record{"GET", proxyKVPath, 0, true}, Record{"GET", proxyKVPath, 200, false})
}

// testProxyResetOnReusedConnection shows that net/http itself resends an
// idempotent request whose reused keep-alive connection breaks before any
// answer: the client never sees that reset, only the proxy log does. A PUT
// is not resent.
func testProxyResetOnReusedConnection(t *testing.T, f *proxyFixture) {
	expectReply(t, f.get(t), 200, "real-value") // leaves an idle connection
	f.p.Inject(proxyKVRE, 1, Fault{Reset: true})
	expectReply(t, f.get(t), 200, "real-value")
	if n := f.p.Count(proxyKVRE); n != 3 {
		t.Errorf("proxy saw %d requests, want 3: warm-up, reset, resend", n)
	}
	f.p.Inject(proxyKVRE, 1, Fault{Reset: true})
	req, _ := http.NewRequest("PUT", f.kv, strings.NewReader(`{"data":{}}`))
	if resp, err := f.c.Do(req); err == nil {
		resp.Body.Close()
		t.Errorf("reset PUT got %s, want an error", resp.Status)
	}
}

func testProxyPauseResume(t *testing.T, f *proxyFixture) {
	addr, host := f.p.Addr, strings.TrimPrefix(f.p.Addr, "http://")
	expectReply(t, f.get(t), 200, "real-value") // leaves an idle connection
	f.p.Pause()
	if conn, err := net.DialTimeout("tcp", host, 5*time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		if conn != nil {
			conn.Close()
		}
		t.Errorf("dial while paused: %v, want connection refused", err)
	}
	if resp, err := f.c.Get(f.kv); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("GET while paused: response %v, error %v; want connection refused", resp, err)
	}
	if err := f.p.Resume(); err != nil {
		t.Fatal(err)
	}
	if f.p.Addr != addr {
		t.Errorf("Addr changed from %s to %s", addr, f.p.Addr)
	}
	expectReply(t, f.get(t), 200, "real-value")
}

type proxyReply struct {
	status           int
	retryAfter, body string
}

// proxyCall sends a request through the proxy and fails the test if no HTTP
// answer comes back.
func proxyCall(t *testing.T, c *http.Client, method, url, token string) proxyReply {
	t.Helper()
	r, err := proxySend(c, method, url, token)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return r
}

func proxySend(c *http.Client, method, url, token string) (proxyReply, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return proxyReply{}, err
	}
	if token != "" {
		req.Header.Set("X-Vault-Token", token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return proxyReply{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return proxyReply{resp.StatusCode, resp.Header.Get("Retry-After"), string(body)}, err
}

func expectReply(t *testing.T, r proxyReply, status int, bodyPart string) {
	t.Helper()
	if r.status != status || !strings.Contains(r.body, bodyPart) {
		t.Errorf("got %d %q, want %d with %q", r.status, r.body, status, bodyPart)
	}
}

func wantProxyLog(t *testing.T, p *Proxy, want ...Record) {
	t.Helper()
	got := p.Log()
	if len(got) != len(want) {
		t.Fatalf("log has %d records, want %d:\n got %v\nwant %v", len(got), len(want), got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("log[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
}
