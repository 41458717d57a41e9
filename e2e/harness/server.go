package harness

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Vault is a running `vault server -dev` on 127.0.0.1.
type Vault struct {
	Addr      string // e.g. http://127.0.0.1:38211
	CACert    string // PEM file of the dev CA when started with TLS
	RootToken string

	cmd    *exec.Cmd
	dir    string
	client *http.Client
	exited chan struct{}
}

// Options choose how the dev server is started.
type Options struct {
	TLS bool   // serve HTTPS with a dev CA (-dev-tls)
	Bin string // server binary; empty means VaultBinary
}

// StartVault starts a dev server on a free loopback port and waits until it
// is unsealed and answering. The server keeps everything in memory.
func StartVault(opts Options) (*Vault, error) {
	bin := opts.Bin
	if bin == "" {
		var err error
		if bin, err = VaultBinary(func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }); err != nil {
			return nil, err
		}
	}
	var lastErr error
	for range 3 { // a free port can be taken between probe and bind
		v, err := startOnce(bin, opts)
		if err == nil {
			return v, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func startOnce(bin string, opts Options) (*Vault, error) {
	dir, err := os.MkdirTemp("", "user-secrets-vault-")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	v := &Vault{RootToken: "root-" + randomHex(12), dir: dir, exited: make(chan struct{})}
	listen := fmt.Sprintf("127.0.0.1:%d", port)
	args := []string{"server", "-dev", "-dev-no-store-token",
		"-dev-root-token-id=" + v.RootToken, "-dev-listen-address=" + listen}
	scheme := "http"
	if opts.TLS {
		scheme = "https"
		args = append(args, "-dev-tls", "-dev-tls-cert-dir="+dir)
		v.CACert = filepath.Join(dir, "vault-ca.pem")
	}
	v.Addr = scheme + "://" + listen
	v.cmd = exec.Command(bin, args...)
	// A dev server writes its token helper file to $HOME; keep it in dir.
	v.cmd.Env = append(os.Environ(), "HOME="+dir, "VAULT_ADDR="+v.Addr)
	logf, err := os.Create(filepath.Join(dir, "vault.log"))
	if err != nil {
		return nil, err
	}
	v.cmd.Stdout, v.cmd.Stderr = logf, logf
	if err := v.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start vault: %w", err)
	}
	go func() { v.cmd.Wait(); logf.Close(); close(v.exited) }()
	if err := v.waitReady(opts.TLS, 60*time.Second); err != nil {
		v.Stop()
		return nil, err
	}
	return v, nil
}

func (v *Vault) waitReady(useTLS bool, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case <-v.exited:
			return fmt.Errorf("vault exited during start-up; log:\n%s", v.Log())
		default:
		}
		if v.client == nil && useTLS {
			v.client, _ = tlsClient(v.CACert) // the CA file appears once the server runs
		} else if v.client == nil {
			v.client = &http.Client{Timeout: 10 * time.Second}
		}
		if v.client != nil {
			var health struct{ Sealed bool }
			if err := v.API("GET", "sys/health", nil, &health); err == nil && !health.Sealed {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("vault at %s not ready after %s; log:\n%s", v.Addr, limit, v.Log())
}

func tlsClient(caFile string) (*http.Client, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, errors.New("no certificate in " + caFile)
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}, nil
}

// Log returns what the server printed so far, for failure messages.
func (v *Vault) Log() string {
	b, _ := os.ReadFile(filepath.Join(v.dir, "vault.log"))
	return string(b)
}

// Kill stops the server at once, as a crash would.
func (v *Vault) Kill() {
	if v.cmd.Process != nil {
		v.cmd.Process.Kill()
	}
	<-v.exited
}

// Stop shuts the server down and removes its files.
func (v *Vault) Stop() {
	if v.cmd.Process != nil {
		v.cmd.Process.Signal(os.Interrupt)
		select {
		case <-v.exited:
		case <-time.After(10 * time.Second):
			v.Kill()
		}
	}
	os.RemoveAll(v.dir)
}

// API calls Vault's HTTP API with the root token. path is relative to /v1/.
// A non-2xx answer is an error carrying Vault's message.
func (v *Vault) API(method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, v.Addr+"/v1/"+strings.TrimPrefix(path, "/"), rd)
	if err != nil {
		return err
	}
	req.Header.Set("X-Vault-Token", v.RootToken)
	resp, err := v.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 && !(path == "sys/health" && resp.StatusCode < 500) {
		return fmt.Errorf("%s /v1/%s: %s: %s", method, path, resp.Status, bytes.TrimSpace(data))
	}
	if out != nil && len(data) > 0 {
		return json.Unmarshal(data, out)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
