package perms

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestPlaceWritesThenLeavesAlone(t *testing.T) {
	o := targetUser(t)
	for _, tc := range []struct {
		name    string
		content []byte
	}{
		{"short", []byte("s3cret")},
		{"empty", []byte{}},
		{"binary with NUL and newlines", []byte("\x00\xff\n-----BEGIN KEY-----\n\x00")},
		{"just over 4KiB", bytes.Repeat([]byte("k"), 4097)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, _ := newTree(t)
			d := newDir(t, tr, o)
			path := d.Path("key")

			res, _, err := d.Place("key", tc.content)
			if err != nil || res != Written {
				t.Fatalf("first Place = %v, %v; want Written", res, err)
			}
			assertPlaced(t, path, tc.content, o)

			// Rewriting an unchanged file would wake every watcher and
			// reader of it on each run; change time catches even a chmod.
			before := stateOf(t, path)
			_, st := lstat(t, path)
			ctime := st.Ctim
			res, _, err = d.Place("key", tc.content)
			if err != nil || res != Unchanged {
				t.Fatalf("same content again: Place = %v, %v; want Unchanged", res, err)
			}
			assertState(t, path, before)
			if _, st := lstat(t, path); st.Ctim != ctime {
				t.Errorf("change time moved from %v to %v: the file was touched", ctime, st.Ctim)
			}

			next := append(bytes.Clone(tc.content), '2')
			res, _, err = d.Place("key", next)
			if err != nil || res != Written {
				t.Fatalf("new content: Place = %v, %v; want Written", res, err)
			}
			assertPlaced(t, path, next, o)
			// A new inode means the file was swapped in whole, not rewritten
			// in place where a reader could see half of it.
			if _, st := lstat(t, path); st.Ino == before.ino {
				t.Errorf("new content written into the old inode %d", st.Ino)
			}
			if err := d.Sync(); err != nil {
				t.Errorf("Sync: %v", err)
			}
			assertNoTemps(t, d.Path(""))
		})
	}
}

