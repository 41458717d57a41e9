package config

import (
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func TestParseKeyNames(t *testing.T) {
	long := strings.Repeat("k", 256)
	tests := []struct {
		name  string
		files []string
		ok    bool
		// mention is what the problem must quote to point at the key;
		// empty means the quoted key itself.
		mention string
	}{
		{name: "empty", files: []string{""}, mention: "empty"},
		{name: "dot", files: []string{"."}},
		{name: "dot dot", files: []string{".."}},
		{name: "slash", files: []string{"a/b"}},
		{name: "absolute", files: []string{"/abs"}},
		{name: "NUL", files: []string{"a\x00b"}},
		{name: "256 bytes", files: []string{long}, mention: strconv.Quote(long[:20])},
		{name: "256 bytes of two-byte runes", files: []string{strings.Repeat("ж", 128)}, mention: "256 bytes"},
		{name: "newline", files: []string{"a\nb"}},
		{name: "tab", files: []string{"a\tb"}},
		{name: "DEL", files: []string{"a\x7fb"}},
		{name: "temp prefix", files: []string{".user-secrets-tmp-x"}},
		{name: "listed twice", files: []string{"api_key", "db", "api_key"}, mention: `"api_key" is listed twice`},

		{name: "dotted", files: []string{"kube.config"}, ok: true},
		{name: "space", files: []string{"api key"}, ok: true},
		{name: "UTF-8", files: []string{"ключ"}, ok: true},
		{name: "hidden", files: []string{".hidden"}, ok: true},
		{name: "dot dot inside", files: []string{"a..b"}, ok: true},
		{name: "255 bytes", files: []string{long[:255]}, ok: true},
		{name: "255 bytes with two-byte runes", files: []string{strings.Repeat("ж", 127) + "k"}, ok: true},
		{name: "temp prefix not at start", files: []string{"x.user-secrets-tmp-"}, ok: true},
		{name: "same key for two names differing in case", files: []string{"Key", "key"}, ok: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			quoted := make([]string, len(tt.files))
			for i, f := range tt.files {
				quoted[i] = tomlString(f)
			}
			text := specWith("users", "johndoe = { files = ["+strings.Join(quoted, ", ")+"] }")
			if tt.ok {
				spec := mustParse(t, text)
				if got := spec.Users["johndoe"].Files; !reflect.DeepEqual(got, plainFiles(tt.files...)) {
					t.Errorf("files = %q, want %q", got, tt.files)
				}
				return
			}
			ps := parseProblems(t, "spec.toml", text)
			mention := tt.mention
			if mention == "" {
				mention = strconv.Quote(tt.files[0])
			}
			if len(ps) != 1 || !strings.HasPrefix(ps[0].Msg, "users.johndoe.files: ") || !strings.Contains(ps[0].Msg, mention) {
				t.Errorf("want one problem naming users.johndoe.files and %s; got:%s", mention, messages(ps))
			}
		})
	}
}

func TestParseUserNames(t *testing.T) {
	tests := []struct {
		user    string
		ok      bool
		mention string // what the problem must say; empty means the quoted name
	}{
		{user: "johndoe", ok: true},
		{user: "j.doe", ok: true},
		{user: "jdoe@corp", ok: true},
		{user: "host$", ok: true},
		{user: "svc-web_1", ok: true},

		{user: "", mention: "empty"},
		{user: "-x"},
		{user: ".x"},
		{user: "..", mention: `".."`},
		{user: "1234"},
		{user: "a/b"},
		{user: "a b"},
		{user: "a$b"},
		{user: "jo\n"},
		// The name is also the directory's, so NAME_MAX bounds it.
		{user: strings.Repeat("u", 255), ok: true},
		{user: strings.Repeat("u", 256), mention: "longer than 255 bytes"},
	}
	for _, tt := range tests {
		name := strconv.Quote(tt.user)
		if len(tt.user) > 40 {
			name = fmt.Sprintf("%.12q...(%d bytes)", tt.user, len(tt.user))
		}
		t.Run(name, func(t *testing.T) {
			text := specWith("users", tomlString(tt.user)+` = { files = ["api_key"] }`)
			if tt.ok {
				spec := mustParse(t, text)
				if _, ok := spec.Users[tt.user]; !ok || len(spec.Users) != 1 {
					t.Errorf("users = %v, want only %q", spec.Users, tt.user)
				}
				if err := ValidateUser(tt.user); err != nil {
					t.Errorf("ValidateUser(%q) = %v, but the spec accepted it", tt.user, err)
				}
				return
			}
			ps := parseProblems(t, "spec.toml", text)
			mention := tt.mention
			if mention == "" {
				mention = strconv.Quote(tt.user)
			}
			if len(ps) != 1 || !strings.HasPrefix(ps[0].Msg, "users: ") || !strings.Contains(ps[0].Msg, mention) {
				t.Errorf("want one problem about users naming %s; got:%s", mention, messages(ps))
			}
			// The same verdict must come from the exported check that the
			// CLI and the fuzz target rely on.
			if ValidateUser(tt.user) == nil {
				t.Errorf("ValidateUser(%q) = nil, but the spec rejected it", tt.user)
			}
		})
	}
}

