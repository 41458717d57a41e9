package e2e

import (
	"os"
	"path/filepath"
	"testing"
)

// TestSyncPartialFailure guards per-key failure: a missing entry and a
// missing key fail only those keys, with a reason, while the rest is written
// and exit code 1 says something failed.
func TestSyncPartialFailure(t *testing.T) {
	users := systemUsers(t, 3)
	f := newFixture(t, shared)
	a, b, c := users[0].Username, users[1].Username, users[2].Username
	f.put("secret", 2, f.Prefix+"/"+a, map[string]string{"present": f.secretValue("a"), "other": f.secretValue("o")})
	f.put("secret", 2, f.Prefix+"/"+c, map[string]string{"present": f.secretValue("c")})
	f.writeSpec(f.kv2(map[string][]string{a: {"present", "absent"}, b: {"present"}, c: {"present"}}))

	f.run("sync").expect(t, 1,
		a+"/absent: failed: key \"absent\" not found in secret/"+f.Prefix+"/"+a+" (fields present: 2)",
		a+"/present: written",
		b+"/present: failed: no entry at secret/"+f.Prefix+"/"+b,
		c+"/present: written",
		"summary: 4 keys: 2 written, 2 failed",
		"user-secrets: error: 2 of 4 keys failed")
	if _, err := os.Lstat(filepath.Join(f.Root, a, "absent")); !os.IsNotExist(err) {
		t.Errorf("a failed key left a file behind (err=%v)", err)
	}
}

// TestSyncLoginFailure guards exit code 3: with a wrong secret-id nothing on
// disk changes, and the message says why without printing the secret-id.
func TestSyncLoginFailure(t *testing.T) {
	users := systemUsers(t, 1)
	f := newFixture(t, shared)
	name := users[0].Username
	f.put("secret", 2, f.Prefix+"/"+name, map[string]string{"k": f.secretValue("1")})
	f.writeSpec(f.kv2(map[string][]string{name: {"k"}}))
	f.run("sync").expect(t, 0, name+"/k: written")
	before := statAll(t, f.Root)
	content := readFile(t, filepath.Join(f.Root, name, "k"))

	f.put("secret", 2, f.Prefix+"/"+name, map[string]string{"k": f.secretValue("2")})
	wrong := "00000000-0000-0000-0000-000000000000"
	f.secrets = append(f.secrets, wrong)
	if err := os.WriteFile(f.Role.SecretIDFile, []byte(wrong+"\n"), 0o400); err != nil {
		t.Fatal(err)
	}
	f.run("sync").expect(t, 3, "user-secrets: error: log in with approle", "invalid", "user-secrets: hint:")
	if !equalStats(before, statAll(t, f.Root)) || readFile(t, filepath.Join(f.Root, name, "k")) != content {
		t.Error("a failed login changed files on disk")
	}

	// Vault down at start is the same class of failure.
	f.writeSpec(specData{Addr: "http://127.0.0.1:1", Timeout: "2s", Users: map[string][]string{name: {"k"}}})
	f.run("sync").expect(t, 3, "cannot connect to vault")
}

// TestSyncUnknownSystemUser guards NSS resolution: a user in the spec but not
// on this host fails alone; others are synced.
func TestSyncUnknownSystemUser(t *testing.T) {
	users := systemUsers(t, 1)
	f := newFixture(t, shared)
	name, ghost := users[0].Username, "us-ghost-"+randomHex(4)
	f.put("secret", 2, f.Prefix+"/"+name, map[string]string{"k": f.secretValue("1")})
	f.put("secret", 2, f.Prefix+"/"+ghost, map[string]string{"k": f.secretValue("g")})
	f.writeSpec(f.kv2(map[string][]string{name: {"k"}, ghost: {"k"}}))

	f.run("sync").expect(t, 1, name+"/k: written",
		ghost+"/k: failed: user \""+ghost+"\" does not exist on this system")
	if _, err := os.Lstat(filepath.Join(f.Root, ghost)); !os.IsNotExist(err) {
		t.Errorf("a directory was made for a user that does not exist (err=%v)", err)
	}
}

