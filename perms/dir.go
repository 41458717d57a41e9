package perms

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// Dir is one user's directory. Everything in it may have been planted by the
// user, so nothing in it is followed, opened for writing or chowned by name.
type Dir struct {
	path  string
	owner Owner
	mode  fs.FileMode // of the directory itself
	root  *os.Root    // nil when the directory does not exist yet
	self  *os.File    // the directory itself, for fsync
}

func (d *Dir) open(parent *os.Root, fi fs.FileInfo, write bool) error {
	var err error
	if d.root, err = parent.OpenRoot(d.owner.Name); err != nil {
		return fmt.Errorf("open user directory %q: %w", d.path, err)
	}
	if d.self, err = d.root.Open("."); err != nil {
		return fmt.Errorf("open user directory %q: %w", d.path, err)
	}
	if err := sameFile(d.self, fi); err != nil {
		return fmt.Errorf("open user directory %q: %w", d.path, err)
	}
	if write {
		if err := d.cleanTemps(); err != nil {
			return err
		}
	}
	st := fi.Sys().(*syscall.Stat_t)
	if !write || (int(st.Uid) == d.owner.UID && int(st.Gid) == d.owner.GID && fi.Mode().Perm() == d.mode) {
		return nil
	}
	if err := d.self.Chown(d.owner.UID, d.owner.GID); err != nil {
		return fmt.Errorf("chown user directory %q: %w", d.path, err)
	}
	if err := d.self.Chmod(d.mode); err != nil {
		return fmt.Errorf("chmod user directory %q: %w", d.path, err)
	}
	return nil
}

// Path is where name is placed.
func (d *Dir) Path(name string) string { return filepath.Join(d.path, name) }

// Close releases the directory.
func (d *Dir) Close() error {
	var errs []error
	if d.self != nil {
		errs = append(errs, d.self.Close())
	}
	if d.root != nil {
		errs = append(errs, d.root.Close())
	}
	return errors.Join(errs...)
}

// Perm is how a placed file is owned and moded: by the user, with the
// user's primary group unless GID says otherwise.
type Perm struct {
	Mode fs.FileMode
	GID  int // -1: the user's primary group
}

// DefaultPerm is the user alone, read-only.
var DefaultPerm = Perm{Mode: FileMode, GID: -1}

func (d *Dir) gid(p Perm) int {
	if p.GID < 0 {
		return d.owner.GID
	}
	return p.GID
}

// Current reports whether name already holds content with the default owner
// and mode; see CurrentAs.
func (d *Dir) Current(name string, content []byte) (bool, error) {
	return d.CurrentAs(name, content, DefaultPerm)
}

// CurrentAs reports whether name already holds content with perm, as a
// regular file with no other links. It never follows a symlink, blocks on a
// FIFO, or reads a file that is linked elsewhere.
func (d *Dir) CurrentAs(name string, content []byte, perm Perm) (bool, error) {
	fi, err := d.current(name, content, perm)
	return fi != nil, err
}

// current is CurrentAs returning the file's lstat when it is current.
func (d *Dir) current(name string, content []byte, perm Perm) (fs.FileInfo, error) {
	if d.root == nil {
		return nil, nil
	}
	fi, err := d.root.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("stat %q: %w", d.Path(name), err)
	}
	if !d.looksCurrent(fi, len(content), perm) {
		return nil, nil
	}
	// O_NONBLOCK: if the name became a FIFO since the lstat, don't wait.
	f, err := d.root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil // replaced since the lstat; rewrite it
	}
	defer f.Close()
	if sameFile(f, fi) != nil {
		return nil, nil
	}
	// One byte more than expected tells a file that grew since the lstat.
	buf := make([]byte, len(content)+1)
	n, err := io.ReadFull(f, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read %q: %w", d.Path(name), err)
	}
	if n != len(content) || subtle.ConstantTimeCompare(buf[:n], content) != 1 {
		return nil, nil
	}
	return fi, nil
}

