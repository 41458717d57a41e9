package config

import (
	"github.com/excalibur/user-secrets/perms"

	"fmt"
	"net/url"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// validate returns every problem with a decoded spec, in a stable order.
func (s *Spec) validate() Problems {
	var msgs []string
	add := func(format string, args ...any) { msgs = append(msgs, fmt.Sprintf(format, args...)) }

	if err := checkAddress(s.Vault.Address); err != nil {
		add("vault.address: %v", err)
	}
	if s.Vault.Timeout.Duration <= 0 {
		add("vault.timeout: must be positive, got %q", s.Vault.Timeout.String())
	}
	if c := s.Vault.Concurrency; c < 1 || c > 256 {
		add("vault.concurrency: must be between 1 and 256, got %d", c)
	}
	msgs = append(msgs, s.validateTLS()...)
	msgs = append(msgs, s.validateAuth()...)
	if err := checkMount(s.KV.Mount); err != nil {
		add("kv.mount: %v", err)
	}
	if v := s.KV.Version; v != 1 && v != 2 {
		add("kv.version: must be 1 or 2, got %d", v)
	}
	if err := checkKVPath(s.KV.Path, true); err != nil {
		add("kv.path: %v", err)
	}
	if err := checkAbs(s.Output.Root); err != nil {
		add("output.root: %v", err)
	} else if filepath.Clean(s.Output.Root) == "/" {
		add("output.root: must not be \"/\"")
	}
	if err := checkAbs(s.State.File); err != nil {
		add("state.file: %v", err)
	}
	if err := checkAbs(s.State.LockFile); err != nil {
		add("state.lock_file: %v", err)
	}
	msgs = append(msgs, s.validateUsers()...)

	ps := make(Problems, len(msgs))
	for i, m := range msgs {
		ps[i] = Problem{File: s.File, Msg: m}
	}
	return ps
}

func (s *Spec) validateTLS() []string {
	var msgs []string
	for _, f := range []struct{ key, path string }{
		{"vault.ca_cert", s.Vault.CACert}, {"vault.ca_path", s.Vault.CAPath},
		{"vault.client_cert", s.Vault.ClientCert}, {"vault.client_key", s.Vault.ClientKey},
	} {
		if f.path != "" {
			if err := checkAbs(f.path); err != nil {
				msgs = append(msgs, fmt.Sprintf("%s: %v", f.key, err))
			}
		}
	}
	if (s.Vault.ClientCert == "") != (s.Vault.ClientKey == "") {
		msgs = append(msgs, "vault.client_cert and vault.client_key go together: set both or neither")
	}
	return msgs
}

func (s *Spec) validateAuth() []string {
	var msgs []string
	add := func(format string, args ...any) { msgs = append(msgs, fmt.Sprintf(format, args...)) }
	switch s.Auth.Method {
	case "approle":
		if err := checkMount(s.Auth.Mount); err != nil {
			add("auth.mount: %v", err)
		}
		if err := checkAbs(s.Auth.RoleIDFile); err != nil {
			add("auth.role_id_file: %v", err)
		}
		if err := checkAbs(s.Auth.SecretIDFile); err != nil {
			add("auth.secret_id_file: %v", err)
		}
	case "token":
		if s.Auth.TokenFile != "" {
			if err := checkAbs(s.Auth.TokenFile); err != nil {
				add("auth.token_file: %v", err)
			}
		}
	default:
		add("auth.method: unsupported method %q (supported: \"approle\", \"token\")", s.Auth.Method)
	}
	return msgs
}

func (s *Spec) validateUsers() []string {
	names := make([]string, 0, len(s.Users))
	for name := range s.Users {
		names = append(names, name)
	}
	sort.Strings(names)
	var msgs []string
	for _, name := range names {
		u := s.Users[name]
		if err := ValidateUser(name); err != nil {
			msgs = append(msgs, fmt.Sprintf("users: %v", err))
			continue
		}
		if u.Path != "" {
			if err := checkKVPath(u.Path, false); err != nil {
				msgs = append(msgs, fmt.Sprintf("users.%s.path: %v", name, err))
			}
		}
		msgs = append(msgs, checkFiles(name, u.Files)...)
	}
	return msgs
}

// checkFiles reports every problem with one user's files: file names must
// be safe and distinct; the Vault key itself may be any non-empty field name.
func checkFiles(user string, files []File) []string {
	var msgs []string
	where := "users." + user + ".files"
	for i, f := range files {
		for _, p := range f.problems {
			msgs = append(msgs, where+": "+p)
		}
		if len(f.problems) > 0 {
			continue
		}
		switch err := perms.CheckName(f.Name); {
		case f.Key == "":
			msgs = append(msgs, where+": key name is empty")
		case err != nil:
			msgs = append(msgs, where+": "+err.Error())
		case listedBefore(files[:i], f.Name):
			msgs = append(msgs, fmt.Sprintf("%s: file %q is listed twice", where, f.Name))
		}
		for _, p := range f.check() {
			msgs = append(msgs, where+": "+p)
		}
	}
	return msgs
}

// listedBefore reports whether files names name. A user has a handful of
// files, so a scan beats a map, which a 10,000-user spec made 10,000 of.
func listedBefore(files []File, name string) bool {
	for _, f := range files {
		if f.Name == name && len(f.problems) == 0 {
			return true
		}
	}
	return false
}

func checkAddress(addr string) error {
	if addr == "" {
		return fmt.Errorf("is required, e.g. \"https://vault.example.com:8200\"")
	}
	// Credentials are refused before any message quotes the address, so a
	// password written there never reaches the journal.
	u, err := url.Parse(addr)
	switch {
	case err == nil && u.User != nil:
		return fmt.Errorf("must not contain credentials")
	case err != nil && strings.Contains(addr, "@"):
		return fmt.Errorf("is not a valid URL (not quoted: it may contain credentials)")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return fmt.Errorf("%q is not an http:// or https:// URL", addr)
	}
	return nil
}

func checkAbs(p string) error {
	if p == "" {
		return fmt.Errorf("is required")
	}
	if !filepath.IsAbs(p) {
		return fmt.Errorf("%q is not an absolute path", p)
	}
	return nil
}

// checkMount accepts a Vault mount path such as "secret" or "team/kv".
func checkMount(m string) error {
	if m == "" {
		return fmt.Errorf("is required")
	}
	return checkSegments(m)
}

func checkKVPath(p string, needUser bool) error {
	if p == "" {
		return fmt.Errorf("is required")
	}
	if needUser && !strings.Contains(p, UserPlaceholder) {
		return fmt.Errorf("%q must contain %q so each user reads their own entry", p, UserPlaceholder)
	}
	return checkSegments(p)
}

// checkSegments rejects paths that Vault would normalize into something else
// than what the admin wrote: empty, "." and ".." segments.
func checkSegments(p string) error {
	if strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") {
		return fmt.Errorf("%q must not start or end with \"/\"", p)
	}
	if path.Clean(p) != p {
		return fmt.Errorf("%q is not a clean path (empty, \".\" or \"..\" segment)", p)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." {
			return fmt.Errorf("%q contains a \"..\" segment", p)
		}
	}
	return nil
}
