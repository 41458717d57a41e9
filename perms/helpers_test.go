package perms

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Nothing here calls t.Parallel: several tests change process-wide state
// (umask) that would leak into tests running beside them.

// needRoot skips a test whose point is a chown to a user other than the one
// running it, which only root may do.
func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: chown to another user")
	}
}

// systemUser creates a throwaway system user (and its group) and deletes
// both when the test ends. Only root can; others skip.
func systemUser(t testing.TB) Owner {
	t.Helper()
	needRoot(t)
	for range 5 {
		name := "us-test-" + randomHex(3)
		out, err := runLocked("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name)
		var exit *exec.ExitError
		if errors.As(err, &exit) && exit.ExitCode() == 9 {
			continue // name taken: pick another rather than share a user
		}
		if err != nil {
			t.Fatalf("useradd %s: %v\n%s", name, err, out)
		}
		t.Cleanup(func() {
			if out, err := runLocked("userdel", name); err != nil {
				t.Errorf("userdel %s: %v\n%s (the user is left behind; remove it by hand)", name, err, out)
			}
		})
		o, err := LookupOwner(name)
		if err != nil {
			t.Fatalf("LookupOwner(%q) right after useradd: %v", name, err)
		}
		return o
	}
	t.Fatal("useradd: every random name tried already exists")
	return Owner{}
}

// runLocked runs a shadow-utils command, retrying while another process
// (the e2e tests run useradd too) holds the lock on /etc/passwd.
func runLocked(name string, args ...string) ([]byte, error) {
	for i := 0; ; i++ {
		out, err := exec.Command(name, args...).CombinedOutput()
		if err == nil || i == 50 || !bytes.Contains(out, []byte("lock")) {
			return out, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// selfOwner is the user running the test, resolved the way the CLI resolves
// users.
func selfOwner(t testing.TB) Owner {
	t.Helper()
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	o, err := LookupOwner(u.Username)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// targetUser is the owner of the directory under test. As root it is a real
// other user, so a file left root-owned or chowned through a link shows; as
// anyone else it is that user, which still exercises everything but chown.
// Make one per test and share it among the cases: useradd and userdel fsync
// the shadow files and take seconds on a slow disk.
func targetUser(t testing.TB) Owner {
	t.Helper()
	if os.Geteuid() == 0 {
		return systemUser(t)
	}
	return selfOwner(t)
}

// otherUser is a second owner for tests about one user reaching another's
// directory. Without root both are the current uid under different names,
// which is enough for anything not about ownership.
func otherUser(t testing.TB, name string) Owner {
	t.Helper()
	if os.Geteuid() == 0 {
		return systemUser(t)
	}
	o := selfOwner(t)
	o.Name = name
	return o
}

// setUmask applies mask for the rest of the test.
func setUmask(t testing.TB, mask int) {
	t.Helper()
	old := syscall.Umask(mask)
	t.Cleanup(func() { syscall.Umask(old) })
}

// newTree opens a fresh, writable output root under the test's temp dir and
// returns it with that temp dir, for planting things next to the root.
func newTree(t testing.TB) (tr *Tree, base string) {
	t.Helper()
	base = t.TempDir()
	tr, err := OpenTree(filepath.Join(base, "users"), true)
	if err != nil {
		t.Fatalf("OpenTree: %v", err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr, base
}

// newDir opens o's directory in tr for writing.
func newDir(t testing.TB, tr *Tree, o Owner) *Dir {
	t.Helper()
	d, err := tr.UserDir(o, true)
	if err != nil {
		t.Fatalf("UserDir(%q): %v", o.Name, err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func lstat(t testing.TB, path string) (fs.FileInfo, *syscall.Stat_t) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi, fi.Sys().(*syscall.Stat_t)
}

// assertPlaced checks that path is what Place promises: a regular file with
// exactly content, mode 0400 and no special bits, owned by o, linked once.
func assertPlaced(t testing.TB, path string, content []byte, o Owner) {
	t.Helper()
	fi, st := lstat(t, path)
	if fi.Mode() != FileMode {
		t.Errorf("%s: mode %v, want a regular file with %v", path, fi.Mode(), FileMode)
	}
	if int(st.Uid) != o.UID || int(st.Gid) != o.GID {
		t.Errorf("%s: owned by %d:%d, want %d:%d", path, st.Uid, st.Gid, o.UID, o.GID)
	}
	if st.Nlink != 1 {
		t.Errorf("%s: %d links, want 1", path, st.Nlink)
	}
	if !fi.Mode().IsRegular() {
		return // reading a FIFO would hang
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, content) {
		t.Errorf("%s holds %q, want %q", path, got, content)
	}
}

// assertNoTemps fails if the writer left a temporary file behind in dir;
// one there would hold a secret nobody will clean up.
func assertNoTemps(t testing.TB, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), TempPrefix) {
			t.Errorf("temporary file %s left in %s", e.Name(), dir)
		}
	}
}

// state is what a victim of a redirected write would lose: anything that
// changes if it is written, chmodded, chowned or replaced. Access and change
// times are left out; reading or linking legitimately moves them.
type state struct {
	mode     fs.FileMode
	uid, gid uint32
	ino      uint64
	nlink    uint64
	mtime    syscall.Timespec
	content  string   // regular files
	target   string   // symlinks
	entries  []string // directories
}

func stateOf(t testing.TB, path string) state {
	t.Helper()
	fi, st := lstat(t, path)
	s := state{mode: fi.Mode(), uid: st.Uid, gid: st.Gid, ino: st.Ino, nlink: uint64(st.Nlink), mtime: st.Mtim}
	switch {
	case fi.Mode().IsRegular():
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		s.content = string(b)
	case fi.Mode()&fs.ModeSymlink != 0:
		var err error
		if s.target, err = os.Readlink(path); err != nil {
			t.Fatal(err)
		}
	case fi.IsDir():
		entries, err := os.ReadDir(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			s.entries = append(s.entries, e.Name())
		}
	}
	return s
}

// assertState fails if path no longer matches want.
func assertState(t testing.TB, path string, want state) {
	t.Helper()
	got := stateOf(t, path)
	if got.mode != want.mode || got.uid != want.uid || got.gid != want.gid {
		t.Errorf("%s: now %v %d:%d, was %v %d:%d", path, got.mode, got.uid, got.gid, want.mode, want.uid, want.gid)
	}
	if got.ino != want.ino {
		t.Errorf("%s: replaced (inode %d, was %d)", path, got.ino, want.ino)
	}
	if got.nlink != want.nlink {
		t.Errorf("%s: %d links, want %d", path, got.nlink, want.nlink)
	}
	if got.mtime != want.mtime {
		t.Errorf("%s: modified (mtime %v, was %v)", path, got.mtime, want.mtime)
	}
	if got.content != want.content {
		t.Errorf("%s: holds %q, was %q", path, got.content, want.content)
	}
	if got.target != want.target {
		t.Errorf("%s: points to %q, was %q", path, got.target, want.target)
	}
	if !slices.Equal(got.entries, want.entries) {
		t.Errorf("%s: holds %q, held %q", path, got.entries, want.entries)
	}
}

// assertErrSays checks that err names path and, elsewhere in the message,
// says each of words. The path is left out of the search for words: temp dir
// names carry the test's name, which often holds the very word looked for.
func assertErrSays(t testing.TB, err error, path string, words ...string) {
	t.Helper()
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name %s", err, path)
	}
	rest := strings.ReplaceAll(err.Error(), path, "")
	for _, w := range words {
		if !strings.Contains(rest, w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
}

func assertMissing(t testing.TB, path string) {
	t.Helper()
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s exists (lstat: %v); nothing should have created it", path, err)
	}
}

// writeFile creates path with content and exactly mode, whatever the umask.
func writeFile(t testing.TB, path, content string, mode fs.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// hangTimeout bounds calls that would block forever if they opened a FIFO.
const hangTimeout = 10 * time.Second

// placeWithin runs Place and fails the test if it has not returned in time,
// which is how opening a FIFO planted at name shows.
func placeWithin(t testing.TB, d *Dir, name string, content []byte) (Result, error) {
	t.Helper()
	type result struct {
		res Result
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, _, err := d.Place(name, content)
		done <- result{res, err}
	}()
	select {
	case r := <-done:
		return r.res, r.err
	case <-time.After(hangTimeout):
		unblockFIFO(d.Path(name))
		t.Fatalf("Place(%q) still blocked after %v: it opened what is at that name", name, hangTimeout)
		return 0, nil
	}
}

// currentWithin is placeWithin for Current.
func currentWithin(t testing.TB, d *Dir, name string, content []byte) (bool, error) {
	t.Helper()
	type result struct {
		ok  bool
		err error
	}
	done := make(chan result, 1)
	go func() {
		ok, err := d.Current(name, content)
		done <- result{ok, err}
	}()
	select {
	case r := <-done:
		return r.ok, r.err
	case <-time.After(hangTimeout):
		unblockFIFO(d.Path(name))
		t.Fatalf("Current(%q) still blocked after %v: it opened what is at that name", name, hangTimeout)
		return false, nil
	}
}

// unblockFIFO opens the other end of a FIFO a stuck goroutine is waiting on,
// so a failed test does not leave it hanging for the rest of the run.
func unblockFIFO(path string) {
	for _, flag := range []int{os.O_WRONLY, os.O_RDONLY} {
		if f, err := os.OpenFile(path, flag|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	}
}