// TestSyncDeniedPath guards a policy that denies one user's path: that user
// fails with a hint about the policy, the others are synced.
func TestSyncDeniedPath(t *testing.T) {
	users := systemUsers(t, 2)
	f := newFixture(t, shared)
	a, b := users[0].Username, users[1].Username
	f.put("secret", 2, f.Prefix+"/"+a, map[string]string{"k": f.secretValue("a")})
	// b's entry lives where the role's policy does not reach.
	f.put("secret", 2, "elsewhere-"+f.Prefix+"/"+b, map[string]string{"k": f.secretValue("b")})
	f.writeSpec(specData{KVMount: "secret", KVVersion: 2, KVPath: f.Prefix + "/{user}",
		Users: map[string][]string{a: {"k"}, b: {"k"}},
		Paths: map[string]string{b: "elsewhere-" + f.Prefix + "/{user}"}})

	f.run("sync").expect(t, 1, a+"/k: written",
		b+"/k: failed: permission denied reading secret/elsewhere-"+f.Prefix+"/"+b,
		"secret/data/elsewhere-"+f.Prefix+"/"+b)
}

// TestSyncDeletedVersion guards KV v2 soft delete and destroy: the key fails
// with what happened, and the last good copy on disk stays.
func TestSyncDeletedVersion(t *testing.T) {
	users := systemUsers(t, 1)
	f := newFixture(t, shared)
	name := users[0].Username
	path := f.Prefix + "/" + name
	value := f.secretValue("1")
	f.put("secret", 2, path, map[string]string{"k": value})
	f.writeSpec(f.kv2(map[string][]string{name: {"k"}}))
	f.run("sync").expect(t, 0, name+"/k: written")

	if err := shared.DeleteLatest("secret", path); err != nil {
		t.Fatal(err)
	}
	f.run("sync").expect(t, 1, "latest version 1 of secret/"+path+" was deleted at")
	if got := readFile(t, filepath.Join(f.Root, name, "k")); got != value {
		t.Error("the last good copy was lost after a delete in Vault")
	}
	if err := shared.DestroyVersions("secret", path, 1); err != nil {
		t.Fatal(err)
	}
	f.run("sync").expect(t, 1, "latest version 1 of secret/"+path+" was destroyed")
	if got := readFile(t, filepath.Join(f.Root, name, "k")); got != value {
		t.Error("the last good copy was lost after a destroy in Vault")
	}
}

// TestSyncPlantedSymlink guards the writer against a user who replaces a key
// file with a symlink to a root-owned file: the link is replaced and its
// target keeps its content, owner and mode.
func TestSyncPlantedSymlink(t *testing.T) {
	users := systemUsers(t, 1)
	f := newFixture(t, shared)
	name := users[0].Username
	path := f.Prefix + "/" + name
	f.put("secret", 2, path, map[string]string{"k": f.secretValue("1")})
	f.writeSpec(f.kv2(map[string][]string{name: {"k"}}))
	f.run("sync").expect(t, 0, name+"/k: written")

	victim := filepath.Join(f.dir, "victim")
	if err := os.WriteFile(victim, []byte("root's own data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(f.Root, name, "k")
	if err := os.Remove(key); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, key); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(key, mustAtoi(users[0].Uid), mustAtoi(users[0].Gid)); err != nil {
		t.Fatal(err)
	}
	value := f.secretValue("2")
	f.put("secret", 2, path, map[string]string{"k": value})

	f.run("sync").expect(t, 0, name+"/k: written")
	assertSecretFile(t, key, value, users[0])
	if got := readFile(t, victim); got != "root's own data\n" {
		t.Errorf("the symlink's target was written through: %q", got)
	}
	fi, _ := os.Stat(victim)
	if fi.Mode() != 0o644 {
		t.Errorf("the symlink's target changed mode to %v", fi.Mode())
	}
}