func TestPlaceRewritesWrongMetadata(t *testing.T) {
	o := targetUser(t)
	content := []byte("s3cret value")
	for _, tc := range []struct {
		name  string
		root  bool
		spoil func(t *testing.T, d *Dir, o Owner)
		check func(t *testing.T, d *Dir) // what must survive besides the key
	}{
		{name: "mode 0644", spoil: func(t *testing.T, d *Dir, o Owner) { chmod(t, d.Path("key"), 0o644) }},
		{name: "mode 0600", spoil: func(t *testing.T, d *Dir, o Owner) { chmod(t, d.Path("key"), 0o600) }},
		{name: "setuid bit", spoil: func(t *testing.T, d *Dir, o Owner) { chmod(t, d.Path("key"), FileMode|fs.ModeSetuid) }},
		{name: "owned by root", root: true, spoil: func(t *testing.T, d *Dir, o Owner) { chown(t, d.Path("key"), 0, 0) }},
		{name: "group root", root: true, spoil: func(t *testing.T, d *Dir, o Owner) { chown(t, d.Path("key"), o.UID, 0) }},
		{name: "same size, one byte differs", spoil: func(t *testing.T, d *Dir, o Owner) {
			rewrite(t, d.Path("key"), "s3cret valuE")
		}},
		{name: "one byte longer", spoil: func(t *testing.T, d *Dir, o Owner) {
			rewrite(t, d.Path("key"), "s3cret value\n")
		}},
		{name: "one byte shorter", spoil: func(t *testing.T, d *Dir, o Owner) {
			rewrite(t, d.Path("key"), "s3cret valu")
		}},
		{
			// Right bytes, but a second name shares them: a later write
			// through one would show through the other.
			name: "second hard link in the directory",
			spoil: func(t *testing.T, d *Dir, o Owner) {
				if err := os.Link(d.Path("key"), d.Path("alias")); err != nil {
					t.Fatal(err)
				}
			},
			check: func(t *testing.T, d *Dir) {
				if _, st := lstat(t, d.Path("alias")); st.Nlink != 1 {
					t.Errorf("alias still has %d links", st.Nlink)
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.root {
				needRoot(t)
			}
			tr, _ := newTree(t)
			d := newDir(t, tr, o)
			if _, _, err := d.Place("key", content); err != nil {
				t.Fatal(err)
			}
			tc.spoil(t, d, o)
			_, st := lstat(t, d.Path("key"))
			oldIno := st.Ino

			res, _, err := d.Place("key", content)
			if err != nil || res != Written {
				t.Fatalf("Place = %v, %v; want Written", res, err)
			}
			assertPlaced(t, d.Path("key"), content, o)
			if _, st := lstat(t, d.Path("key")); st.Ino == oldIno {
				t.Error("fixed in place; a new file was expected")
			}
			if tc.check != nil {
				tc.check(t, d)
			}
			assertNoTemps(t, d.Path(""))
		})
	}
}

func TestCurrent(t *testing.T) {
	o := targetUser(t)
	content := []byte("s3cret value")
	for _, tc := range []struct {
		name    string
		content []byte // content when not the default
		plant   func(t *testing.T, d *Dir, o Owner)
		want    bool
	}{
		{name: "missing", want: false},
		{name: "missing, empty value", content: []byte{}, want: false},
		{name: "placed", plant: place("key", content), want: true},
		{name: "placed empty, empty value", content: []byte{}, plant: place("key", nil), want: true},
		{name: "placed empty, value expected", plant: place("key", nil), want: false},
		{name: "other content of the same size", plant: place("key", []byte("s3cret valuE")), want: false},
		{name: "a prefix of the value", plant: place("key", content[:5]), want: false},
		{name: "the value and more", plant: place("key", append(bytes.Clone(content), 'x')), want: false},
		{name: "wrong mode", plant: func(t *testing.T, d *Dir, o Owner) {
			place("key", content)(t, d, o)
			chmod(t, d.Path("key"), 0o440)
		}, want: false},
		{name: "second hard link", plant: func(t *testing.T, d *Dir, o Owner) {
			place("key", content)(t, d, o)
			if err := os.Link(d.Path("key"), d.Path("alias")); err != nil {
				t.Fatal(err)
			}
		}, want: false},
		{
			// Never "unchanged" through a link: the target may be moved
			// anywhere after the check.
			name: "symlink to a file with exactly the value",
			plant: func(t *testing.T, d *Dir, o Owner) {
				place("twin", content)(t, d, o)
				if err := os.Symlink("twin", d.Path("key")); err != nil {
					t.Fatal(err)
				}
			}, want: false,
		},
		{name: "FIFO", plant: func(t *testing.T, d *Dir, o Owner) {
			mkfifo(t, d.Path("key"), FileMode)
			chown(t, d.Path("key"), o.UID, o.GID)
		}, want: false},
		{
			// Mode, owner, link count and size 0 all match, and reading a
			// FIFO with no writer gives no bytes: only its type tells.
			name: "FIFO, empty value", content: []byte{},
			plant: func(t *testing.T, d *Dir, o Owner) {
				mkfifo(t, d.Path("key"), FileMode)
				chown(t, d.Path("key"), o.UID, o.GID)
			}, want: false,
		},
		{name: "directory", plant: func(t *testing.T, d *Dir, o Owner) {
			if err := os.Mkdir(d.Path("key"), 0o700); err != nil {
				t.Fatal(err)
			}
		}, want: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, _ := newTree(t)
			d := newDir(t, tr, o)
			if tc.plant != nil {
				tc.plant(t, d, o)
			}
			want := content
			if tc.content != nil {
				want = tc.content
			}
			ok, err := currentWithin(t, d, "key", want)
			if err != nil || ok != tc.want {
				t.Errorf("Current = %v, %v; want %v, nil", ok, err, tc.want)
			}
		})
	}
}

