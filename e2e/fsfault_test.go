package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// mountTmpfs mounts a small tmpfs at dir for the test; root only.
func mountTmpfs(t *testing.T, dir, size string) {
	t.Helper()
	must(t, os.MkdirAll(dir, 0o755))
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0755", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
}

// TestFileSystemFaults guards the writer against a file system that refuses
// writes: the failing keys are reported with the reason, exit 1, the old
// files stay byte for byte, and no temporary file is left.
func TestFileSystemFaults(t *testing.T) {
	tests := []struct {
		name   string
		break_ func(t *testing.T, mnt string)
		big    bool // new values too big for the file system
		want   string
	}{
		{"file system full", func(t *testing.T, mnt string) {}, true, "no space left on device"},
		{"read-only output root", func(t *testing.T, mnt string) {
			if out, err := exec.Command("mount", "-o", "remount,ro", mnt).CombinedOutput(); err != nil {
				t.Fatalf("remount ro: %v: %s", err, out)
			}
		}, false, "read-only file system"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			users := systemUsers(t, 2)
			f := newFixture(t, shared)
			mnt := filepath.Join(f.dir, "mnt")
			mountTmpfs(t, mnt, "256k")
			f.Root = filepath.Join(mnt, "users")
			spec := f.kv2(map[string][]string{})
			for _, u := range users {
				f.put("secret", 2, f.Prefix+"/"+u.Username, map[string]string{"a": f.secretValue("a"), "b": f.secretValue("b")})
				spec.Users[u.Username] = []string{"a", "b"}
			}
			f.writeSpec(spec)
			f.run("sync").expect(t, 0, "4 written")
			before := statAll(t, f.Root)
			contents := map[string]string{}
			for p := range before {
				if fi, _ := os.Lstat(p); fi.Mode().IsRegular() {
					contents[p] = readFile(t, p)
				}
			}
			for _, u := range users {
				v := f.secretValue("new")
				if tc.big {
					v += strings.Repeat("x", 200<<10)
				}
				f.put("secret", 2, f.Prefix+"/"+u.Username, map[string]string{"a": v, "b": f.secretValue("b2")})
			}
			tc.break_(t, mnt)

			r := f.run("sync")
			r.expect(t, 1, tc.want)
			for p, c := range contents {
				if got, err := os.ReadFile(p); err != nil || string(got) != c {
					if strings.Contains(r.stdout, strings.TrimPrefix(p, f.Root+"/")+": written") {
						continue // this key fit and was replaced whole
					}
					t.Errorf("%s lost its last good copy (err=%v)", p, err)
				}
			}
			assertNoTempFiles(t, f.Root)
		})
	}
}

// TestBadOutputRoot guards output roots that must not be written through.
func TestBadOutputRoot(t *testing.T) {
	users := systemUsers(t, 1)
	f := newFixture(t, shared)
	name := users[0].Username
	f.put("secret", 2, f.Prefix+"/"+name, map[string]string{"k": f.secretValue("k")})
	real := filepath.Join(f.dir, "real")
	must(t, os.Mkdir(real, 0o755))
	link := filepath.Join(f.dir, "link")
	must(t, os.Symlink(real, link))
	f.writeSpec(specData{Root: link, KVMount: "secret", KVVersion: 2, KVPath: f.Prefix + "/{user}",
		Users: map[string][]string{name: {"k"}}})

	f.run("sync").expect(t, 1, `failed: output root "`+link+`" is a symlink; point output.root at the real directory`)
	if entries, _ := os.ReadDir(real); len(entries) != 0 {
		t.Errorf("wrote through the symlinked root: %v", entries)
	}
}

// TestUnreadableRoleID guards exit 3 for a credential that cannot be read.
func TestUnreadableRoleID(t *testing.T) {
	users := systemUsers(t, 1)
	f := newFixture(t, shared)
	name := users[0].Username
	f.put("secret", 2, f.Prefix+"/"+name, map[string]string{"k": f.secretValue("k")})
	must(t, os.Remove(f.Role.RoleIDFile))
	must(t, os.Mkdir(f.Role.RoleIDFile, 0o700)) // even root cannot read a directory as a file
	f.writeSpec(f.kv2(map[string][]string{name: {"k"}}))
	f.run("sync").expect(t, 3, "user-secrets: error: read role-id file", "is a directory", "hint: check auth.role_id_file")
	if _, err := os.Lstat(f.Root); !os.IsNotExist(err) {
		t.Errorf("output root created although login failed (err=%v)", err)
	}
}
