package e2e

import (
	"encoding/json"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/excalibur/user-secrets/e2e/harness"
)

// TestSyncDefaultLayout guards the migration promise: a spec naming only
// users and credentials reads secret/excalibur/users/<user> from KV v2, as the
// original module did, including key names with periods and spaces.
func TestSyncDefaultLayout(t *testing.T) {
	users := systemUsers(t, 3)
	f := newFixture(t, shared)
	keys := []string{"api_key", "db_password", "kube.config", "my key"}
	want := map[string]map[string]string{}
	spec := specData{Users: map[string][]string{}}
	for _, u := range users {
		data := map[string]string{}
		for _, k := range keys {
			data[k] = f.secretValue(u.Username + "-" + k)
		}
		f.put("secret", 2, "excalibur/users/"+u.Username, data)
		want[u.Username] = data
		spec.Users[u.Username] = keys
	}
	f.writeSpec(spec)

	r := f.run("sync")
	r.expect(t, 0, "summary: 12 keys: 12 written")
	for _, u := range users {
		for _, k := range keys {
			r.expect(t, 0, u.Username+"/"+k+": written")
			assertSecretFile(t, filepath.Join(f.Root, u.Username, k), want[u.Username][k], u)
		}
		assertMode(t, filepath.Join(f.Root, u.Username), 0o700|os.ModeDir, u)
	}
	rootUser, _ := user.LookupId("0")
	assertMode(t, f.Root, 0o755|os.ModeDir, rootUser)

	// A second run changes nothing: no new inode, no new mtime.
	before := statAll(t, f.Root)
	time.Sleep(10 * time.Millisecond)
	f.run("sync").expect(t, 0, "summary: 12 keys: 12 unchanged")
	if after := statAll(t, f.Root); !equalStats(before, after) {
		t.Errorf("second sync touched files:\nbefore %v\nafter  %v", before, after)
	}
}

// TestSyncKV1 guards KV v1 mounts and a custom path layout.
func TestSyncKV1(t *testing.T) {
	users := systemUsers(t, 1)
	f := newFixture(t, shared)
	name := users[0].Username
	value := f.secretValue("v1")
	f.put("kv1", 1, f.Prefix+"/"+name+"/creds", map[string]string{"token.txt": value})
	f.writeSpec(specData{KVMount: "kv1", KVVersion: 1, KVPath: f.Prefix + "/{user}/creds",
		Users: map[string][]string{name: {"token.txt"}}})

	f.run("sync").expect(t, 0, name+"/token.txt: written")
	assertSecretFile(t, filepath.Join(f.Root, name, "token.txt"), value, users[0])
}

// TestSyncSelectedUser guards --user: other users are neither read nor written.
func TestSyncSelectedUser(t *testing.T) {
	users := systemUsers(t, 2)
	f := newFixture(t, shared)
	a, b := users[0].Username, users[1].Username
	f.put("secret", 2, f.Prefix+"/"+a, map[string]string{"k": f.secretValue("a")})
	f.put("secret", 2, f.Prefix+"/"+b, map[string]string{"k": f.secretValue("b")})
	f.writeSpec(f.kv2(map[string][]string{a: {"k"}, b: {"k"}}))

	r := f.run("sync", "--user", a)
	r.expect(t, 0, a+"/k: written", "summary: 1 keys: 1 written")
	if _, err := os.Lstat(filepath.Join(f.Root, b)); !os.IsNotExist(err) {
		t.Errorf("user %s was not selected but their directory exists (err=%v)", b, err)
	}
}

