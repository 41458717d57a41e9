package perms

import (
	"os"
	"path/filepath"
	"testing"
)

// TestOwns checks that pruning only ever claims the very file it placed:
// anything a user made or changed at a name is theirs to keep.
func TestOwns(t *testing.T) {
	o := targetUser(t)
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, d *Dir, base string, rec FileRecord)
		ask    string // the name Owns is asked about
		want   bool
	}{
		{name: "the placed file", ask: "key", want: true},
		{name: "a missing name", ask: "gone"},
		{name: "the placed file, removed", ask: "key", change: func(t *testing.T, d *Dir, _ string, _ FileRecord) {
			if err := os.Remove(d.Path("key")); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "a user's file put in its place", ask: "key", change: func(t *testing.T, d *Dir, _ string, _ FileRecord) {
			writeFile(t, d.Path("mine"), "s3cret", FileMode)
			chown(t, d.Path("mine"), o.UID, o.GID)
			if err := os.Rename(d.Path("mine"), d.Path("key")); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "a user's file at another name", ask: "notes", change: func(t *testing.T, d *Dir, _ string, _ FileRecord) {
			writeFile(t, d.Path("notes"), "s3cret", FileMode)
		}},
		{name: "chmodded by the user", ask: "key", change: func(t *testing.T, d *Dir, base string, rec FileRecord) {
			waitClockPast(t, base, rec.CtimeNs)
			chmod(t, d.Path("key"), 0o600)
		}},
		{name: "hard-linked by the user", ask: "key", change: func(t *testing.T, d *Dir, _ string, _ FileRecord) {
			if err := os.Link(d.Path("key"), d.Path("keep")); err != nil {
				t.Fatal(err)
			}
		}},
		// Followed, the link would look like the placed file itself.
		{name: "a symlink to the placed file", ask: "link", change: func(t *testing.T, d *Dir, _ string, _ FileRecord) {
			if err := os.Symlink("key", d.Path("link")); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, base := newTree(t)
			d := newDir(t, tr, o)
			_, rec, err := d.Place("key", []byte("s3cret"))
			if err != nil {
				t.Fatal(err)
			}
			if tc.change != nil {
				tc.change(t, d, base, rec)
			}
			got, err := d.Owns(tc.ask, rec)
			if err != nil || got != tc.want {
				t.Errorf("Owns(%q) = %v, %v; want %v, nil", tc.ask, got, err, tc.want)
			}
		})
	}
}

func TestDirRemove(t *testing.T) {
	o := targetUser(t)
	tr, _ := newTree(t)
	d := newDir(t, tr, o)
	for _, name := range []string{"key", "other"} {
		if _, _, err := d.Place(name, []byte("s3cret")); err != nil {
			t.Fatal(err)
		}
	}
	other := stateOf(t, d.Path("other"))

	if err := d.Remove("key"); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	assertMissing(t, d.Path("key"))
	assertState(t, d.Path("other"), other)
	// Gone already (the user removed it, or a run died after removing it):
	// pruning it is done, not failed.
	if err := d.Remove("key"); err != nil {
		t.Errorf("Remove of a missing file: %v", err)
	}
}

// A user dropped from the spec is only pruned: looking at their directory
// must not create, fix or clean it.
func TestExistingDir(t *testing.T) {
	t.Run("missing", func(t *testing.T) {
		tr, base := newTree(t)
		d, err := tr.ExistingDir("gone")
		if err != nil {
			t.Fatalf("ExistingDir: %v", err)
		}
		defer d.Close()
		path := filepath.Join(base, "users", "gone")
		if d.Path("key") != filepath.Join(path, "key") {
			t.Errorf("Path(key) = %q, want %q", d.Path("key"), filepath.Join(path, "key"))
		}
		if ok, err := d.Owns("key", FileRecord{}); ok || err != nil {
			t.Errorf("Owns in a missing directory = %v, %v; want false, nil", ok, err)
		}
		assertMissing(t, path)
	})

	t.Run("present", func(t *testing.T) {
		o := targetUser(t)
		tr, _ := newTree(t)
		w := newDir(t, tr, o)
		_, rec, err := w.Place("key", []byte("s3cret"))
		if err != nil {
			t.Fatal(err)
		}
		dirPath := w.Path("")
		temp := w.Path(TempPrefix + "left")
		writeFile(t, temp, "half", 0o600)
		chmod(t, dirPath, 0o750)
		w.Close()
		dirBefore, tempBefore := stateOf(t, dirPath), stateOf(t, temp)

		d, err := tr.ExistingDir(o.Name)
		if err != nil {
			t.Fatalf("ExistingDir: %v", err)
		}
		defer d.Close()
		if ok, err := d.Owns("key", rec); !ok || err != nil {
			t.Errorf("Owns of the placed file = %v, %v; want true", ok, err)
		}
		assertState(t, dirPath, dirBefore)
		assertState(t, temp, tempBefore)
		if err := d.Remove("key"); err != nil {
			t.Errorf("Remove: %v", err)
		}
		assertMissing(t, d.Path("key"))
	})

	t.Run("symlink", func(t *testing.T) {
		tr, base := newTree(t)
		target := filepath.Join(base, "elsewhere")
		if err := os.Mkdir(target, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, filepath.Join(base, "users", "gone")); err != nil {
			t.Fatal(err)
		}
		if d, err := tr.ExistingDir("gone"); err == nil {
			d.Close()
			t.Error("ExistingDir opened a symlink")
		}
	})
}

func TestRemoveIfEmpty(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, users, base string) (keep []string)
		want  bool
	}{
		{name: "empty directory", want: true, setup: func(t *testing.T, users, _ string) []string {
			mkdir(t, filepath.Join(users, "gone"))
			return nil
		}},
		{name: "directory with a file", setup: func(t *testing.T, users, _ string) []string {
			mkdir(t, filepath.Join(users, "gone"))
			writeFile(t, filepath.Join(users, "gone", "notes"), "mine", 0o600)
			return []string{filepath.Join(users, "gone"), filepath.Join(users, "gone", "notes")}
		}},
		{name: "directory with a subdirectory", setup: func(t *testing.T, users, _ string) []string {
			mkdir(t, filepath.Join(users, "gone"))
			mkdir(t, filepath.Join(users, "gone", "sub"))
			return []string{filepath.Join(users, "gone"), filepath.Join(users, "gone", "sub")}
		}},
		{name: "missing", setup: func(t *testing.T, _, _ string) []string { return nil }},
		// Removing the link would be harmless, removing its target not: an
		// empty directory the link points at is someone else's.
		{name: "symlink to an empty directory", setup: func(t *testing.T, users, base string) []string {
			target := filepath.Join(base, "elsewhere")
			mkdir(t, target)
			if err := os.Symlink(target, filepath.Join(users, "gone")); err != nil {
				t.Fatal(err)
			}
			return []string{target, filepath.Join(users, "gone")}
		}},
		// Someone else's directory, reached through the link, is not the
		// gone user's to lose.
		{name: "symlink to another empty directory in the root", setup: func(t *testing.T, users, _ string) []string {
			mkdir(t, filepath.Join(users, "other"))
			if err := os.Symlink("other", filepath.Join(users, "gone")); err != nil {
				t.Fatal(err)
			}
			return []string{filepath.Join(users, "other"), filepath.Join(users, "gone")}
		}},
		{name: "regular file", setup: func(t *testing.T, users, _ string) []string {
			writeFile(t, filepath.Join(users, "gone"), "", 0o600)
			return []string{filepath.Join(users, "gone")}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, base := newTree(t)
			users := filepath.Join(base, "users")
			keep := tc.setup(t, users, base)
			before := map[string]state{}
			for _, p := range keep {
				before[p] = stateOf(t, p)
			}
			got, err := tr.RemoveIfEmpty("gone")
			if err != nil || got != tc.want {
				t.Errorf("RemoveIfEmpty = %v, %v; want %v, nil", got, err, tc.want)
			}
			if tc.want {
				assertMissing(t, filepath.Join(users, "gone"))
			}
			for p, s := range before {
				assertState(t, p, s)
			}
		})
	}

	t.Run("no root", func(t *testing.T) {
		tr, err := OpenTree(filepath.Join(t.TempDir(), "missing"), false)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := tr.RemoveIfEmpty("gone"); got || err != nil {
			t.Errorf("RemoveIfEmpty = %v, %v; want false, nil", got, err)
		}
	})
}