// TestPlaceFailureKeepsLastGoodCopy makes the write of the new copy fail and
// checks the previous copy is still there, byte for byte, with no temporary
// file left holding half a secret.
//
// Making the failure happen for root is the hard part: root ignores
// directory permissions. A full file system is in enospc_test.go; here:
//   - rmdir of the user's directory under an open Dir: creating the temp
//     file fails. It cannot hold a previous copy (rmdir needs it empty), so
//     it checks only that nothing appears anywhere.
//   - for non-root only, a chown the kernel refuses (EPERM), failing after
//     the temp file is complete.
func TestPlaceFailureKeepsLastGoodCopy(t *testing.T) {
	o := targetUser(t)
	old := []byte("last good copy\n")
	for _, tc := range []struct {
		name    string
		nonRoot bool
		// fail arranges for the next write in d to fail and returns the
		// undo, to run right after Place.
		fail     func(t *testing.T, d *Dir) (undo func())
		previous bool // whether a previous copy can exist
	}{
		{
			name: "directory removed after it was opened",
			fail: func(t *testing.T, d *Dir) func() {
				if err := os.Remove(d.Path("")); err != nil {
					t.Fatal(err)
				}
				return func() {}
			},
		},
		{
			name:     "chown refused",
			nonRoot:  true,
			previous: true,
			fail: func(t *testing.T, d *Dir) func() {
				owner := d.owner
				d.owner.UID, d.owner.GID = 0, 0
				return func() { d.owner = owner }
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.nonRoot && os.Geteuid() == 0 {
				t.Skip("needs non-root: root may chown to anyone")
			}
			tr, base := newTree(t)
			d := newDir(t, tr, o)
			dir := d.Path("")
			var before state
			if tc.previous {
				if _, _, err := d.Place("key", old); err != nil {
					t.Fatal(err)
				}
				before = stateOf(t, d.Path("key"))
			}

			undo := tc.fail(t, d)
			t.Cleanup(undo) // in case the test stops before the call below
			rootBefore := stateOf(t, filepath.Join(base, "users"))
			res, _, err := d.Place("key", bytes.Repeat([]byte("new "), 2048))
			undo()

			if err == nil {
				t.Fatalf("Place = %v; the injected failure did not happen", res)
			}
			assertErrSays(t, err, d.Path("key"))
			if tc.previous {
				assertState(t, d.Path("key"), before)
				assertNoTemps(t, dir)
				if entries, _ := os.ReadDir(dir); len(entries) != 1 {
					t.Errorf("directory holds %d entries, want only the key", len(entries))
				}
			} else {
				assertMissing(t, dir)
			}
			assertState(t, filepath.Join(base, "users"), rootBefore)
		})
	}
}

func TestDirSync(t *testing.T) {
	o := targetUser(t)
	for _, tc := range []struct {
		name  string
		write bool
		place bool
	}{
		{"after writes", true, true},
		{"nothing written", true, false},
		{"dry run, directory missing", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, _ := newTree(t)
			d, err := tr.UserDir(o, tc.write)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if tc.place {
				for _, k := range []string{"a", "b"} {
					if _, _, err := d.Place(k, []byte(k)); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := d.Sync(); err != nil {
				t.Errorf("Sync: %v", err)
			}
			if err := d.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
}

func place(name string, content []byte) func(t *testing.T, d *Dir, o Owner) {
	return func(t *testing.T, d *Dir, o Owner) {
		t.Helper()
		if _, _, err := d.Place(name, content); err != nil {
			t.Fatal(err)
		}
	}
}

func chmod(t testing.TB, path string, mode fs.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func chown(t testing.TB, path string, uid, gid int) {
	t.Helper()
	if err := os.Lchown(path, uid, gid); err != nil {
		t.Fatal(err)
	}
}

func mkfifo(t testing.TB, path string, mode fs.FileMode) {
	t.Helper()
	if err := syscall.Mkfifo(path, uint32(mode.Perm())); err != nil {
		t.Fatal(err)
	}
	chmod(t, path, mode) // past the umask
}

// rewrite replaces a placed (0400) file's bytes in place, keeping its inode,
// owner and mode, as a user editing their own file would.
func rewrite(t testing.TB, path, content string) {
	t.Helper()
	fi, _ := lstat(t, path)
	chmod(t, path, 0o600)
	if err := os.WriteFile(path, []byte(content), 0); err != nil {
		t.Fatal(err)
	}
	chmod(t, path, fi.Mode())
}
