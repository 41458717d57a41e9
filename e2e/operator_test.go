package e2e

import (
	"encoding/base64"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestCheckOnline guards `check --online`: per key ok, missing key, missing
// entry or denied, exit 1 when any is not ok, and nothing written.
func TestCheckOnline(t *testing.T) {
	users := systemUsers(t, 3)
	f := newFixture(t, shared)
	a, b, c := users[0].Username, users[1].Username, users[2].Username
	f.put("secret", 2, f.Prefix+"/"+a, map[string]string{"k": f.secretValue("a")})
	f.put("secret", 2, "elsewhere-"+f.Prefix+"/"+c, map[string]string{"k": f.secretValue("c")})
	f.writeSpec(specData{KVMount: "secret", KVVersion: 2, KVPath: f.Prefix + "/{user}",
		Users: map[string][]string{a: {"k", "gone"}, b: {"k"}, c: {"k"}},
		Paths: map[string]string{c: "elsewhere-" + f.Prefix + "/{user}"}})

	f.run("check", "--online").expect(t, 1,
		a+"/gone: missing key: key \"gone\" not found in secret/"+f.Prefix+"/"+a,
		a+"/k: ok",
		b+"/k: missing entry: no entry at secret/"+f.Prefix+"/"+b,
		c+"/k: denied: the role may not read secret/elsewhere-"+f.Prefix+"/"+c,
		"summary: 4 keys: 1 ok, 1 missing entry, 1 missing key, 1 denied")
	f.run("check", "--online", "--user", a, "--format", "json").expect(t, 1, `"status": "missing key"`)
	if _, err := os.Lstat(f.Root); !os.IsNotExist(err) {
		t.Errorf("check --online created the output root (err=%v)", err)
	}
	f.run("check", "--online", "--user", b, "--user", c).expect(t, 1, "2 keys")
}

// TestTokenAuth guards auth.method = "token": a token from a file (as a
// Vault Agent sink writes it) is used for the run and not revoked, since the
// tool does not own it; VAULT_TOKEN works when no file is named.
func TestTokenAuth(t *testing.T) {
	users := systemUsers(t, 1)
	f := newFixture(t, shared)
	name := users[0].Username
	f.put("secret", 2, f.Prefix+"/"+name, map[string]string{"k": f.secretValue("k")})
	var login struct {
		Auth struct {
			ClientToken string `json:"client_token"`
		}
	}
	must(t, shared.API("POST", "auth/approle/login", map[string]string{"role_id": f.Role.RoleID, "secret_id": f.Role.SecretID}, &login))
	token := login.Auth.ClientToken
	f.secrets = append(f.secrets, token)
	tokenFile := filepath.Join(f.dir, "agent-token")
	must(t, os.WriteFile(tokenFile, []byte(token+"\n"), 0o400))
	f.writeSpec(specData{TokenFile: tokenFile, KVMount: "secret", KVVersion: 2, KVPath: f.Prefix + "/{user}",
		Users: map[string][]string{name: {"k"}}})

	f.run("sync").expect(t, 0, name+"/k: written")
	if err := shared.API("POST", "auth/token/lookup", map[string]string{"token": token}, nil); err != nil {
		t.Errorf("the run revoked a token it did not own: %v", err)
	}

	must(t, os.WriteFile(tokenFile, []byte("hvs.not-a-real-token-at-all-000000\n"), 0o400))
	f.run("sync").expect(t, 3, "look up token", "permission denied")

	// With no token file, VAULT_TOKEN is used, as by the vault CLI.
	spec := readFile(t, f.Spec)
	must(t, os.WriteFile(f.Spec, []byte(regexp.MustCompile(`(?m)^token_file = .*$`).ReplaceAllString(spec, "")), 0o600))
	cmd := exec.Command(usBin, "--config", f.Spec, "sync")
	cmd.Env = append(os.Environ(), "VAULT_TOKEN="+token)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), name+"/k: unchanged") {
		t.Errorf("sync with VAULT_TOKEN: %v\n%s", err, out)
	}
	f.assertNoLeak(nil, "output", string(out))
}

