package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestPruneDroppedKeysAndUsers guards pruning: files of keys and users the
// spec no longer lists are deleted on the next good read, but a file the user
// made at a dropped key's name is kept, and a dry run only says what it would
// remove.
func TestPruneDroppedKeysAndUsers(t *testing.T) {
	users := systemUsers(t, 2)
	f := newFixture(t, shared)
	a, b := users[0].Username, users[1].Username
	for _, u := range []string{a, b} {
		f.put("secret", 2, f.Prefix+"/"+u, map[string]string{
			"keep": f.secretValue(u + "-keep"), "drop": f.secretValue(u + "-drop"), "mine": f.secretValue(u + "-mine")})
	}
	spec := f.kv2(map[string][]string{a: {"keep", "drop", "mine"}, b: {"keep"}})
	f.writeSpec(spec)
	f.run("sync").expect(t, 0, "summary: 4 keys: 4 written")

	// a replaces "mine" with a file of their own: no longer ours to delete.
	mine := filepath.Join(f.Root, a, "mine")
	os.Remove(mine)
	if err := os.WriteFile(mine, []byte("my notes\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	spec.Users = map[string][]string{a: {"keep"}}
	f.writeSpec(spec)
	stateBefore := readFile(t, f.StateFile)

	f.run("sync", "--dry-run").expect(t, 0, a+"/drop: would remove", b+"/keep: would remove")
	if readFile(t, f.StateFile) != stateBefore {
		t.Error("a dry run changed the state file")
	}
	if _, err := os.Lstat(filepath.Join(f.Root, a, "drop")); err != nil {
		t.Errorf("a dry run removed a file: %v", err)
	}

	r := f.run("sync")
	r.expect(t, 0, a+"/drop: removed", a+"/keep: unchanged", b+"/keep: removed",
		"summary: 3 keys: 1 unchanged, 2 removed")
	if strings.Contains(r.stdout, "mine") {
		t.Errorf("the user's own file was reported:\n%s", r.stdout)
	}
	if got := readFile(t, mine); got != "my notes\n" {
		t.Errorf("the user's own file was changed: %q", got)
	}
	for _, gone := range []string{filepath.Join(f.Root, a, "drop"), filepath.Join(f.Root, b)} {
		if _, err := os.Lstat(gone); !os.IsNotExist(err) {
			t.Errorf("%s should be gone (err=%v)", gone, err)
		}
	}
	// Nothing is left to prune: the next run is quiet.
	f.run("sync").expect(t, 0, "summary: 1 keys: 1 unchanged")
}

// TestPruneNeedsAGoodRead guards the last good copy: when a user's entry
// cannot be read, nothing of theirs is pruned, even for keys the spec dropped.
func TestPruneNeedsAGoodRead(t *testing.T) {
	users := systemUsers(t, 1)
	f := newFixture(t, shared)
	name := users[0].Username
	path := f.Prefix + "/" + name
	f.put("secret", 2, path, map[string]string{"a": f.secretValue("a"), "b": f.secretValue("b")})
	spec := f.kv2(map[string][]string{name: {"a", "b"}})
	f.writeSpec(spec)
	f.run("sync").expect(t, 0, "2 written")

	if err := shared.API("DELETE", "secret/metadata/"+path, nil, nil); err != nil {
		t.Fatal(err)
	}
	spec.Users[name] = []string{"a"}
	f.writeSpec(spec)
	r := f.run("sync")
	r.expect(t, 1, name+"/a: failed: no entry at")
	if strings.Contains(r.stdout, "removed") {
		t.Errorf("pruned after a failed read:\n%s", r.stdout)
	}
	if _, err := os.Lstat(filepath.Join(f.Root, name, "b")); err != nil {
		t.Errorf("the dropped key's file went away although the read failed: %v", err)
	}
}

// TestLeftoverTempFilesRemoved guards crash recovery: temporary files a
// killed run left in a user's directory are removed by the next run.
func TestLeftoverTempFilesRemoved(t *testing.T) {
	users := systemUsers(t, 1)
	f := newFixture(t, shared)
	name := users[0].Username
	f.put("secret", 2, f.Prefix+"/"+name, map[string]string{"k": f.secretValue("k")})
	f.writeSpec(f.kv2(map[string][]string{name: {"k"}}))
	f.run("sync").expect(t, 0, "1 written")
	leftover := filepath.Join(f.Root, name, ".user-secrets-tmp-0123456789abcdef")
	if err := os.WriteFile(leftover, []byte("half a sec"), 0o400); err != nil {
		t.Fatal(err)
	}
	r := f.run("sync")
	r.expect(t, 0, "1 unchanged")
	if _, err := os.Lstat(leftover); !os.IsNotExist(err) {
		t.Errorf("leftover temp file still there (err=%v)", err)
	}
	if !strings.Contains(r.stderr, "removed a temporary file left by an interrupted run") {
		t.Errorf("the cleanup was not logged:\n%s", r.stderr)
	}
}

// TestLockExcludesConcurrentRuns guards the single-instance lock: while
// another run holds it, sync waits --lock-timeout, then exits 4 having done
// nothing; once it is free, sync runs.
func TestLockExcludesConcurrentRuns(t *testing.T) {
	users := systemUsers(t, 1)
	f := newFixture(t, shared)
	name := users[0].Username
	f.put("secret", 2, f.Prefix+"/"+name, map[string]string{"k": f.secretValue("k")})
	f.writeSpec(f.kv2(map[string][]string{name: {"k"}}))

	lock, err := os.OpenFile(filepath.Join(f.dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	f.run("sync", "--lock-timeout", "1s").expect(t, 4, "another user-secrets run holds the lock", "user-secrets: hint:")
	if waited := time.Since(start); waited < time.Second {
		t.Errorf("gave up after %s, before --lock-timeout", waited)
	}
	if _, err := os.Lstat(f.Root); !os.IsNotExist(err) {
		t.Errorf("a run without the lock created the output root (err=%v)", err)
	}
	lock.Close()
	f.run("sync", "--lock-timeout", "1s").expect(t, 0, name+"/k: written")
}

// TestTokenRevoked guards token hygiene: a run, dry or not, successful or
// not, leaves no token of its own behind.
func TestTokenRevoked(t *testing.T) {
	users := systemUsers(t, 1)
	f := newFixture(t, shared)
	name := users[0].Username
	f.put("secret", 2, f.Prefix+"/"+name, map[string]string{"k": f.secretValue("k")})
	f.writeSpec(f.kv2(map[string][]string{name: {"k", "missing"}}))
	before := tokenCount(t)
	f.run("sync").expect(t, 1, name+"/k: written")
	f.run("sync", "--dry-run").expect(t, 1, name+"/k: unchanged")
	if after := tokenCount(t); after != before {
		t.Errorf("%d tokens before the runs, %d after: a run left its token", before, after)
	}
}

// tokenCount counts live tokens in the shared Vault. Tests run one at a
// time, so only the runs in between can change it.
func tokenCount(t *testing.T) int {
	t.Helper()
	var out struct{ Data struct{ Keys []string } }
	if err := shared.API("LIST", "auth/token/accessors", nil, &out); err != nil {
		t.Fatal(err)
	}
	return len(out.Data.Keys)
}
