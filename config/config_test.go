package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// exampleSpec is the spec from the README, verbatim.
const exampleSpec = `[vault]
address = "https://vault.example.com:8200"
ca_cert = "/etc/ssl/vault-ca.pem"
tls_server_name = ""
namespace = ""
timeout = "30s"

[auth]
method = "approle"
mount = "approle"
role_id_file = "/var/lib/vault/host/role-id"
secret_id_file = "/var/lib/vault/host/secret-id"

[kv]
mount = "secret"
version = 2
path = "excalibur/users/{user}"

[output]
root = "/var/lib/vault/users"

[users.johndoe]
files = ["api_key", "db_password", "kube.config"]
`

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		text string
		want Spec
	}{
		{
			name: "README example",
			text: exampleSpec,
			want: Spec{
				Vault: Vault{
					Address:     "https://vault.example.com:8200",
					CACert:      "/etc/ssl/vault-ca.pem",
					Timeout:     Duration{30 * time.Second},
					Concurrency: 8,
				},
				Auth: Auth{
					Method:       "approle",
					Mount:        "approle",
					RoleIDFile:   "/var/lib/vault/host/role-id",
					SecretIDFile: "/var/lib/vault/host/secret-id",
				},
				KV:     KV{Mount: "secret", Version: 2, Path: "excalibur/users/{user}"},
				Output: Output{Root: "/var/lib/vault/users"},
				State:  State{File: "/var/lib/user-secrets/state.json", LockFile: "/run/user-secrets.lock"},
				Users:  map[string]User{"johndoe": {Files: plainFiles("api_key", "db_password", "kube.config")}},
			},
		},
		{
			// A host migrated from the old NixOS module names only what is
			// host-specific; everything else must match the old layout.
			name: "minimal spec gets the old module's defaults",
			text: `[vault]
address = "http://127.0.0.1:8200"

[auth]
role_id_file = "/run/role-id"
secret_id_file = "/run/secret-id"

[users.johndoe]
files = ["api_key"]
`,
			want: Spec{
				Vault:  Vault{Address: "http://127.0.0.1:8200", Timeout: Duration{30 * time.Second}, Concurrency: 8},
				Auth:   Auth{Method: "approle", Mount: "approle", RoleIDFile: "/run/role-id", SecretIDFile: "/run/secret-id"},
				KV:     KV{Mount: "secret", Version: 2, Path: "excalibur/users/{user}"},
				Output: Output{Root: "/var/lib/vault/users"},
				State:  State{File: "/var/lib/user-secrets/state.json", LockFile: "/run/user-secrets.lock"},
				Users:  map[string]User{"johndoe": {Files: plainFiles("api_key")}},
			},
		},
		{
			// The README example mostly repeats the defaults, so only values
			// that differ from them prove each field is actually decoded.
			name: "every field differs from its default",
			text: `[vault]
address = "https://10.0.0.5:8200/"
ca_cert = "/etc/vault/ca.pem"
tls_server_name = "vault.internal"
namespace = "team-a"
timeout = "2m30s"
concurrency = 3

[auth]
method = "approle"
mount = "hosts/approle"
role_id_file = "/etc/vault/role"
secret_id_file = "/etc/vault/secret"
allow_insecure_permissions = true

[kv]
mount = "kv/team"
version = 1
path = "people/{user}/secrets"

[output]
root = "/srv/user-secrets"

[state]
file = "/srv/state/user-secrets.json"
lock_file = "/run/lock/user-secrets.lock"

[users.alice]
files = ["ssh key", ".netrc"]
path = "legacy/alice"

[users."bob@corp"]
files = []
`,
			want: Spec{
				Vault: Vault{
					Address:       "https://10.0.0.5:8200/",
					CACert:        "/etc/vault/ca.pem",
					TLSServerName: "vault.internal",
					Namespace:     "team-a",
					Timeout:       Duration{150 * time.Second},
					Concurrency:   3,
				},
				Auth: Auth{Method: "approle", Mount: "hosts/approle", RoleIDFile: "/etc/vault/role", SecretIDFile: "/etc/vault/secret",
					AllowInsecurePermissions: true},
				KV:     KV{Mount: "kv/team", Version: 1, Path: "people/{user}/secrets"},
				Output: Output{Root: "/srv/user-secrets"},
				State:  State{File: "/srv/state/user-secrets.json", LockFile: "/run/lock/user-secrets.lock"},
				Users: map[string]User{
					"alice":    {Files: plainFiles("ssh key", ".netrc"), Path: "legacy/alice"},
					"bob@corp": {Files: plainFiles()},
				},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse("/etc/user-secrets/config.toml", []byte(tt.text))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			tt.want.File = "/etc/user-secrets/config.toml"
			if !reflect.DeepEqual(*got, tt.want) {
				t.Errorf("Parse mismatch\n got: %+v\nwant: %+v", *got, tt.want)
			}
		})
	}
}

