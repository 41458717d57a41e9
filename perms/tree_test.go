package perms

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestOpenTreeCreatesRootAndParents(t *testing.T) {
	// systemd's UMask=0077 is the case that matters: a root or parent made
	// 0700 would keep every user out of their own directory.
	for _, mask := range []int{0o077, 0o027, 0o022, 0} {
		t.Run(fmt.Sprintf("umask %03o", mask), func(t *testing.T) {
			base := t.TempDir()
			chmod(t, base, 0o700)
			root := filepath.Join(base, "var", "lib", "users")
			setUmask(t, mask)

			tr, err := OpenTree(root, true)
			if err != nil {
				t.Fatalf("OpenTree: %v", err)
			}
			defer tr.Close()
			// An existing ancestor is the admin's: its mode is not ours to set.
			if fi, _ := lstat(t, base); fi.Mode() != fs.ModeDir|0o700 {
				t.Errorf("existing %s: mode changed to %v", base, fi.Mode())
			}
			for _, p := range []string{filepath.Join(base, "var"), filepath.Join(base, "var", "lib"), root} {
				if fi, _ := lstat(t, p); fi.Mode() != fs.ModeDir|RootMode {
					t.Errorf("%s: mode %v, want %v", p, fi.Mode(), fs.ModeDir|RootMode)
				}
			}
		})
	}
}

func TestOpenTreeExistingRootMode(t *testing.T) {
	for _, tc := range []struct {
		name  string
		mode  fs.FileMode
		write bool
		want  fs.FileMode
	}{
		{"too narrow is widened", 0o700, true, RootMode},
		{"world-writable is narrowed", 0o777, true, RootMode},
		// A dry run must change nothing on disk, even what it would fix.
		{"dry run leaves it", 0o700, false, 0o700},
		{"right mode is kept", RootMode, true, RootMode},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "users")
			if err := os.Mkdir(root, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(root, tc.mode); err != nil {
				t.Fatal(err)
			}
			tr, err := OpenTree(root, tc.write)
			if err != nil {
				t.Fatalf("OpenTree: %v", err)
			}
			defer tr.Close()
			if fi, _ := lstat(t, root); fi.Mode() != fs.ModeDir|tc.want {
				t.Errorf("mode %v, want %v", fi.Mode(), fs.ModeDir|tc.want)
			}
		})
	}
}

func TestOpenTreeDryRunMissingRoot(t *testing.T) {
	base := t.TempDir()
	missing := filepath.Join(base, "var")
	tr, err := OpenTree(filepath.Join(missing, "users"), false)
	if err != nil {
		t.Fatalf("OpenTree: %v", err)
	}
	defer tr.Close()
	assertMissing(t, missing)

	d, err := tr.UserDir(targetUser(t), false)
	if err != nil {
		t.Fatalf("UserDir: %v", err)
	}
	defer d.Close()
	// An empty value is the easy one to get wrong: a missing file "has" no bytes.
	for _, content := range []string{"s3cret", ""} {
		if ok, err := d.Current("key", []byte(content)); ok || err != nil {
			t.Errorf("Current(%q) = %v, %v; a file in a missing root is always still to be written", content, ok, err)
		}
	}
	if _, _, err := d.Place("key", []byte("s3cret")); err == nil {
		t.Error("Place succeeded with no directory to place into")
	}
	if err := d.Sync(); err != nil {
		t.Errorf("Sync: %v", err)
	}
	assertMissing(t, missing)
}

func TestOpenTreeRefusesRoot(t *testing.T) {
	for _, tc := range []struct {
		name string
		// plant puts something at root and returns paths that must not change
		// and paths that must not come to exist.
		plant    func(t *testing.T, base, root string) (keep, absent []string)
		wantErrs []string
	}{
		{
			name: "symlink to a directory",
			plant: func(t *testing.T, base, root string) ([]string, []string) {
				real := filepath.Join(base, "real")
				if err := os.Mkdir(real, 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(real, root); err != nil {
					t.Fatal(err)
				}
				return []string{real, root}, nil
			},
			wantErrs: []string{"symlink"},
		},
		{
			// With write, following it would create the target.
			name: "dangling symlink",
			plant: func(t *testing.T, base, root string) ([]string, []string) {
				nowhere := filepath.Join(base, "nowhere")
				if err := os.Symlink(nowhere, root); err != nil {
					t.Fatal(err)
				}
				return []string{root}, []string{nowhere}
			},
			wantErrs: []string{"symlink"},
		},
		{
			name: "regular file",
			plant: func(t *testing.T, base, root string) ([]string, []string) {
				writeFile(t, root, "not a directory\n", 0o644)
				return []string{root}, nil
			},
			wantErrs: []string{"not a directory"},
		},
	} {
		for _, write := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/write=%v", tc.name, write), func(t *testing.T) {
				base := t.TempDir()
				root := filepath.Join(base, "users")
				keep, absent := tc.plant(t, base, root)
				before := make([]state, len(keep))
				for i, p := range keep {
					before[i] = stateOf(t, p)
				}

				tr, err := OpenTree(root, write)
				if err == nil {
					tr.Close()
					t.Fatal("OpenTree succeeded")
				}
				assertErrSays(t, err, root, tc.wantErrs...)
				for i, p := range keep {
					assertState(t, p, before[i])
				}
				for _, p := range absent {
					assertMissing(t, p)
				}
			})
		}
	}
}

