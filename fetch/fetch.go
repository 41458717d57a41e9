// Package fetch talks to Vault: it logs in with AppRole, reads KV entries and
// revokes its token. It never touches the file system beyond what the Vault
// client needs to load a CA certificate, and its errors never carry a secret
// value, token, role-id or secret-id.
package fetch

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/hashicorp/vault-client-go"
	"github.com/hashicorp/vault-client-go/schema"
)

// Server says where Vault is and how to trust it.
type Server struct {
	Address       string
	CACert        string // PEM file; empty means the system roots
	CAPath        string // directory of PEM files
	ClientCert    string // PEM files for TLS client authentication
	ClientKey     string
	TLSServerName string
	SkipVerify    bool
	Namespace     string
	Timeout       time.Duration // per request
	// MaxConns is how many requests may be in flight at once; the client
	// keeps that many idle connections so concurrent reads reuse them.
	MaxConns int
	// Log receives one warning per retried request; nil means slog.Default.
	Log *slog.Logger
}

// AppRole is what an AppRole login needs.
type AppRole struct {
	Mount    string
	RoleID   string
	SecretID string
}

// Session is one logged-in Vault client. Its token is used for every read of
// a run and revoked at the end.
type Session struct {
	client  *vault.Client
	retry   *retrier
	timeout time.Duration // per request, for the requests the client does not time
	owned   bool          // the token came from our login, so revoking it is ours to do
}

// Login logs in once with AppRole. Any error means Vault could not be used at
// all, and the caller should not touch anything on disk.
func Login(ctx context.Context, srv Server, cred AppRole) (*Session, error) {
	client, retry, err := newClient(srv)
	if err != nil {
		return nil, err
	}
	s := &Session{client: client, retry: retry, timeout: srv.Timeout, owned: true}
	resp, err := client.Auth.AppRoleLogin(ctx,
		schema.AppRoleLoginRequest{RoleId: cred.RoleID, SecretId: cred.SecretID},
		vault.WithMountPath(cred.Mount))
	if err != nil {
		return nil, fmt.Errorf("log in with approle at %q: %w", "auth/"+cred.Mount, s.describe(err))
	}
	if resp.Auth == nil || resp.Auth.ClientToken == "" {
		return nil, fmt.Errorf("log in with approle at %q: vault returned no token", "auth/"+cred.Mount)
	}
	if err := client.SetToken(resp.Auth.ClientToken); err != nil {
		return nil, fmt.Errorf("use login token: %w", err)
	}
	return s, nil
}

func newClient(srv Server) (*vault.Client, *retrier, error) {
	cfg := vault.DefaultConfiguration()
	cfg.Address = srv.Address
	cfg.RequestTimeout = srv.Timeout
	cfg.TLS.ServerCertificate.FromFile = srv.CACert
	cfg.TLS.ServerCertificate.FromDirectory = srv.CAPath
	cfg.TLS.ClientCertificate.FromFile = srv.ClientCert
	cfg.TLS.ClientCertificateKey.FromFile = srv.ClientKey
	cfg.TLS.ServerName = srv.TLSServerName
	cfg.TLS.InsecureSkipVerify = srv.SkipVerify
	retry := &retrier{log: srv.Log}
	if retry.log == nil {
		retry.log = slog.Default()
	}
	cfg.RetryConfiguration.RetryWaitMin = backoffMin
	cfg.RetryConfiguration.RetryWaitMax = backoffMax
	cfg.RetryConfiguration.RetryMax = maxRetries
	cfg.RetryConfiguration.CheckRetry = retry.check
	cfg.RetryConfiguration.Backoff = backoff
	cfg.DisableRedirects = true // see retryable
	if t, ok := cfg.HTTPClient.Transport.(*http.Transport); ok && srv.MaxConns > 0 {
		t.MaxIdleConnsPerHost = srv.MaxConns
	}
	client, err := vault.New(vault.WithConfiguration(cfg))
	if err != nil {
		return nil, nil, fmt.Errorf("configure vault client: %w", err)
	}
	if srv.Namespace != "" {
		if err := client.SetNamespace(srv.Namespace); err != nil {
			return nil, nil, fmt.Errorf("set vault namespace: %w", err)
		}
	}
	return client, retry, nil
}

// WithToken uses a token someone else obtained (a Vault Agent sink, or
// $VAULT_TOKEN). It checks the token once, so a bad one fails before any
// read, and never revokes it: the token is not ours.
func WithToken(ctx context.Context, srv Server, token string) (*Session, error) {
	client, retry, err := newClient(srv)
	if err != nil {
		return nil, err
	}
	s := &Session{client: client, retry: retry, timeout: srv.Timeout}
	if err := client.SetToken(token); err != nil {
		return nil, fmt.Errorf("use token: %w", err)
	}
	if _, err := client.Auth.TokenLookUpSelf(ctx); err != nil {
		return nil, fmt.Errorf("look up token: %w", s.describe(err))
	}
	return s, nil
}

// Revoke revokes the session's token so it cannot outlive the run, if the
// session logged in itself.
func (s *Session) Revoke(ctx context.Context) error {
	if !s.owned {
		return nil
	}
	if _, err := s.client.Auth.TokenRevokeSelf(ctx); err != nil {
		return fmt.Errorf("revoke token: %w", s.describe(err))
	}
	s.client.ClearToken()
	return nil
}
