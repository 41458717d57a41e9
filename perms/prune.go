package perms

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"syscall"
)

// Owns reports whether name is still the very file rec describes: a regular
// file with one link, same inode and ctime. A file the user made, replaced,
// chmodded or linked is not ours, and is never pruned.
func (d *Dir) Owns(name string, rec FileRecord) (bool, error) {
	if d.root == nil {
		return false, nil
	}
	fi, err := d.root.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("stat %q: %w", d.Path(name), err)
	}
	return rec.Matches(fi), nil
}

// Remove deletes name, a file Owns said is ours. There is no unlink-if-inode
// call, so a user who swaps a file in at this very moment can make us delete
// it; only their own file in their own directory is at stake.
func (d *Dir) Remove(name string) error {
	if err := d.root.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %q: %w", d.Path(name), err)
	}
	return nil
}

// cleanTemps removes temporary files a crashed run left behind. Their names
// are reserved (keys may not start with TempPrefix), so nothing else matches.
func (d *Dir) cleanTemps() error {
	f, err := d.root.Open(".")
	if err != nil {
		return err
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return err
	}
	for _, name := range names {
		if !strings.HasPrefix(name, TempPrefix) {
			continue
		}
		// A user can put a non-empty directory here; that must not stop
		// their keys from being written, so it is only worth a warning.
		if err := d.root.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			slog.Warn("could not remove a leftover temporary file", "path", d.Path(name), "error", err)
			continue
		}
		slog.Info("removed a temporary file left by an interrupted run", "path", d.Path(name))
	}
	return nil
}

// ExistingDir opens the directory of a user who is no longer in the spec,
// for pruning only: nothing about it is changed, and a missing one is a Dir
// with nothing in it.
func (t *Tree) ExistingDir(name string) (*Dir, error) {
	return t.UserDir(Owner{Name: name, UID: -1, GID: -1}, false)
}

// RemoveIfEmpty removes the directory of a user who is no longer in the spec
// once nothing is left in it; a directory still holding files is kept.
func (t *Tree) RemoveIfEmpty(name string) (bool, error) {
	if t.root == nil {
		return false, nil
	}
	fi, err := t.root.Lstat(name)
	if err != nil || !fi.IsDir() {
		return false, nil
	}
	err = t.root.Remove(name)
	if errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("remove user directory %q: %w", t.path+"/"+name, err)
	}
	return true, nil
}
