package perms

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// Modes of what the writer creates. The output root is traversable by all so
// each user reaches their own directory; everything below is the user's alone.
const (
	RootMode fs.FileMode = 0o755
	DirMode  fs.FileMode = 0o700
	// SharedDirMode lets others reach, but not list, files the spec shares
	// with a group; each file's own mode still decides who reads it.
	SharedDirMode fs.FileMode = 0o711
	FileMode      fs.FileMode = 0o400
)

// Tree is the output root, under which each user has a directory.
type Tree struct {
	path string
	root *os.Root // nil when the root does not exist and may not be created
}

// OpenTree opens the output root. With write it makes the root (and its
// parents) if missing and fixes its mode; without, a missing root is a Tree
// in which every file is still to be written.
func OpenTree(path string, write bool) (*Tree, error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		if !write {
			return &Tree{path: path}, nil
		}
		if err := mkdirParents(filepath.Dir(path)); err != nil {
			return nil, fmt.Errorf("create output root %q: %w", path, err)
		}
		if err := os.Mkdir(path, RootMode); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("create output root %q: %w", path, err)
		}
		fi, err = os.Lstat(path)
	}
	if err != nil {
		return nil, fmt.Errorf("stat output root %q: %w", path, err)
	}
	if err := checkRoot(path, fi); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(path)
	if err != nil {
		return nil, fmt.Errorf("open output root %q: %w", path, err)
	}
	t := &Tree{path: path, root: root}
	if err := t.fixRootMode(fi, write); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

// mkdirParents makes dir and its missing ancestors with RootMode. MkdirAll
// would leave them narrowed by the umask, and a parent users cannot traverse
// locks them out as surely as a 0700 root. Existing ones are left alone.
func mkdirParents(dir string) error {
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return &fs.PathError{Op: "mkdir", Path: dir, Err: syscall.ENOTDIR}
		}
		return nil
	}
	if parent := filepath.Dir(dir); parent != dir {
		if err := mkdirParents(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, RootMode); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil // made meanwhile by someone else, whose mode it keeps
		}
		return err
	}
	return os.Chmod(dir, RootMode)
}

// checkRoot refuses an output root that someone other than us could rearrange:
// whoever can rename entries in it could swap one user's directory for another's.
func checkRoot(path string, fi fs.FileInfo) error {
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("output root %q is a symlink; point output.root at the real directory", path)
	case !fi.IsDir():
		return fmt.Errorf("output root %q is not a directory", path)
	case ownerOf(fi) != os.Geteuid():
		return fmt.Errorf("output root %q is owned by uid %d, not by uid %d running user-secrets", path, ownerOf(fi), os.Geteuid())
	}
	return nil
}

func (t *Tree) fixRootMode(fi fs.FileInfo, write bool) error {
	f, err := t.root.Open(".")
	if err != nil {
		return fmt.Errorf("open output root %q: %w", t.path, err)
	}
	defer f.Close()
	if err := sameFile(f, fi); err != nil {
		return fmt.Errorf("open output root %q: %w", t.path, err)
	}
	// A umask (systemd's UMask=0077) can narrow a fresh root to 0700, which
	// would lock every user out of their own directory.
	if fi.Mode().Perm() != RootMode && write {
		if err := f.Chmod(RootMode); err != nil {
			return fmt.Errorf("chmod output root %q: %w", t.path, err)
		}
	}
	return nil
}

// Close releases the root.
func (t *Tree) Close() error {
	if t.root == nil {
		return nil
	}
	return t.root.Close()
}

// UserDir opens o's directory under the root, creating it when write is set,
// and with write makes it owned by o with DirMode. A symlink in its place is refused.
func (t *Tree) UserDir(o Owner, write bool) (*Dir, error) {
	return t.UserDirMode(o, write, DirMode)
}

// UserDirMode is UserDir with the directory's mode, DirMode or SharedDirMode.
func (t *Tree) UserDirMode(o Owner, write bool, mode fs.FileMode) (*Dir, error) {
	path := filepath.Join(t.path, o.Name)
	d := &Dir{path: path, owner: o, mode: mode}
	if t.root == nil {
		return d, nil
	}
	fi, err := t.root.Lstat(o.Name)
	if errors.Is(err, fs.ErrNotExist) {
		if !write {
			return d, nil
		}
		if err := t.root.Mkdir(o.Name, 0o700); err != nil { // widened, if at all, once owned
			return nil, fmt.Errorf("create user directory %q: %w", path, err)
		}
		fi, err = t.root.Lstat(o.Name)
	}
	switch {
	case err != nil:
		return nil, fmt.Errorf("stat user directory %q: %w", path, err)
	case fi.Mode()&fs.ModeSymlink != 0:
		return nil, fmt.Errorf("user directory %q is a symlink; refusing to write through it", path)
	case !fi.IsDir():
		return nil, fmt.Errorf("user directory %q is not a directory", path)
	}
	if err := d.open(t.root, fi, write); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// sameFile fails if f is not the file fi described: the name was swapped
// between the lstat and the open.
func sameFile(f *os.File, fi fs.FileInfo) error {
	got, err := f.Stat()
	if err != nil {
		return err
	}
	if !os.SameFile(got, fi) {
		return errors.New("it was replaced while being opened")
	}
	return nil
}

func ownerOf(fi fs.FileInfo) int {
	return int(fi.Sys().(*syscall.Stat_t).Uid)
}
