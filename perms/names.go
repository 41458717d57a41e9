// Package perms places files in users' directories: ownership, modes,
// atomic replacement and refusal to follow anything a user planted. It knows
// nothing of Vault or of the spec format.
package perms

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxNameBytes is NAME_MAX on Linux: the longest single file name.
const MaxNameBytes = 255

// TempPrefix starts the names of temporary files the writer creates in a
// user's directory. Names with it are refused, so cleanup never hits a key.
const TempPrefix = ".user-secrets-tmp-"

// CheckName reports why key cannot be used as a file name in a user's
// directory, or nil if it can. Any single file name is allowed (periods,
// spaces and UTF-8 included) except those that could leave the directory,
// name the directory itself, or garble a line of the report.
func CheckName(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("key name is empty")
	case key == "." || key == "..":
		return fmt.Errorf("key %q names a directory, not a file", key)
	case strings.ContainsRune(key, '/'):
		return fmt.Errorf("key %q contains \"/\"; a key must be a single file name", key)
	case strings.ContainsRune(key, 0):
		return fmt.Errorf("key %q contains a NUL byte", key)
	case len(key) > MaxNameBytes:
		return fmt.Errorf("key %.20q... is %d bytes long; file names are limited to %d", key, len(key), MaxNameBytes)
	case !utf8.ValidString(key):
		return fmt.Errorf("key %q is not valid UTF-8", key)
	case strings.IndexFunc(key, isControl) >= 0:
		return fmt.Errorf("key %q contains a control character", key)
	case strings.HasPrefix(key, TempPrefix):
		return fmt.Errorf("key %q starts with %q, which is reserved for temporary files", key, TempPrefix)
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }
