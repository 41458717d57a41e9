package perms

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// TestPlaceHostileEntries plants at the key's name what a user who wants to
// read or clobber someone else's file would plant. Place must replace the
// entry itself and leave whatever it leads to exactly as it was. As root the
// victims belong to root, so a chown through a link would show too.
func TestPlaceHostileEntries(t *testing.T) {
	o := targetUser(t)
	content := []byte("the user's secret")
	type env struct {
		t    *testing.T
		d    *Dir
		o    Owner
		base string // outside the output root, same filesystem
		key  string // full path of the key
	}
	victim := func(e env, name, data string, mode fs.FileMode) string {
		p := filepath.Join(e.base, name)
		writeFile(e.t, p, data, mode)
		return p
	}
	symlink := func(e env, target string) {
		if err := os.Symlink(target, e.key); err != nil {
			e.t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name  string
		value []byte // when not content
		// plant returns paths that must be as they were afterwards, and
		// paths that must not exist.
		plant func(e env) (keep, absent []string)
	}{
		{
			name: "symlink to a file outside the directory",
			plant: func(e env) ([]string, []string) {
				v := victim(e, "victim", "victim's data\n", 0o644)
				symlink(e, v)
				return []string{v}, nil
			},
		},
		{
			name: "relative symlink climbing out of the root",
			plant: func(e env) ([]string, []string) {
				v := victim(e, "victim", "victim's data\n", 0o644)
				symlink(e, "../../victim")
				return []string{v}, nil
			},
		},
		{
			name: "symlink to a directory outside",
			plant: func(e env) ([]string, []string) {
				dir := filepath.Join(e.base, "outdir")
				if err := os.Mkdir(dir, 0o755); err != nil {
					e.t.Fatal(err)
				}
				symlink(e, dir)
				return []string{dir}, nil
			},
		},
		{
			// Following it with O_CREAT would make a file wherever it points.
			name: "dangling symlink",
			plant: func(e env) ([]string, []string) {
				p := filepath.Join(e.base, "created")
				symlink(e, p)
				return nil, []string{p}
			},
		},
		{
			name: "symlink to another file in the directory",
			plant: func(e env) ([]string, []string) {
				if _, _, err := e.d.Place("other", []byte("other secret")); err != nil {
					e.t.Fatal(err)
				}
				symlink(e, "other")
				return []string{e.d.Path("other")}, nil
			},
		},
		{
			name: "symlink to a file holding the expected content",
			plant: func(e env) ([]string, []string) {
				if _, _, err := e.d.Place("twin", content); err != nil {
					e.t.Fatal(err)
				}
				symlink(e, "twin")
				return []string{e.d.Path("twin")}, nil
			},
		},
		{
			name: "hard link to a file elsewhere",
			plant: func(e env) ([]string, []string) {
				v := victim(e, "victim", "victim's data\n", 0o644)
				if err := os.Link(v, e.key); err != nil {
					e.t.Fatal(err)
				}
				return []string{v}, nil
			},
		},
		{
			// Everything but the link count says "current"; taking it as
			// such would leave the user's key readable at the other name.
			name: "hard link to a file with the expected content, mode and owner",
			plant: func(e env) ([]string, []string) {
				v := victim(e, "twin", string(content), FileMode)
				chown(e.t, v, e.o.UID, e.o.GID)
				if err := os.Link(v, e.key); err != nil {
					e.t.Fatal(err)
				}
				return []string{v}, nil
			},
		},
		{
			name: "FIFO",
			plant: func(e env) ([]string, []string) {
				mkfifo(e.t, e.key, 0o644)
				return nil, nil
			},
		},
		{
			name: "FIFO with the file's mode and owner",
			plant: func(e env) ([]string, []string) {
				mkfifo(e.t, e.key, FileMode)
				chown(e.t, e.key, e.o.UID, e.o.GID)
				return nil, nil
			},
		},
		{
			name:  "FIFO with the file's mode and owner, empty value",
			value: []byte{},
			plant: func(e env) ([]string, []string) {
				mkfifo(e.t, e.key, FileMode)
				chown(e.t, e.key, e.o.UID, e.o.GID)
				return nil, nil
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, base := newTree(t)
			d := newDir(t, tr, o)
			e := env{t: t, d: d, o: o, base: base, key: d.Path("key")}
			keep, absent := tc.plant(e)
			before := make([]state, len(keep))
			for i, p := range keep {
				before[i] = stateOf(t, p)
				// Dropping the planted link brings a victim back to one.
				before[i].nlink = 1
				if before[i].mode.IsDir() {
					before[i].nlink = 2
				}
			}

			value := content
			if tc.value != nil {
				value = tc.value
			}
			if ok, err := currentWithin(t, d, "key", value); ok || err != nil {
				t.Errorf("Current = %v, %v; want false: only a regular file of its own is current", ok, err)
			}
			res, err := placeWithin(t, d, "key", value)
			if err != nil || res != Written {
				t.Fatalf("Place = %v, %v; want Written", res, err)
			}
			assertPlaced(t, e.key, value, o)
			for i, p := range keep {
				assertState(t, p, before[i])
			}
			for _, p := range absent {
				assertMissing(t, p)
			}
			assertNoTemps(t, d.Path(""))
		})
	}
}

func TestPlaceRefusesDirectoryAtKey(t *testing.T) {
	o := targetUser(t)
	for _, tc := range []struct {
		name  string
		fill  []string
		mode  fs.FileMode
		owner bool // chown it to the user, as a user-made one would be
	}{
		{name: "empty directory", mode: 0o755},
		{name: "directory with files", fill: []string{"a", "b"}, mode: 0o700},
		{name: "user's own read-only directory", fill: []string{"a"}, mode: 0o500, owner: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, _ := newTree(t)
			d := newDir(t, tr, o)
			key := d.Path("key")
			if err := os.Mkdir(key, 0o700); err != nil {
				t.Fatal(err)
			}
			for _, name := range tc.fill {
				writeFile(t, filepath.Join(key, name), "inside "+name, 0o600)
			}
			if tc.owner {
				chown(t, key, o.UID, o.GID)
			}
			chmod(t, key, tc.mode)
			// Without root, the temp dir's removal needs to write in it.
			t.Cleanup(func() { os.Chmod(key, 0o700) })
			before := stateOf(t, key)

			res, err := placeWithin(t, d, "key", []byte("s3cret"))
			if err == nil {
				t.Fatalf("Place = %v with a directory at the key's name; want an error", res)
			}
			assertErrSays(t, err, key, "directory")
			assertState(t, key, before)
			for _, name := range tc.fill {
				if b, err := os.ReadFile(filepath.Join(key, name)); err != nil || string(b) != "inside "+name {
					t.Errorf("%s inside the directory: %q, %v", name, b, err)
				}
			}
			assertNoTemps(t, d.Path(""))
		})
	}
}
