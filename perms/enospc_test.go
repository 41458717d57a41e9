package perms

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// TestPlaceFullFileSystem fills a small tmpfs so the new copy's write fails
// half way, the worst moment: the old copy must stay byte for byte and no
// temporary file may be left holding part of a secret.
func TestPlaceFullFileSystem(t *testing.T) {
	needRoot(t)
	base := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k,mode=0755", "tmpfs", base).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", base).Run() })

	tr, err := OpenTree(filepath.Join(base, "users"), true)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	d := newDir(t, tr, targetUser(t))
	old := []byte("last good copy\n")
	if _, _, err := d.Place("key", old); err != nil {
		t.Fatal(err)
	}
	before := stateOf(t, d.Path("key"))
	fill(t, filepath.Join(base, "filler"), 4096)

	_, _, err = d.Place("key", bytes.Repeat([]byte("new secret "), 4096))
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Place on a full file system = %v, want ENOSPC", err)
	}
	assertErrSays(t, err, d.Path("key"))
	assertState(t, d.Path("key"), before)
	assertNoTemps(t, d.Path(""))
}

// fill writes to path until the file system has less than room bytes left.
func fill(t *testing.T, path string, room int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 4096)
	for {
		var st syscall.Statfs_t
		if err := syscall.Statfs(filepath.Dir(path), &st); err != nil {
			t.Fatal(err)
		}
		if int64(st.Bavail)*st.Bsize < room {
			return
		}
		if _, err := f.Write(chunk); err != nil {
			return // full already
		}
	}
}