// TestSyncDryRun guards --dry-run: Vault is read and compared, nothing is
// created or changed, and the report says what a real run would do.
func TestSyncDryRun(t *testing.T) {
	users := systemUsers(t, 1)
	f := newFixture(t, shared)
	name := users[0].Username
	path := f.Prefix + "/" + name
	f.put("secret", 2, path, map[string]string{"k": f.secretValue("1")})
	f.writeSpec(f.kv2(map[string][]string{name: {"k"}}))

	f.run("sync", "--dry-run").expect(t, 0, name+"/k: would write")
	if _, err := os.Lstat(f.Root); !os.IsNotExist(err) {
		t.Fatalf("dry run created the output root (err=%v)", err)
	}
	f.run("sync").expect(t, 0, name+"/k: written")
	f.run("sync", "--dry-run").expect(t, 0, name+"/k: unchanged")

	old := readFile(t, filepath.Join(f.Root, name, "k"))
	f.put("secret", 2, path, map[string]string{"k": f.secretValue("2")})
	f.run("sync", "--dry-run").expect(t, 0, name+"/k: would write")
	if got := readFile(t, filepath.Join(f.Root, name, "k")); got != old {
		t.Error("dry run changed a file")
	}
}

// TestSyncJSONReport guards the machine-readable report.
func TestSyncJSONReport(t *testing.T) {
	users := systemUsers(t, 1)
	f := newFixture(t, shared)
	name := users[0].Username
	f.put("secret", 2, f.Prefix+"/"+name, map[string]string{"a": f.secretValue("a")})
	f.writeSpec(f.kv2(map[string][]string{name: {"a", "b"}}))

	r := f.run("sync", "--format", "json")
	r.expect(t, 1)
	var doc struct {
		Version int
		Keys    []struct{ User, Key, Path, Status, Error string }
		Summary map[string]int
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, r.stdout)
	}
	if doc.Version != 1 || len(doc.Keys) != 2 || doc.Summary["written"] != 1 || doc.Summary["failed"] != 1 {
		t.Fatalf("unexpected report: %+v", doc)
	}
	if k := doc.Keys[1]; k.Key != "b" || k.Status != "failed" || k.Error == "" || k.Path != filepath.Join(f.Root, name, "b") {
		t.Errorf("failed key reported as %+v", k)
	}
}

// TestSyncTLS guards ca_cert: a Vault behind a private CA is trusted only
// when the spec names that CA.
func TestSyncTLS(t *testing.T) {
	users := systemUsers(t, 1)
	v := startVault(t, true)
	f := newFixture(t, v)
	name := users[0].Username
	f.put("secret", 2, f.Prefix+"/"+name, map[string]string{"k": f.secretValue("tls")})
	spec := f.kv2(map[string][]string{name: {"k"}})
	f.writeSpec(spec)
	f.run("sync").expect(t, 3, "certificate")

	spec.CACert = v.CACert
	f.writeSpec(spec)
	f.run("sync").expect(t, 0, name+"/k: written")
}

func assertSecretFile(t *testing.T, path, content string, u *user.User) {
	t.Helper()
	if got := readFile(t, path); got != content {
		t.Errorf("%s has the wrong content (%d bytes, want %d)", path, len(got), len(content))
	}
	assertMode(t, path, 0o400, u)
}

func assertMode(t *testing.T, path string, mode os.FileMode, u *user.User) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if fi.Mode() != mode || int(st.Uid) != uid || int(st.Gid) != gid {
		t.Errorf("%s: mode %v owner %d:%d, want %v %d:%d", path, fi.Mode(), st.Uid, st.Gid, mode, uid, gid)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

type fileStat struct {
	ino   uint64
	mtime int64
}

// statAll records inode and mtime of everything under root.
func statAll(t *testing.T, root string) map[string]fileStat {
	t.Helper()
	m := map[string]fileStat{}
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		m[p] = fileStat{st.Ino, fi.ModTime().UnixNano()}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func equalStats(a, b map[string]fileStat) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// startVault starts a dedicated server for tests that need their own.
func startVault(t *testing.T, tls bool) *harness.Vault {
	t.Helper()
	v, err := harness.StartVault(harness.Options{TLS: tls})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Stop)
	return v
}
