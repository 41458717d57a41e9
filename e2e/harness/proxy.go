package harness

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"sync"
	"time"
)

// Proxy forwards HTTP requests to a real Vault unchanged and injects faults
// by rule, so tests can show how a client copes with a flaky server. It never
// invents a successful answer: a request either gets a fault or Vault's own
// response.
type Proxy struct {
	Addr string // e.g. http://127.0.0.1:38212; stays the same across Pause/Resume

	host      string // 127.0.0.1:PORT
	srv       *http.Server
	transport *http.Transport

	mu     sync.Mutex
	ln     net.Listener // nil while paused or closed
	closed bool
	conns  map[net.Conn]struct{} // open client connections, closed by Pause
	rules  []*rule
	log    []Record
}

// Fault is what to do with one matching request instead of (or before)
// forwarding it. The zero Fault forwards the request.
type Fault struct {
	Status     int           // answer this status with {"errors":["injected fault"]} instead of forwarding (0: forward)
	RetryAfter string        // Retry-After header of a Status answer, e.g. "1"
	Delay      time.Duration // wait this long first; ends early if the client gives up
	Reset      bool          // close the client's TCP connection with a RST instead of answering
}

// Record is one request the proxy received. It holds no headers or bodies,
// so no secret material.
type Record struct {
	Method, Path string
	Status       int  // status sent to the client; 0 if none (reset, or the client gave up)
	Fault        bool // a rule matched, so the request got a Fault
}

type rule struct {
	re    *regexp.Regexp
	left  int // requests still to fault; < 0 means no limit
	fault Fault
}

// StartProxy listens on a free loopback port and forwards to target, a plain
// HTTP base URL such as Vault.Addr.
func StartProxy(target string) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("proxy target: %w", err)
	}
	if u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("proxy target %q: want http://host:port", target)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{Addr: "http://" + ln.Addr().String(), host: ln.Addr().String(), ln: ln,
		conns: map[net.Conn]struct{}{}}
	p.transport = &http.Transport{ // no Proxy: ignore $HTTP_PROXY
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 32,
		IdleConnTimeout:     90 * time.Second,
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.Out.Host = pr.In.Host // forward the request as the client sent it
		},
		Transport:    p.transport,
		ErrorHandler: forwardError,
	}
	p.srv = &http.Server{Handler: p.handler(rp), ConnState: p.trackConn, ReadHeaderTimeout: 10 * time.Second}
	go p.srv.Serve(ln)
	return p, nil
}

// Close stops the proxy and drops every connection.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.closed, p.ln = true, nil
	p.mu.Unlock()
	p.srv.Close()
	p.transport.CloseIdleConnections()
}

// Pause makes the proxy look like a server that went down: it stops
// listening, so new connections are refused, and drops open connections,
// idle or busy. Vault itself keeps running.
func (p *Proxy) Pause() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
}

// Resume listens again on the same address after Pause.
func (p *Proxy) Resume() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("proxy is closed")
	}
	if p.ln != nil {
		return nil
	}
	ln, err := net.Listen("tcp", p.host)
	if err != nil {
		return fmt.Errorf("resume proxy: %w", err)
	}
	p.ln = ln
	go p.srv.Serve(ln)
	return nil
}

// Inject makes the next n requests whose URL path matches pathRE (a regexp,
// e.g. `^/v1/secret/data/`) get fault f; n < 0 means every matching request
// until Clear. Rules apply in the order injected, one per request, so two
// rules on one path script a sequence. A bad pathRE panics.
func (p *Proxy) Inject(pathRE string, n int, f Fault) {
	r := &rule{re: regexp.MustCompile(pathRE), left: n, fault: f}
	p.mu.Lock()
	defer p.mu.Unlock()
	if n != 0 {
		p.rules = append(p.rules, r)
	}
}

// Clear removes every rule and empties the log, to start a new scenario.
func (p *Proxy) Clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules, p.log = nil, nil
}

// Log returns every request since start or the last Clear, in arrival order.
// A request is logged before any answer reaches the client, so the log is
// complete once a client has its response or error.
func (p *Proxy) Log() []Record {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Record(nil), p.log...)
}

// Count returns how many logged requests have a path matching pathRE.
func (p *Proxy) Count(pathRE string) int {
	re := regexp.MustCompile(pathRE)
	n := 0
	for _, r := range p.Log() {
		if re.MatchString(r.Path) {
			n++
		}
	}
	return n
}

// begin logs a request and takes the fault of the first live rule matching it.
func (p *Proxy) begin(r *http.Request) (idx int, f Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	matched := false
	for i, ru := range p.rules {
		if !ru.re.MatchString(r.URL.Path) {
			continue
		}
		f, matched = ru.fault, true
		if ru.left > 0 {
			if ru.left--; ru.left == 0 {
				p.rules = append(p.rules[:i:i], p.rules[i+1:]...)
			}
		}
		break
	}
	p.log = append(p.log, Record{Method: r.Method, Path: r.URL.Path, Fault: matched})
	return len(p.log) - 1, f
}

func (p *Proxy) setStatus(idx, status int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if idx < len(p.log) { // Clear may have emptied the log meanwhile
		p.log[idx].Status = status
	}
}

func (p *Proxy) handler(forward http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		idx, f := p.begin(r)
		if f.Delay > 0 && !sleep(r, f.Delay) {
			return // the client gave up
		}
		switch {
		case f.Reset:
			reset(w)
		case f.Status != 0:
			p.setStatus(idx, f.Status)
			if f.RetryAfter != "" {
				w.Header().Set("Retry-After", f.RetryAfter)
			}
			writeError(w, f.Status, "injected fault")
		default:
			forward.ServeHTTP(&statusWriter{ResponseWriter: w, set: func(c int) { p.setStatus(idx, c) }}, r)
		}
	})
}

func (p *Proxy) trackConn(c net.Conn, s http.ConnState) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch s {
	case http.StateNew:
		p.conns[c] = struct{}{}
	case http.StateHijacked, http.StateClosed:
		delete(p.conns, c)
	}
}

// sleep waits for d and reports false if the request was cancelled first.
func sleep(r *http.Request, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// reset takes over the connection and aborts it, so the client gets a TCP
// RST and no HTTP response.
func reset(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler) // the server drops the connection (without linger 0)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	conn.Close()
}

// forwardError answers 502 like a load balancer when Vault cannot be reached.
func forwardError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		return // the client gave up; nobody reads an answer
	}
	writeError(w, http.StatusBadGateway, "proxy: "+err.Error())
}

// writeError answers in Vault's error format.
func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string][]string{"errors": {msg}})
}

// statusWriter reports the status before it is sent.
type statusWriter struct {
	http.ResponseWriter
	set   func(int)
	wrote bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote && code >= 200 { // 1xx answers are interim
		w.wrote = true
		w.set(code)
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
