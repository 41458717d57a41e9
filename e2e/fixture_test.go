package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"text/template"

	"github.com/excalibur/user-secrets/e2e/harness"
)

// Shared by every test: one user-secrets build and one plain-HTTP dev Vault.
// Tests keep apart by using their own KV paths, roles and output roots.
var (
	usBin  string
	shared *harness.Vault
)

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "user-secrets-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if usBin, err = harness.BuildUserSecrets(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if shared, err = harness.StartVault(harness.Options{}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer shared.Stop()
	if err := shared.MountKV("kv1", 1); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// fixture is one test's corner of the shared Vault: a KV prefix, an AppRole
// allowed to read under it, a spec file and an output root.
type fixture struct {
	t         *testing.T
	vault     *harness.Vault
	dir       string
	Root      string // output root
	Spec      string // spec file
	Prefix    string // KV path prefix, unique to the test
	StateFile string
	Role      *harness.Role
	secrets   []string // values that must never be printed
}

func newFixture(t *testing.T, v *harness.Vault) *fixture {
	t.Helper()
	dir := t.TempDir()
	// t.TempDir is 0700 and root-owned: users could not reach their files.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, vault: v, dir: dir, Root: filepath.Join(dir, "out", "users"),
		Spec: filepath.Join(dir, "config.toml"), Prefix: "t" + randomHex(6),
		StateFile: filepath.Join(dir, "state", "state.json")}
	var err error
	f.Role, err = v.CreateRole("role-"+f.Prefix, dir,
		"secret/data/"+f.Prefix+"/*", "kv1/"+f.Prefix+"/*", "secret/data/excalibur/users/*")
	if err != nil {
		t.Fatal(err)
	}
	f.secrets = append(f.secrets, f.Role.RoleID, f.Role.SecretID, v.RootToken)
	return f
}

// put writes a user's entry and remembers its values as secrets.
func (f *fixture) put(mount string, version int, path string, data map[string]string) {
	f.t.Helper()
	for _, v := range data {
		f.secrets = append(f.secrets, v)
	}
	if err := f.vault.PutKV(mount, version, path, data); err != nil {
		f.t.Fatal(err)
	}
}

// secretValue is a recognizable value, so a leak is easy to spot.
func (f *fixture) secretValue(what string) string {
	return "SECRET-" + what + "-" + randomHex(8)
}

// specData fills specTemplate; zero values leave a setting to its default.
type specData struct {
	Addr, CACert, KVMount, KVPath string
	Timeout                       string // vault.timeout; default 20s
	KVVersion                     int
	Role                          *harness.Role
	Root, StateFile, LockFile     string
	Users                         map[string][]string
	Paths                         map[string]string // per-user KV path overrides
	RawFiles                      map[string]string // per-user files = <TOML>, instead of Users' list
	TokenFile                     string            // use auth.method = "token" with this file
}

var specTemplate = template.Must(template.New("spec").Funcs(template.FuncMap{"q": func(s string) string {
	return fmt.Sprintf("%q", s)
}}).Parse(`[vault]
address = {{q .Addr}}
timeout = {{q .Timeout}}
{{if .CACert}}ca_cert = {{q .CACert}}
{{end}}
[auth]
{{if .TokenFile}}method = "token"
token_file = {{q .TokenFile}}
{{else}}role_id_file = {{q .Role.RoleIDFile}}
secret_id_file = {{q .Role.SecretIDFile}}
{{end}}{{if .KVMount}}
[kv]
mount = {{q .KVMount}}
version = {{.KVVersion}}
path = {{q .KVPath}}
{{end}}
[output]
root = {{q .Root}}

[state]
file = {{q .StateFile}}
lock_file = {{q .LockFile}}
{{range $u, $keys := .Users}}
[users.{{q $u}}]
{{with index $.RawFiles $u}}files = {{.}}{{else}}files = [{{range $i, $k := $keys}}{{if $i}}, {{end}}{{q $k}}{{end}}]{{end}}
{{with index $.Paths $u}}path = {{q .}}
{{end}}{{end}}`))

func (f *fixture) writeSpec(d specData) {
	f.t.Helper()
	if d.Addr == "" {
		d.Addr = f.vault.Addr
	}
	if d.Role == nil {
		d.Role = f.Role
	}
	if d.Root == "" {
		d.Root = f.Root
	}
	if d.Timeout == "" {
		d.Timeout = "20s"
	}
	d.StateFile = f.StateFile
	d.LockFile = filepath.Join(f.dir, "lock")
	var b bytes.Buffer
	if err := specTemplate.Execute(&b, d); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(f.Spec, b.Bytes(), 0o600); err != nil {
		f.t.Fatal(err)
	}
}

type result struct {
	code           int
	stdout, stderr string
}

// run runs user-secrets with the fixture's spec and fails the test if any
// remembered secret shows up in its output.
func (f *fixture) run(args ...string) result {
	f.t.Helper()
	cmd := exec.Command(usBin, append([]string{"--config", f.Spec}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		f.t.Fatal(err)
	}
	f.assertNoLeak(args, "stdout", r.stdout)
	f.assertNoLeak(args, "stderr", r.stderr)
	if state, err := os.ReadFile(f.StateFile); err == nil {
		f.assertNoLeak(args, "the state file", string(state))
	}
	return r
}

// vaultToken matches Vault's service, batch and recovery tokens, so a run's
// own token, which the test never sees, is caught too.
var vaultToken = regexp.MustCompile(`hv[sbr]\.[A-Za-z0-9_-]{20,}`)

func (f *fixture) assertNoLeak(args []string, where, text string) {
	f.t.Helper()
	for _, s := range f.secrets {
		if strings.Contains(text, s) {
			f.t.Fatalf("%s of %v contains a secret value or credential", where, args)
		}
	}
	if vaultToken.MatchString(text) {
		f.t.Fatalf("%s of %v contains a vault token", where, args)
	}
}

// expect fails unless r has the exit code and contains every line.
func (r result) expect(t *testing.T, code int, lines ...string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
	for _, l := range lines {
		if !strings.Contains(r.stdout+r.stderr, l) {
			t.Errorf("output lacks %q\nstdout:\n%s\nstderr:\n%s", l, r.stdout, r.stderr)
		}
	}
}

// systemUsers creates n throwaway system users, removed when the test ends.
// Ownership is the point of the tool, so these tests need root.
func systemUsers(t *testing.T, n int) []*user.User {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates system users and chowns files to them")
	}
	users := make([]*user.User, n)
	for i := range users {
		name := "us-e2e-" + randomHex(4)
		out, err := exec.Command("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name).CombinedOutput()
		if err != nil {
			t.Fatalf("useradd %s: %v\n%s", name, err, out)
		}
		t.Cleanup(func() { exec.Command("userdel", name).Run() })
		if users[i], err = user.Lookup(name); err != nil {
			t.Fatal(err)
		}
	}
	return users
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func mustAtoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		panic(err)
	}
	return n
}

// kv2 is the usual spec of a test: users' entries at secret/<prefix>/<user>.
func (f *fixture) kv2(users map[string][]string) specData {
	return specData{KVMount: "secret", KVVersion: 2, KVPath: f.Prefix + "/{user}", Users: users}
}