// TestUserDirCleansTemps checks that a write run removes what a crashed run
// left (a temporary file there may hold a secret nobody will ever clean up)
// and that nothing but those names is touched.
func TestUserDirCleansTemps(t *testing.T) {
	o := targetUser(t)
	for _, write := range []bool{true, false} {
		t.Run(map[bool]string{true: "write", false: "dry run"}[write], func(t *testing.T) {
			tr, base := newTree(t)
			d := newDir(t, tr, o)
			if _, _, err := d.Place("key", []byte("s3cret")); err != nil {
				t.Fatal(err)
			}
			d.Close()
			target := filepath.Join(base, "target")
			writeFile(t, target, "not theirs", 0o644)

			temps := []string{TempPrefix + "0123456789abcdef", TempPrefix, TempPrefix + "link"}
			for _, name := range temps[:2] {
				writeFile(t, d.Path(name), "half a secret", 0o400)
			}
			if err := os.Symlink(target, d.Path(temps[2])); err != nil {
				t.Fatal(err)
			}
			kept := []string{"key", "notes", ".user-secrets-tmp", "x" + TempPrefix + "y", ".USER-SECRETS-TMP-x"}
			for _, name := range kept[1:] {
				writeFile(t, d.Path(name), "mine", 0o600)
			}
			before := map[string]state{target: stateOf(t, target)}
			for _, name := range kept {
				before[d.Path(name)] = stateOf(t, d.Path(name))
			}
			if !write {
				for _, name := range temps {
					before[d.Path(name)] = stateOf(t, d.Path(name))
				}
			}

			d2, err := tr.UserDir(o, write)
			if err != nil {
				t.Fatalf("UserDir: %v", err)
			}
			d2.Close()
			if write {
				for _, name := range temps {
					assertMissing(t, d.Path(name))
				}
			}
			for p, s := range before {
				assertState(t, p, s)
			}
		})
	}
}

func mkdir(t testing.TB, path string) {
	t.Helper()
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
}