func (d *Dir) looksCurrent(fi fs.FileInfo, size int, perm Perm) bool {
	st := fi.Sys().(*syscall.Stat_t)
	return fi.Mode().IsRegular() &&
		fi.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) == perm.Mode &&
		st.Nlink == 1 &&
		int(st.Uid) == d.owner.UID && int(st.Gid) == d.gid(perm) &&
		fi.Size() == int64(size)
}

// Result says what Place did.
type Result int

const (
	Unchanged Result = iota
	Written
)

// Place makes name hold content, owned by the user with FileMode, unless it
// already does. The old file stays in place until the new one is complete,
// owned, moded and on disk; then a rename swaps them. Whatever the user put
// at name (symlink, hard link, FIFO) is replaced, never written through.
// The record identifies the file placed, taken from its descriptor so that
// a swap right after the rename cannot make someone else's file look ours.
// Call Sync once after the last Place to make the renames durable.
func (d *Dir) Place(name string, content []byte) (Result, FileRecord, error) {
	return d.PlaceAs(name, content, DefaultPerm)
}

// PlaceAs is Place with the owner group and mode of perm.
func (d *Dir) PlaceAs(name string, content []byte, perm Perm) (Result, FileRecord, error) {
	if d.root == nil {
		return 0, FileRecord{}, fmt.Errorf("user directory %q is not open", d.path)
	}
	now := time.Now()
	if fi, err := d.current(name, content, perm); err != nil || fi != nil {
		if fi == nil {
			return 0, FileRecord{}, err
		}
		return Unchanged, recordOf(fi, now), nil
	}
	f, tmp, err := d.writeTemp(content, perm)
	if err != nil {
		return 0, FileRecord{}, fmt.Errorf("write %q: %w", d.Path(name), err)
	}
	defer f.Close()
	if err := d.root.Rename(tmp, name); err != nil {
		d.root.Remove(tmp)
		return 0, FileRecord{}, fmt.Errorf("replace %q: %w", d.Path(name), renameHint(err))
	}
	fi, err := f.Stat() // after the rename, which changes ctime
	if err != nil {
		return 0, FileRecord{}, fmt.Errorf("stat %q: %w", d.Path(name), err)
	}
	return Written, recordOf(fi, now), nil
}

// writeTemp writes content to a fresh temporary file in the directory and
// returns it, still open, with its name. The file is created exclusively (so
// a planted name fails instead of being opened), filled while still
// root-owned, then chowned and chmodded through its descriptor and fsynced.
func (d *Dir) writeTemp(content []byte, perm Perm) (*os.File, string, error) {
	f, tmp, err := d.createTemp()
	if err != nil {
		return nil, "", err
	}
	err = d.fill(f, content, perm)
	if err != nil {
		f.Close()
		d.root.Remove(tmp)
		return nil, "", err
	}
	return f, tmp, nil
}

func (d *Dir) fill(f *os.File, content []byte, perm Perm) error {
	if _, err := f.Write(content); err != nil {
		return err
	}
	if err := f.Chown(d.owner.UID, d.gid(perm)); err != nil {
		return err
	}
	if err := f.Chmod(perm.Mode); err != nil {
		return err
	}
	return f.Sync()
}

func (d *Dir) createTemp() (*os.File, string, error) {
	for range 10 {
		var b [8]byte
		rand.Read(b[:])
		name := TempPrefix + hex.EncodeToString(b[:])
		f, err := d.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, FileMode)
		if errors.Is(err, fs.ErrExist) {
			continue // someone holds this name; never reuse it
		}
		return f, name, err
	}
	return nil, "", errors.New("could not create a temporary file: every name tried exists")
}

func renameHint(err error) error {
	if errors.Is(err, syscall.EISDIR) || errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST) {
		return errors.New("a directory is in the way; remove it so the key can be written")
	}
	return err
}

// Sync makes the directory's renames durable.
func (d *Dir) Sync() error {
	if d.self == nil {
		return nil
	}
	if err := d.self.Sync(); err != nil {
		return fmt.Errorf("fsync %q: %w", d.path, err)
	}
	return nil
}