func TestParseRejectsUnknownKeys(t *testing.T) {
	tests := []struct {
		name, table, body, key string
	}{
		{"misspelt vault key", "vault", "address = \"https://v:8200\"\nadress = \"https://v:8200\"", "vault.adress"},
		{"misspelt user key", "users", `jo = { flies = ["a"] }`, "users.jo.flies"},
		{"misspelt auth key", "auth", "role_id_file = \"/r\"\nsecret_id_file = \"/s\"\nsecretid_file = \"/s\"", "auth.secretid_file"},
		{"unknown kv key", "kv", `paths = "x/{user}"`, "kv.paths"},
		{"unknown table", "logging", `level = "debug"`, "logging.level"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps := parseProblems(t, "spec.toml", specWith(tt.table, tt.body))
			want := `unknown key "` + tt.key + `"`
			for _, p := range ps {
				if p.Msg == want {
					return
				}
			}
			t.Errorf("no problem says %s; got:%s", want, messages(ps))
		})
	}
}

func TestParseSyntaxErrorLine(t *testing.T) {
	tests := []struct {
		name string
		text string
		at   string // the text on the line the problem must point at
	}{
		{"unclosed table header", specWith("kv", "") + "[output\nroot = \"/x\"\n", "[output"},
		{"missing value", specWith("output", "root =\nx = 1"), "root ="},
		{"bare word value", specWith("kv", "mount = secret"), "mount = secret"},
		{"table defined twice", specWith("kv", "") + "\n[vault] # again\n", "# again"},
		{"unterminated string", specWith("output", "root = \"/x\nx = 1"), "root ="},
		{"array cut off by end of file", specWith("output", "root = [\"/x\","), "root ="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps := parseProblems(t, "spec.toml", tt.text)
			if len(ps) != 1 {
				t.Fatalf("got %d problems, want 1 (nothing is validated after a syntax error):%s", len(ps), messages(ps))
			}
			want := lineOf(t, tt.text, tt.at)
			p := ps[0]
			if p.Line != want || p.File != "spec.toml" || p.Msg == "" {
				t.Errorf("problem = %+v, want File spec.toml, Line %d and a message", p, want)
			}
			if prefix := "spec.toml:" + strconv.Itoa(want) + ": "; !strings.HasPrefix(p.Error(), prefix) {
				t.Errorf("Error() = %q, want prefix %q", p.Error(), prefix)
			}
		})
	}
}

