package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// kvMount and kvPrefix are user-secrets' defaults: KV v2 at
// secret/excalibur/users/<user>, as the original NixOS module had it.
const (
	kvMount  = "secret"
	kvPrefix = "excalibur/users/"
)

// api is a plain net/http Vault client: one keep-alive pool sized for the
// concurrency used, so every worker reuses its own connection. It is both
// the seeder and the "limit" the product is measured against.
type api struct {
	addr   string
	token  string
	client *http.Client
}

func newAPI(addr, token string, conns int) *api {
	t := &http.Transport{
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true, // Vault does not compress; skip the header
	}
	return &api{addr: addr, token: token, client: &http.Client{Transport: t, Timeout: time.Minute}}
}

// do sends one request; a non-2xx answer is an error with Vault's message.
func (a *api) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.addr+"/v1/"+path, rd)
	if err != nil {
		return err
	}
	if a.token != "" {
		req.Header.Set("X-Vault-Token", a.token)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s /v1/%s: %s: %s", method, path, resp.Status, bytes.TrimSpace(msg))
	}
	if out == nil {
		_, err = io.Copy(io.Discard, resp.Body) // drain, so the connection is reused
		return err
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// login logs in with AppRole from the credential files, like user-secrets.
func (a *api) login(ctx context.Context, roleIDFile, secretIDFile string) error {
	rid, err1 := os.ReadFile(roleIDFile)
	sid, err2 := os.ReadFile(secretIDFile)
	if err1 != nil || err2 != nil {
		return fmt.Errorf("read approle credentials: %v %v", err1, err2)
	}
	var out struct {
		Auth struct {
			ClientToken string `json:"client_token"`
		} `json:"auth"`
	}
	body := map[string]string{"role_id": strings.TrimSpace(string(rid)), "secret_id": strings.TrimSpace(string(sid))}
	if err := a.do(ctx, "POST", "auth/approle/login", body, &out); err != nil {
		return err
	}
	a.token = out.Auth.ClientToken
	return nil
}

// readKV reads one user's KV v2 entry.
func (a *api) readKV(ctx context.Context, user string) (map[string]string, error) {
	var out struct {
		Data struct {
			Data map[string]string `json:"data"`
		} `json:"data"`
	}
	err := a.do(ctx, "GET", kvMount+"/data/"+kvPrefix+user, nil, &out)
	return out.Data.Data, err
}

func (a *api) putKV(ctx context.Context, user string, data map[string]string) error {
	return a.do(ctx, "POST", kvMount+"/data/"+kvPrefix+user, map[string]any{"data": data}, nil)
}

// parallel runs fn(i) for i in [0,n) on workers goroutines and returns the
// first error; the rest still run, so counts stay comparable.
func parallel(n, workers int, fn func(i int) error) error {
	next := make(chan int)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for range min(workers, n) {
		wg.Go(func() {
			for i := range next {
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return first
}