// TestFileOptions guards per-file options: another file name, a mode and a
// group the spec names, base64 decoding (a bad value fails only its key),
// and a user directory others can traverse but not list when a file is
// shared with a group.
func TestFileOptions(t *testing.T) {
	users := systemUsers(t, 2)
	f := newFixture(t, shared)
	name := users[0].Username
	group := users[1].Username // useradd made a group of the same name
	binary := []byte{0, 1, 2, 0xff, 'x', '\n'}
	f.put("secret", 2, f.Prefix+"/"+name, map[string]string{
		"kube.config": f.secretValue("kube"),
		"cert.der":    base64.StdEncoding.EncodeToString(binary),
		"broken":      "!!not base64!!",
		"plain":       f.secretValue("plain"),
	})
	f.writeSpec(specData{KVMount: "secret", KVVersion: 2, KVPath: f.Prefix + "/{user}",
		Users: map[string][]string{name: nil}, RawFiles: map[string]string{name: `["plain", { key = "kube.config", name = "kubeconfig", mode = "0440", group = "` + group + `" },
  { key = "cert.der", encoding = "base64" }, { key = "broken", encoding = "base64" }]`}})

	f.run("sync").expect(t, 1, name+"/plain: written", name+"/kube.config: written", name+"/cert.der: written",
		name+`/broken: failed: key "broken" in secret/`+f.Prefix+"/"+name+" is not valid base64")
	dir := filepath.Join(f.Root, name)
	g, err := user.LookupGroup(group)
	must(t, err)
	assertMode(t, filepath.Join(dir, "kubeconfig"), 0o440, &user.User{Uid: users[0].Uid, Gid: g.Gid})
	assertMode(t, dir, 0o711|os.ModeDir, users[0])
	if got := readFile(t, filepath.Join(dir, "cert.der")); got != string(binary) {
		t.Errorf("base64 value not decoded: %q", got)
	}
	if _, err := os.Lstat(filepath.Join(dir, "kube.config")); !os.IsNotExist(err) {
		t.Error("the key's own name was used although the spec renamed its file")
	}
	f.run("sync").expect(t, 1, name+"/kube.config: unchanged", name+"/cert.der: unchanged")
}

// TestStatusAndMetrics guards what monitoring reads: `status` from the
// state file, and the Prometheus textfile written atomically after a sync.
func TestStatusAndMetrics(t *testing.T) {
	users := systemUsers(t, 1)
	f := newFixture(t, shared)
	name := users[0].Username
	f.put("secret", 2, f.Prefix+"/"+name, map[string]string{"k": f.secretValue("k")})
	f.writeSpec(f.kv2(map[string][]string{name: {"k", "absent"}}))
	metrics := filepath.Join(f.dir, "user_secrets.prom")

	f.run("sync", "--metrics-file", metrics).expect(t, 1, name+"/k: written")
	m := readFile(t, metrics)
	for _, want := range []string{"user_secrets_exit_code 1", `user_secrets_keys{status="written"} 1`,
		`user_secrets_keys{status="failed"} 1`, "user_secrets_run_duration_seconds "} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %q:\n%s", want, m)
		}
	}
	if strings.Contains(m, "user_secrets_user_last_success_timestamp_seconds{") {
		t.Errorf("a user with a failed key has a last success:\n%s", m)
	}
	f.run("status").expect(t, 1, name+"/k: written (file ", name+"/absent: failed: key \"absent\" not found")

	f.writeSpec(f.kv2(map[string][]string{name: {"k"}}))
	f.run("sync", "--metrics-file", metrics).expect(t, 0, name+"/k: unchanged")
	if m := readFile(t, metrics); !strings.Contains(m, `user_secrets_user_last_success_timestamp_seconds{user="`+name+`"}`) {
		t.Errorf("no last success after a clean run:\n%s", m)
	}
	f.run("status").expect(t, 0, name+": last run 0s ago, last success 0s ago")
}