func TestOpenTreeRefusesRootOwnedByAnotherUser(t *testing.T) {
	o := systemUser(t)
	for _, write := range []bool{true, false} {
		t.Run(fmt.Sprintf("write=%v", write), func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "users")
			// 0700 so a mode fix before the owner check would show.
			if err := os.Mkdir(root, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(root, o.UID, o.GID); err != nil {
				t.Fatal(err)
			}
			before := stateOf(t, root)

			tr, err := OpenTree(root, write)
			if err == nil {
				tr.Close()
				t.Fatal("OpenTree accepted a root another user can rearrange")
			}
			assertErrSays(t, err, root, fmt.Sprintf("owned by uid %d", o.UID))
			assertState(t, root, before)
		})
	}
}

func TestUserDirCreates(t *testing.T) {
	o := targetUser(t)
	for _, mask := range []int{0o077, 0} {
		t.Run(fmt.Sprintf("umask %03o", mask), func(t *testing.T) {
			tr, base := newTree(t)
			setUmask(t, mask)

			d := newDir(t, tr, o)
			path := filepath.Join(base, "users", o.Name)
			fi, st := lstat(t, path)
			if fi.Mode() != fs.ModeDir|DirMode {
				t.Errorf("mode %v, want %v", fi.Mode(), fs.ModeDir|DirMode)
			}
			if int(st.Uid) != o.UID || int(st.Gid) != o.GID {
				t.Errorf("owned by %d:%d, want %d:%d", st.Uid, st.Gid, o.UID, o.GID)
			}
			if got, want := d.Path("key"), filepath.Join(path, "key"); got != want {
				t.Errorf("Path = %q, want %q", got, want)
			}
		})
	}
}

func TestUserDirFixesExisting(t *testing.T) {
	o := targetUser(t)
	for _, tc := range []struct {
		name    string
		root    bool
		write   bool
		mode    fs.FileMode
		owner   func(o Owner) (uid, gid int)
		wantFix bool
	}{
		{name: "group and world readable", write: true, mode: 0o755, wantFix: true},
		{name: "world-writable with sticky bit", write: true, mode: 0o777 | fs.ModeSticky, wantFix: true},
		{name: "owner cannot write", write: true, mode: 0o500, wantFix: true},
		{name: "owned by root", root: true, write: true, mode: DirMode,
			owner: func(Owner) (int, int) { return 0, 0 }, wantFix: true},
		{name: "owned by the user, group root", root: true, write: true, mode: DirMode,
			owner: func(o Owner) (int, int) { return o.UID, 0 }, wantFix: true},
		{name: "dry run leaves a wrong mode", write: false, mode: 0o755},
		{name: "dry run leaves a wrong owner", root: true, write: false, mode: DirMode,
			owner: func(Owner) (int, int) { return 0, 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.root {
				needRoot(t)
			}
			tr, base := newTree(t)
			path := filepath.Join(base, "users", o.Name)
			if err := os.Mkdir(path, 0o700); err != nil {
				t.Fatal(err)
			}
			// Whatever is already in the directory is the user's and stays.
			writeFile(t, filepath.Join(path, "keep"), "kept", 0o600)
			uid, gid := o.UID, o.GID
			if tc.owner != nil {
				uid, gid = tc.owner(o)
			}
			if err := os.Chown(path, uid, gid); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tc.mode); err != nil {
				t.Fatal(err)
			}
			before := stateOf(t, path)

			d, err := tr.UserDir(o, tc.write)
			if err != nil {
				t.Fatalf("UserDir: %v", err)
			}
			defer d.Close()

			if !tc.wantFix {
				assertState(t, path, before)
				return
			}
			fi, st := lstat(t, path)
			if fi.Mode() != fs.ModeDir|DirMode {
				t.Errorf("mode %v, want %v", fi.Mode(), fs.ModeDir|DirMode)
			}
			if int(st.Uid) != o.UID || int(st.Gid) != o.GID {
				t.Errorf("owned by %d:%d, want %d:%d", st.Uid, st.Gid, o.UID, o.GID)
			}
			if st.Ino != before.ino {
				t.Errorf("directory replaced (inode %d, was %d); it should be fixed in place", st.Ino, before.ino)
			}
			if b, err := os.ReadFile(filepath.Join(path, "keep")); err != nil || string(b) != "kept" {
				t.Errorf("existing file: %q, %v; want it kept", b, err)
			}
		})
	}
}

