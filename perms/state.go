package perms

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"
)

// stateVersion is bumped when State changes incompatibly; an unknown
// version is an error, so an older binary never prunes by a newer record.
const stateVersion = 1

// State records which files this tool wrote, so that a key removed from the
// spec can be pruned without ever touching a file a user made themselves.
// It lives outside the users' reach (root-owned, 0600).
type State struct {
	Version int                              `json:"version"`
	Root    string                           `json:"root"`
	Users   map[string]map[string]FileRecord `json:"users"`
	// Runs is what the latest runs did per user, for status and metrics.
	Runs map[string]UserRun `json:"runs,omitempty"`
}

// UserRun is the outcome of the latest run that synced a user.
type UserRun struct {
	At time.Time `json:"at"`
	// LastSuccess is the latest run in which every key was in place.
	LastSuccess time.Time    `json:"last_success,omitzero"`
	Keys        []KeyOutcome `json:"keys"`
}

// KeyOutcome is one key's line of a run's report. Its file's path is not
// kept: status knows it from the spec, and at 10,000 users the paths were a
// fifth of the state. (Files written before carry "path"; it is ignored.)
type KeyOutcome struct {
	Key    string `json:"key"`
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

// FileRecord identifies the exact file that was placed. Any change by
// someone else (a new file at the name, chmod, chown, another link) gives a
// different inode or ctime, and the file is then no longer ours to delete.
type FileRecord struct {
	Dev      uint64    `json:"dev"`
	Ino      uint64    `json:"ino"`
	CtimeNs  int64     `json:"ctime_ns"`
	PlacedAt time.Time `json:"placed_at"`
}

// NewState is the empty state for an output root.
func NewState(root string) *State {
	return &State{Version: stateVersion, Root: root, Users: map[string]map[string]FileRecord{}, Runs: map[string]UserRun{}}
}

// LoadState reads the state file; a missing file is an empty state.
func LoadState(path, root string) (*State, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return NewState(root), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state file: %w", err)
	}
	defer f.Close()
	s := &State{} // no version in the file must not pass as the current one
	if err := s.decode(json.NewDecoder(bufio.NewReaderSize(f, 64<<10))); err != nil {
		var ve versionError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("state file %q has version %d; this build knows %d", path, int(ve), stateVersion)
		}
		return nil, fmt.Errorf("parse state file %q: %w", path, err)
	}
	if s.Users == nil {
		s.Users = map[string]map[string]FileRecord{}
	}
	if s.Runs == nil {
		s.Runs = map[string]UserRun{}
	}
	return s, nil
}

// Save writes the state atomically: a reader or the next run sees the old or
// the new state, never a torn one.
func (s *State) Save(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create state directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".state-*.tmp") // O_EXCL, 0600
	if err != nil {
		return fmt.Errorf("write state file: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	w := bufio.NewWriterSize(tmp, 64<<10)
	if err := s.encode(w); err != nil {
		tmp.Close()
		return fmt.Errorf("write state file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("fsync state file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write state file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("replace state file: %w", err)
	}
	return syncDir(dir)
}

// encode writes what json.Marshal would, one user at a time: marshalling a
// 10,000-user state whole held a copy of it in memory, at the very end of a
// run, while everything else was still live. Compact, as indenting doubles
// the size.
func (s *State) encode(w *bufio.Writer) error {
	fmt.Fprintf(w, `{"version":%d,"root":`, s.Version)
	if err := encodeJSON(w, s.Root); err != nil {
		return err
	}
	w.WriteString(`,"users":`)
	if err := encodeMap(w, s.Users); err != nil {
		return err
	}
	if len(s.Runs) > 0 { // omitempty
		w.WriteString(`,"runs":`)
		if err := encodeMap(w, s.Runs); err != nil {
			return err
		}
	}
	w.WriteString("}\n")
	return w.Flush()
}

// encodeMap writes m as a JSON object, keys sorted as json.Marshal sorts them.
func encodeMap[V any](w *bufio.Writer, m map[string]V) error {
	if m == nil {
		_, err := w.WriteString("null")
		return err
	}
	w.WriteByte('{')
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			w.WriteByte(',')
		}
		if err := encodeJSON(w, k); err != nil {
			return err
		}
		w.WriteByte(':')
		if err := encodeJSON(w, m[k]); err != nil {
			return err
		}
	}
	return w.WriteByte('}')
}

func encodeJSON(w *bufio.Writer, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(data)
	return err
}

// versionError is a state file of another version, or of none. Decoding
// stops as soon as the version is read: the records may have another shape.
type versionError int

func (v versionError) Error() string { return fmt.Sprintf("version %d", int(v)) }

// decode reads what encode writes, one user at a time: json.Unmarshal needs
// the whole file in memory besides what it decodes, which at 10,000 users
// was the peak of a run's heap.
func (s *State) decode(dec *json.Decoder) error {
	if err := expectDelim(dec, '{'); err != nil {
		return err
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case "version":
			if err := dec.Decode(&s.Version); err != nil {
				return err
			}
			if s.Version != stateVersion {
				return versionError(s.Version)
			}
		case "root":
			err = dec.Decode(&s.Root)
		case "users":
			s.Users, err = decodeMap[map[string]FileRecord](dec)
		case "runs":
			s.Runs, err = decodeMap[UserRun](dec)
		default:
			var skip json.RawMessage // json.Unmarshal ignores unknown fields too
			err = dec.Decode(&skip)
		}
		if err != nil {
			return err
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the end of the state")
	}
	if s.Version != stateVersion {
		return versionError(s.Version) // no "version" at all: 0
	}
	return nil
}

// decodeMap reads a JSON object (or null) one value at a time.
func decodeMap[V any](dec *json.Decoder) (map[string]V, error) {
	tok, err := dec.Token()
	if err != nil || tok == nil {
		return nil, err
	}
	if tok != json.Delim('{') {
		return nil, fmt.Errorf("want an object, found %v", tok)
	}
	m := map[string]V{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var v V
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		m[tok.(string)] = v // More and Token guarantee a key here
	}
	return m, expectDelim(dec, '}')
}

func expectDelim(dec *json.Decoder, d json.Delim) error {
	tok, err := dec.Token()
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	if err != nil {
		return err
	}
	if tok != d {
		return fmt.Errorf("want %v, found %v", d, tok)
	}
	return nil
}

func syncDir(path string) error {
	d, err := os.Open(path)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func recordOf(fi fs.FileInfo, now time.Time) FileRecord {
	st := fi.Sys().(*syscall.Stat_t)
	return FileRecord{Dev: st.Dev, Ino: st.Ino, CtimeNs: st.Ctim.Nano(), PlacedAt: now}
}

// Matches reports whether fi is still the very file the record describes.
func (r FileRecord) Matches(fi fs.FileInfo) bool {
	st := fi.Sys().(*syscall.Stat_t)
	return fi.Mode().IsRegular() && st.Nlink == 1 &&
		st.Dev == r.Dev && st.Ino == r.Ino && st.Ctim.Nano() == r.CtimeNs
}
