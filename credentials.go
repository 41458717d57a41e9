package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/excalibur/user-secrets/config"
	"github.com/excalibur/user-secrets/fetch"
)

// login gets the run its one Vault session: an AppRole login, or a token
// someone else provides. Every failure here is exit 3: nothing on disk has
// been touched yet.
func login(ctx context.Context, spec *config.Spec) (*fetch.Session, error) {
	srv := fetch.Server{
		Address:       spec.Vault.Address,
		CACert:        spec.Vault.CACert,
		CAPath:        spec.Vault.CAPath,
		ClientCert:    spec.Vault.ClientCert,
		ClientKey:     spec.Vault.ClientKey,
		TLSServerName: spec.Vault.TLSServerName,
		SkipVerify:    spec.Vault.TLSSkipVerify,
		Namespace:     spec.Vault.Namespace,
		Timeout:       spec.Vault.Timeout.Duration,
		MaxConns:      spec.Vault.Concurrency,
	}
	if spec.Auth.Method == "token" {
		return tokenLogin(ctx, spec, srv)
	}
	roleID, err := readCredential("role-id", spec.Auth.RoleIDFile, true)
	if err != nil {
		return nil, vaultError(err, "check auth.role_id_file in the spec")
	}
	secretID, err := readCredential("secret-id", spec.Auth.SecretIDFile, spec.Auth.AllowInsecurePermissions)
	if err != nil {
		return nil, vaultError(err, secretIDHint(err, "auth.secret_id_file", spec.Auth.SecretIDFile))
	}
	sess, err := fetch.Login(ctx, srv, fetch.AppRole{Mount: spec.Auth.Mount, RoleID: roleID, SecretID: secretID})
	if err != nil {
		return nil, vaultError(err, loginHint(err, spec))
	}
	return sess, nil
}

// tokenLogin uses auth.token_file, or $VAULT_TOKEN when the spec names no
// file, as an ad hoc `vault` command would.
func tokenLogin(ctx context.Context, spec *config.Spec, srv fetch.Server) (*fetch.Session, error) {
	token := os.Getenv("VAULT_TOKEN")
	if path := spec.Auth.TokenFile; path != "" {
		var err error
		if token, err = readCredential("token", path, spec.Auth.AllowInsecurePermissions); err != nil {
			return nil, vaultError(err, secretIDHint(err, "auth.token_file", path))
		}
	}
	if token == "" {
		return nil, vaultError(errors.New("no vault token: auth.method is \"token\" but auth.token_file is unset and VAULT_TOKEN is empty"),
			"set auth.token_file to a Vault Agent sink, or export VAULT_TOKEN")
	}
	sess, err := fetch.WithToken(ctx, srv, token)
	if err != nil {
		return nil, vaultError(err, "the token may have expired; check its source")
	}
	return sess, nil
}

func loginHint(err error, spec *config.Spec) string {
	switch {
	case strings.Contains(err.Error(), "certificate"):
		return "set vault.ca_cert to the CA that signed vault's certificate"
	case errors.Is(err, fetch.ErrUnreachable):
		return fmt.Sprintf("is vault running at %q?", spec.Vault.Address)
	}
	return fmt.Sprintf("check that the role-id and secret-id in %q and %q are current", spec.Auth.RoleIDFile, spec.Auth.SecretIDFile)
}

// errInsecure marks a secret-id file that others could read or replace.
var errInsecure = errors.New("insecure permissions")

func secretIDHint(err error, setting, path string) string {
	if errors.Is(err, errInsecure) {
		return fmt.Sprintf("run: chown root: %q && chmod 0400 %q (or set auth.allow_insecure_permissions)", path, path)
	}
	return "check " + setting + " in the spec"
}

// readCredential reads a role-id or secret-id file. Only one trailing newline
// is dropped: anything else is part of the credential. Unless insecureOK, the
// file must belong to the user running us (root) and be unreadable to
// others: a secret-id anyone can read lets anyone read every user's secrets.
func readCredential(what, path string, insecureOK bool) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("read %s file: %w", what, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("read %s file: %w", what, err)
	}
	if !insecureOK {
		if uid := ownerUID(fi); uid != os.Geteuid() {
			return "", fmt.Errorf("%s file %q is owned by uid %d, not %d: %w", what, path, uid, os.Geteuid(), errInsecure)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			return "", fmt.Errorf("%s file %q has mode %04o; group and others must have no access: %w", what, path, fi.Mode().Perm(), errInsecure)
		}
	}
	b, err := io.ReadAll(io.LimitReader(f, 64<<10))
	if err != nil {
		return "", fmt.Errorf("read %s file: %w", what, err)
	}
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return "", fmt.Errorf("%s file %q is empty", what, path)
	}
	return s, nil
}

// revoke ends the run's token. It gets its own short deadline: the run's may
// have expired, and a token left behind would live until its TTL.
func revoke(sess *fetch.Session) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := sess.Revoke(ctx); err != nil {
		slog.Warn("the run's vault token was not revoked and stays valid until its TTL ends", "error", err)
	}
}

func ownerUID(fi os.FileInfo) int { return int(fi.Sys().(*syscall.Stat_t).Uid) }