func TestUserDirRefusesNonDirectory(t *testing.T) {
	o := targetUser(t)
	victimOwner := otherUser(t, "us-test-victim")
	for _, tc := range []struct {
		name string
		// plant puts something at the user's directory's place; it returns
		// paths that must not change and paths that must not come to exist.
		plant   func(t *testing.T, tr *Tree, base, at string) (keep, absent []string)
		wantErr string
	}{
		{
			// The user-dir swap: with the link followed, this user's keys
			// would land in (and be chowned inside) the victim's directory.
			name: "symlink to another user's directory",
			plant: func(t *testing.T, tr *Tree, base, at string) ([]string, []string) {
				victim := newDir(t, tr, victimOwner)
				if _, _, err := victim.Place("key", []byte("victim's secret")); err != nil {
					t.Fatal(err)
				}
				target := victim.Path("")
				if err := os.Symlink(filepath.Base(target), at); err != nil {
					t.Fatal(err)
				}
				return []string{target, victim.Path("key"), at}, nil
			},
			wantErr: "symlink",
		},
		{
			name: "symlink to a directory outside the root",
			plant: func(t *testing.T, tr *Tree, base, at string) ([]string, []string) {
				outside := filepath.Join(base, "outside")
				if err := os.Mkdir(outside, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(outside, at); err != nil {
					t.Fatal(err)
				}
				return []string{outside, at}, nil
			},
			wantErr: "symlink",
		},
		{
			name: "dangling symlink",
			plant: func(t *testing.T, tr *Tree, base, at string) ([]string, []string) {
				nowhere := filepath.Join(base, "nowhere")
				if err := os.Symlink(nowhere, at); err != nil {
					t.Fatal(err)
				}
				return []string{at}, []string{nowhere}
			},
			wantErr: "symlink",
		},
		{
			name: "regular file",
			plant: func(t *testing.T, tr *Tree, base, at string) ([]string, []string) {
				writeFile(t, at, "a file", 0o644)
				return []string{at}, nil
			},
			wantErr: "not a directory",
		},
	} {
		for _, write := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/write=%v", tc.name, write), func(t *testing.T) {
				tr, base := newTree(t)
				at := filepath.Join(base, "users", o.Name)
				keep, absent := tc.plant(t, tr, base, at)
				before := make([]state, len(keep))
				for i, p := range keep {
					before[i] = stateOf(t, p)
				}

				d, err := tr.UserDir(o, write)
				if err == nil {
					d.Close()
					t.Fatal("UserDir succeeded")
				}
				assertErrSays(t, err, at, tc.wantErr)
				for i, p := range keep {
					assertState(t, p, before[i])
				}
				for _, p := range absent {
					assertMissing(t, p)
				}
			})
		}
	}
}

func TestUserDirDryRunDoesNotCreate(t *testing.T) {
	tr, base := newTree(t)
	o := targetUser(t)
	d, err := tr.UserDir(o, false)
	if err != nil {
		t.Fatalf("UserDir: %v", err)
	}
	defer d.Close()
	path := filepath.Join(base, "users", o.Name)
	assertMissing(t, path)

	if ok, err := d.Current("key", nil); ok || err != nil {
		t.Errorf("Current = %v, %v; want false, nil for a directory not yet made", ok, err)
	}
	if _, _, err := d.Place("key", []byte("s3cret")); err == nil {
		t.Error("Place succeeded in a directory that was not opened")
	}
	if err := d.Sync(); err != nil {
		t.Errorf("Sync: %v", err)
	}
	assertMissing(t, path)
}

func TestUserDirDryRunReadsExisting(t *testing.T) {
	tr, _ := newTree(t)
	o := targetUser(t)
	w := newDir(t, tr, o)
	if _, _, err := w.Place("key", []byte("s3cret")); err != nil {
		t.Fatal(err)
	}

	d, err := tr.UserDir(o, false)
	if err != nil {
		t.Fatalf("UserDir: %v", err)
	}
	defer d.Close()
	for _, tc := range []struct {
		content string
		want    bool
	}{{"s3cret", true}, {"s3cre7", false}, {"", false}} {
		ok, err := d.Current("key", []byte(tc.content))
		if err != nil || ok != tc.want {
			t.Errorf("Current(%q) = %v, %v; want %v", tc.content, ok, err, tc.want)
		}
	}
	if ok, err := d.Current("other", nil); ok || err != nil {
		t.Errorf("Current of a missing key = %v, %v; want false", ok, err)
	}
}