// TestParseFieldRules covers the rules on single values; an empty want
// means the value is accepted.
func TestParseFieldRules(t *testing.T) {
	tests := []struct {
		name, table, body string
		want              string // regexp the only problem must match
	}{
		{"kv path with user", "kv", `path = "people/{user}/secrets"`, ""},
		{"kv path is just the user", "kv", `path = "{user}"`, ""},
		{"kv path without user", "kv", `path = "excalibur/users"`, `^kv\.path: .*must contain "\{user\}"`},
		{"kv path empty", "kv", `path = ""`, `^kv\.path: is required`},
		{"kv path with dot dot", "kv", `path = "a/../{user}"`, `^kv\.path: "a/\.\./\{user\}"`},
		{"kv path ending in dot dot", "kv", `path = "{user}/.."`, `^kv\.path: "\{user\}/\.\." is not a clean path`},
		{"kv path with dot", "kv", `path = "./{user}"`, `^kv\.path: .*not a clean path`},
		{"kv path with leading slash", "kv", `path = "/a/{user}"`, `^kv\.path: .*start or end with "/"`},
		{"kv path with trailing slash", "kv", `path = "a/{user}/"`, `^kv\.path: .*start or end with "/"`},
		{"kv path with empty segment", "kv", `path = "a//{user}"`, `^kv\.path: "a//\{user\}" is not a clean path`},
		{"user path without placeholder", "users", `jo = { files = ["k"], path = "shared/jo" }`, ""},
		{"user path with dot dot", "users", `jo = { files = ["k"], path = "x/../y" }`, `^users\.jo\.path: `},
		{"user path with leading slash", "users", `jo = { files = ["k"], path = "/x" }`, `^users\.jo\.path: `},

		{"kv version 1", "kv", "version = 1", ""},
		{"kv version 3", "kv", "version = 3", `^kv\.version: must be 1 or 2, got 3$`},
		{"kv version 0", "kv", "version = 0", `^kv\.version: must be 1 or 2, got 0$`},
		{"kv mount nested", "kv", `mount = "team/kv"`, ""},
		{"kv mount empty", "kv", `mount = ""`, `^kv\.mount: is required`},
		{"kv mount with trailing slash", "kv", `mount = "secret/"`, `^kv\.mount: `},

		{"output root absolute", "output", `root = "/srv/secrets"`, ""},
		{"output root relative", "output", `root = "var/lib/vault/users"`, `^output\.root: "var/lib/vault/users" is not an absolute path`},
		{"output root dot relative", "output", `root = "./users"`, `^output\.root: .*not an absolute path`},
		{"output root slash", "output", `root = "/"`, `^output\.root: must not be "/"`},
		{"output root slash slash", "output", `root = "//"`, `^output\.root: must not be "/"`},
		{"output root slash dot", "output", `root = "/."`, `^output\.root: must not be "/"`},
		{"output root empty", "output", `root = ""`, `^output\.root: is required`},

		{"address http loopback", "vault", `address = "http://127.0.0.1:8200"`, ""},
		{"address ftp", "vault", `address = "ftp://x"`, `^vault\.address: "ftp://x" is not an http:// or https:// URL`},
		{"address empty", "vault", `address = ""`, `^vault\.address: is required`},
		{"address without scheme", "vault", `address = "vault.example.com:8200"`, `^vault\.address: .*not an http:// or https:// URL`},
		{"address without host", "vault", `address = "https://"`, `^vault\.address: .*not an http:// or https:// URL`},
		{"address with credentials", "vault", `address = "http://user:pw@host"`, `^vault\.address: must not contain credentials$`},
		{"address with user only", "vault", `address = "https://user@host"`, `^vault\.address: must not contain credentials$`},

		{"timeout zero", "vault", "address = \"https://v:8200\"\ntimeout = \"0s\"", `^vault\.timeout: must be positive`},
		{"timeout negative", "vault", "address = \"https://v:8200\"\ntimeout = \"-1s\"", `^vault\.timeout: must be positive`},
		{"concurrency 1", "vault", "address = \"https://v:8200\"\nconcurrency = 1", ""},
		{"concurrency 256", "vault", "address = \"https://v:8200\"\nconcurrency = 256", ""},
		{"concurrency 0", "vault", "address = \"https://v:8200\"\nconcurrency = 0", `^vault\.concurrency: must be between 1 and 256, got 0$`},
		{"concurrency 257", "vault", "address = \"https://v:8200\"\nconcurrency = 257", `^vault\.concurrency: must be between 1 and 256, got 257$`},

		{"auth method token", "auth", "method = \"token\"\ntoken_file = \"/run/agent/token\"", ""},
		{"auth method token from env", "auth", `method = "token"`, ""},
		{"auth token file relative", "auth", "method = \"token\"\ntoken_file = \"token\"", `^auth\.token_file: "token" is not an absolute path`},
		{"auth method ldap", "auth", "method = \"ldap\"\nrole_id_file = \"/r\"\nsecret_id_file = \"/s\"", `^auth\.method: unsupported method "ldap"`},
		{"client cert without key", "vault", "address = \"https://v:8200\"\nclient_cert = \"/c.pem\"", `^vault\.client_cert and vault\.client_key go together`},
		{"client cert and key", "vault", "address = \"https://v:8200\"\nclient_cert = \"/c.pem\"\nclient_key = \"/k.pem\"", ""},
		{"ca path relative", "vault", "address = \"https://v:8200\"\nca_path = \"certs\"", `^vault\.ca_path: "certs" is not an absolute path`},
		{"auth mount empty", "auth", "mount = \"\"\nrole_id_file = \"/r\"\nsecret_id_file = \"/s\"", `^auth\.mount: is required`},
		{"auth mount with leading slash", "auth", "mount = \"/approle\"\nrole_id_file = \"/r\"\nsecret_id_file = \"/s\"", `^auth\.mount: `},
		{"role id file relative", "auth", "role_id_file = \"role-id\"\nsecret_id_file = \"/s\"", `^auth\.role_id_file: "role-id" is not an absolute path`},
		{"secret id file missing", "auth", `role_id_file = "/r"`, `^auth\.secret_id_file: is required`},

		{"state paths absolute", "state", "file = \"/s/state.json\"\nlock_file = \"/run/l\"", ""},
		{"state file relative", "state", `file = "state.json"`, `^state\.file: "state.json" is not an absolute path`},
		{"lock file empty", "state", `lock_file = ""`, `^state\.lock_file: is required`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := specWith(tt.table, tt.body)
			if tt.want == "" {
				mustParse(t, text)
				return
			}
			ps := parseProblems(t, "spec.toml", text)
			if len(ps) != 1 || !regexp.MustCompile(tt.want).MatchString(ps[0].Msg) {
				t.Errorf("want one problem matching %s; got:%s", tt.want, messages(ps))
			}
		})
	}
}

// TestParseAddressNeverEchoesPassword guards the journal: problems are
// logged, and a password in the spec's address must not end up there.
func TestParseAddressNeverEchoesPassword(t *testing.T) {
	for _, addr := range []string{
		"http://user:hunter2@host",
		"ftp://user:hunter2@host",
		"https://user:hunter2@",
		"http://user:hunter2@host:bad-port",
	} {
		t.Run(addr, func(t *testing.T) {
			ps := parseProblems(t, "spec.toml", specWith("vault", "address = "+tomlString(addr)))
			if strings.Contains(ps.Error(), "hunter2") {
				t.Errorf("problem echoes the password:%s", messages(ps))
			}
		})
	}
}
