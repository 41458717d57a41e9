package e2e

import (
	"os"
	"os/user"
	"path/filepath"
	"syscall"
	"testing"
)

// TestHostileUser guards the writer against what a user can plant in their
// own directory between runs. In every case nothing outside the directory
// changes content, owner or mode, the run does not hang, and the report says
// what happened.
func TestHostileUser(t *testing.T) {
	users := systemUsers(t, 2)
	victimUser := users[1]
	tests := []struct {
		name  string
		plant func(t *testing.T, key, victim string)
		want  string // report line suffix for the key
		code  int
	}{
		{"symlink to a root file", func(t *testing.T, key, victim string) {
			must(t, os.Symlink(victim, key))
		}, "written", 0},
		{"hard link to a root file", func(t *testing.T, key, victim string) {
			must(t, os.Link(victim, key))
		}, "written", 0},
		{"fifo", func(t *testing.T, key, victim string) {
			must(t, syscall.Mkfifo(key, 0o600))
		}, "written", 0},
		{"directory", func(t *testing.T, key, victim string) {
			must(t, os.Mkdir(key, 0o700))
		}, "failed: replace \"" + "%KEY%" + "\": a directory is in the way; remove it so the key can be written", 1},
		{"symlinks at temp-file names", func(t *testing.T, key, victim string) {
			for _, n := range []string{"0000000000000000", "ffffffffffffffff"} {
				must(t, os.Symlink(victim, filepath.Join(filepath.Dir(key), ".user-secrets-tmp-"+n)))
			}
		}, "written", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			owner := users[0]
			f := newFixture(t, shared)
			name := owner.Username
			path := f.Prefix + "/" + name
			f.put("secret", 2, path, map[string]string{"k": f.secretValue("1")})
			f.writeSpec(f.kv2(map[string][]string{name: {"k"}}))
			f.run("sync").expect(t, 0, name+"/k: written")

			// Victims: a root file next to the tree, and another user's secret.
			victim := filepath.Join(f.dir, "victim")
			must(t, os.WriteFile(victim, []byte("root's own data\n"), 0o644))
			before := snapshot(t, victim)
			key := filepath.Join(f.Root, name, "k")
			must(t, os.Remove(key))
			tc.plant(t, key, victim)
			chownTree(t, filepath.Join(f.Root, name), owner)
			value := f.secretValue("2")
			f.put("secret", 2, path, map[string]string{"k": value})

			want := name + "/k: " + replaceKey(tc.want, key)
			f.run("sync").expect(t, tc.code, want)
			if tc.code == 0 {
				assertSecretFile(t, key, value, owner)
			}
			if after := snapshot(t, victim); after != before {
				t.Errorf("victim changed: %+v -> %+v", before, after)
			}
		})
	}

	// The user directory swapped for a symlink to another user's directory
	// (as root could do by mistake between runs) is refused, and the other
	// user's files are left alone.
	t.Run("user dir is a symlink to another user's dir", func(t *testing.T) {
		f := newFixture(t, shared)
		a, b := users[0].Username, victimUser.Username
		f.put("secret", 2, f.Prefix+"/"+a, map[string]string{"k": f.secretValue("a")})
		bValue := f.secretValue("b")
		f.put("secret", 2, f.Prefix+"/"+b, map[string]string{"k": bValue})
		f.writeSpec(f.kv2(map[string][]string{a: {"k"}, b: {"k"}}))
		f.run("sync").expect(t, 0, "2 written")
		must(t, os.RemoveAll(filepath.Join(f.Root, a)))
		must(t, os.Symlink(b, filepath.Join(f.Root, a)))
		bBefore := snapshot(t, filepath.Join(f.Root, b, "k"))

		f.run("sync").expect(t, 1, a+"/k: failed: user directory \""+filepath.Join(f.Root, a)+"\" is a symlink; refusing to write through it", b+"/k: unchanged")
		if after := snapshot(t, filepath.Join(f.Root, b, "k")); after != bBefore {
			t.Errorf("the other user's file changed: %+v -> %+v", bBefore, after)
		}
	})
}

type fileSnap struct {
	content  string
	mode     os.FileMode
	uid, gid uint32
	nlink    uint64
}

func snapshot(t *testing.T, path string) fileSnap {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return fileSnap{readFile(t, path), fi.Mode(), st.Uid, st.Gid, uint64(st.Nlink)}
}

// chownTree gives everything in dir to u, as if u had planted it.
func chownTree(t *testing.T, dir string, u *user.User) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	must(t, err)
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		fi, err := os.Lstat(p)
		must(t, err)
		if fi.Mode().IsRegular() && fi.Sys().(*syscall.Stat_t).Nlink > 1 {
			continue // the victim's other name: chowning it would chown the victim
		}
		must(t, os.Lchown(p, mustAtoi(u.Uid), mustAtoi(u.Gid)))
	}
}

func replaceKey(s, key string) string {
	out := ""
	for i := 0; i < len(s); i++ {
		if len(s)-i >= 5 && s[i:i+5] == "%KEY%" {
			out += key
			i += 4
			continue
		}
		out += string(s[i])
	}
	return out
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