func TestParseTypeErrors(t *testing.T) {
	tests := []struct {
		name, table, body string
		key               string // the key the problem must name
		mention           string // what else the message must say
	}{
		{"kv.version as string", "kv", `version = "2"`, "kv.version", "string"},
		{"timeout not a duration", "vault", "address = \"https://v:8200\"\ntimeout = \"soon\"", "vault.timeout", `"soon"`},
		{"timeout without unit", "vault", "address = \"https://v:8200\"\ntimeout = 30", "vault.timeout", `"30"`},
		{"concurrency as string", "vault", "address = \"https://v:8200\"\nconcurrency = \"8\"", "vault.concurrency", "string"},
		{"files as string", "users", `jo = { files = "api_key" }`, "users.jo.files", "string"},
		{"file name as number", "users", `jo = { files = ["a", 1] }`, "users.jo.files", "int"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := specWith(tt.table, tt.body)
			ps := parseProblems(t, "spec.toml", text)
			if len(ps) != 1 {
				t.Fatalf("got %d problems, want 1:%s", len(ps), messages(ps))
			}
			p := ps[0]
			if !strings.Contains(p.Msg, tt.key) || !strings.Contains(p.Msg, tt.mention) {
				t.Errorf("problem %q does not name %s and %s", p.Msg, tt.key, tt.mention)
			}
			// The admin is sent to the offending line, as for syntax errors.
			leaf := tt.key[strings.LastIndex(tt.key, ".")+1:]
			if want := lineOf(t, text, leaf+" ="); p.Line != want {
				t.Errorf("problem %+v: Line = %d, want %d", p, p.Line, want)
			}
		})
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	// Four unrelated mistakes, two of them in users whose map order varies
	// from run to run, so an unsorted walk shows up as a changed order.
	text := specWith("users", `carol = { files = ["ok"] }
jo = { flies = ["a"] }
bob = { files = ["a/b"] }
dave = { files = ["ok"] }
alice = { files = [""] }`) + `
[kv]
version = 3
`
	want := []string{
		`^unknown key "users\.jo\.flies"$`,
		`^kv\.version: .*3`,
		`^users\.alice\.files: key name is empty$`,
		`^users\.bob\.files: .*"a/b"`,
	}
	for i := range 20 {
		ps := parseProblems(t, "spec.toml", text)
		if len(ps) != len(want) {
			t.Fatalf("run %d: got %d problems, want %d:%s", i, len(ps), len(want), messages(ps))
		}
		for j, re := range want {
			if !regexp.MustCompile(re).MatchString(ps[j].Msg) || ps[j].File != "spec.toml" {
				t.Fatalf("run %d: problem %d = %+v, want File spec.toml and Msg matching %s; all:%s", i, j, ps[j], re, messages(ps))
			}
		}
	}
}

func TestProblemsError(t *testing.T) {
	ps := Problems{
		{File: "a.toml", Line: 3, Msg: "bad"},
		{File: "a.toml", Msg: "worse"},
	}
	if got, want := ps.Error(), "a.toml:3: bad\na.toml: worse"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestEntryPath(t *testing.T) {
	spec := mustParse(t, specWith("users", `alice = { files = ["k"] }
bob = { files = ["k"], path = "legacy/{user}-bob" }
carol = { files = ["k"], path = "shared/carol" }`)+`
[kv]
path = "team/{user}/creds/{user}"
`)
	tests := []struct{ user, want string }{
		{"alice", "team/alice/creds/alice"},
		{"bob", "legacy/bob-bob"},
		{"carol", "shared/carol"},
	}
	for _, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			if got := spec.EntryPath(tt.user); got != tt.want {
				t.Errorf("EntryPath(%q) = %q, want %q", tt.user, got, tt.want)
			}
		})
	}
}

func TestCount(t *testing.T) {
	tests := []struct {
		name        string
		users       string
		nUser, nKey int
	}{
		{"no users", "", 0, 0},
		{"one user", `jo = { files = ["a", "b", "c"] }`, 1, 3},
		{"user without keys counts as a user", `jo = { files = ["a", "b", "c"] }
ann = { files = [] }
bob = { files = ["a"] }`, 3, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			users, keys := mustParse(t, specWith("users", tt.users)).Count()
			if users != tt.nUser || keys != tt.nKey {
				t.Errorf("Count() = %d users, %d keys; want %d, %d", users, keys, tt.nUser, tt.nKey)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(good, []byte(exampleSpec), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(bad, []byte(specWith("kv", "version = 3")), 0o600); err != nil {
		t.Fatal(err)
	}

	t.Run("valid file", func(t *testing.T) {
		spec, err := Load(good)
		if err != nil {
			t.Fatal(err)
		}
		// Messages name the file the admin passed, not a normalized path.
		if spec.File != good {
			t.Errorf("File = %q, want %q", spec.File, good)
		}
	})
	t.Run("problems name the file", func(t *testing.T) {
		_, err := Load(bad)
		var ps Problems
		if !errors.As(err, &ps) || len(ps) != 1 || ps[0].File != bad {
			t.Errorf("Load(%q) = %v, want one problem in that file", bad, err)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		missing := filepath.Join(dir, "nope.toml")
		_, err := Load(missing)
		if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) {
			t.Errorf("Load(%q) = %v, want a not-exist error naming the file", missing, err)
		}
	})
}
