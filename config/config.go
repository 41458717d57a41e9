// Package config parses and validates the user-secrets spec: which Vault to
// ask, how to log in, where each user's KV entry lives and which keys to
// place for whom. It touches no network and writes nothing.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// DefaultPath is where the NixOS module installs the spec.
const DefaultPath = "/etc/user-secrets/config.toml"

// UserPlaceholder is replaced by the user name in KV paths.
const UserPlaceholder = "{user}"

// Spec is a parsed and validated spec. Field names follow the TOML keys.
type Spec struct {
	Vault  Vault           `toml:"vault"`
	Auth   Auth            `toml:"auth"`
	KV     KV              `toml:"kv"`
	Output Output          `toml:"output"`
	State  State           `toml:"state"`
	Users  map[string]User `toml:"users"`

	// File is the path the spec was read from, for messages.
	File string `toml:"-"`
}

type Vault struct {
	Address       string   `toml:"address"`
	CACert        string   `toml:"ca_cert"`
	CAPath        string   `toml:"ca_path"`
	ClientCert    string   `toml:"client_cert"`
	ClientKey     string   `toml:"client_key"`
	TLSServerName string   `toml:"tls_server_name"`
	TLSSkipVerify bool     `toml:"tls_skip_verify"`
	Namespace     string   `toml:"namespace"`
	Timeout       Duration `toml:"timeout"`
	// Concurrency bounds how many users are read and written at once.
	Concurrency int `toml:"concurrency"`
}

type Auth struct {
	Method       string `toml:"method"` // "approle" or "token"
	Mount        string `toml:"mount"`
	RoleIDFile   string `toml:"role_id_file"`
	SecretIDFile string `toml:"secret_id_file"`
	// TokenFile holds a token for method "token", e.g. a Vault Agent sink;
	// empty means $VAULT_TOKEN.
	TokenFile string `toml:"token_file"`
	// AllowInsecurePermissions accepts a secret-id file that others can read
	// or that root does not own.
	AllowInsecurePermissions bool `toml:"allow_insecure_permissions"`
}

type KV struct {
	Mount   string `toml:"mount"`
	Version int    `toml:"version"`
	// Path is relative to Mount and contains UserPlaceholder.
	Path string `toml:"path"`
}

type Output struct {
	Root string `toml:"root"`
}

// State is where runs coordinate and remember what they wrote.
type State struct {
	// File lists the files this tool wrote, so removed keys can be pruned.
	File string `toml:"file"`
	// LockFile is flocked by every run, so runs never overlap.
	LockFile string `toml:"lock_file"`
}

type User struct {
	Files []File `toml:"files"`
	// Path overrides KV.Path for this user only.
	Path string `toml:"path"`
}

// Duration is a time.Duration written as "30s" in TOML.
type Duration struct{ time.Duration }

func (d *Duration) UnmarshalText(text []byte) error {
	v, err := time.ParseDuration(string(text))
	if err != nil {
		return fmt.Errorf("invalid duration %q (want e.g. \"30s\" or \"2m\")", text)
	}
	d.Duration = v
	return nil
}

func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// Defaults reproduce the original NixOS module's layout, so a spec that names
// only users and credentials reads the same entries and writes the same files.
func defaults() Spec {
	return Spec{
		Vault:  Vault{Timeout: Duration{30 * time.Second}, Concurrency: 8},
		Auth:   Auth{Method: "approle", Mount: "approle"},
		KV:     KV{Mount: "secret", Version: 2, Path: "excalibur/users/" + UserPlaceholder},
		Output: Output{Root: "/var/lib/vault/users"},
		State:  State{File: "/var/lib/user-secrets/state.json", LockFile: "/run/user-secrets.lock"},
	}
}

// Load reads and validates the spec at path, filling what it leaves empty
// from Vault's usual environment variables (see applyEnv).
func Load(path string) (*Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read spec: %w", err)
	}
	return ParseEnv(path, data, os.Getenv)
}

// Parse decodes and validates a spec without looking at the environment.
// name is used in messages only. A non-nil error is a Problems listing
// everything found wrong, so an admin fixes the spec in one pass.
func Parse(name string, data []byte) (*Spec, error) {
	return ParseEnv(name, data, func(string) string { return "" })
}

// ParseEnv is Parse with getenv filling in what the spec leaves empty.
func ParseEnv(name string, data []byte, getenv func(string) string) (*Spec, error) {
	spec := defaults()
	spec.File = name
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&spec)
	if err != nil {
		return nil, Problems{decodeProblem(name, data, err)}
	}
	spec.applyEnv(getenv)
	var ps Problems
	for _, k := range md.Undecoded() {
		ps = append(ps, Problem{File: name, Msg: fmt.Sprintf("unknown key %q", k.String())})
	}
	ps = append(ps, spec.validate()...)
	if len(ps) > 0 {
		return nil, ps
	}
	return &spec, nil
}

func decodeProblem(name string, data []byte, err error) Problem {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		msg := pe.Message
		if pe.LastKey != "" {
			msg = fmt.Sprintf("%s: %s", pe.LastKey, msg)
		}
		line := pe.Position.Line
		// The lexer has already counted a newline when it reports an error
		// found at one ("[output" + newline), so its line is one too far.
		if s := pe.Position.Start; s >= 0 && s < len(data) && data[s] == '\n' {
			line = bytes.Count(data[:s], []byte("\n")) + 1
		}
		return Problem{File: name, Line: line, Msg: msg}
	}
	// Type mismatches are plain errors with the position only in the text.
	if m := typeErrorRE.FindStringSubmatch(err.Error()); m != nil {
		if key, qerr := strconv.Unquote(m[2]); qerr == nil {
			line, _ := strconv.Atoi(m[1])
			return Problem{File: name, Line: line, Msg: fmt.Sprintf("%s: %s", key, m[3])}
		}
	}
	return Problem{File: name, Msg: strings.TrimPrefix(err.Error(), "toml: ")}
}

// typeErrorRE matches the decoder's non-ParseError messages, such as
// `toml: line 7 (last key "kv.version"): incompatible types: ...`.
var typeErrorRE = regexp.MustCompile(`(?s)^toml: (?:line (\d+) )?\(last key ("(?:[^"\\]|\\.)*")\): (.*)$`)

// EntryPath is the KV path of user's entry, relative to the KV mount.
func (s *Spec) EntryPath(user string) string {
	p := s.KV.Path
	if u := s.Users[user]; u.Path != "" {
		p = u.Path
	}
	return strings.ReplaceAll(p, UserPlaceholder, user)
}

// Problem is one thing wrong with a spec.
type Problem struct {
	File string
	Line int // 0 when the decoder gives no position
	Msg  string
}

func (p Problem) Error() string {
	if p.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Msg)
	}
	return fmt.Sprintf("%s: %s", p.File, p.Msg)
}

// Problems is every Problem found in one spec.
type Problems []Problem

func (ps Problems) Error() string {
	msgs := make([]string, len(ps))
	for i, p := range ps {
		msgs[i] = p.Error()
	}
	return strings.Join(msgs, "\n")
}

// Count returns how many users and keys the spec lists.
func (s *Spec) Count() (users, keys int) {
	for _, u := range s.Users {
		keys += len(u.Files)
	}
	return len(s.Users), keys
}
