package perms

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLoadStateMissing(t *testing.T) {
	base := t.TempDir()
	for _, tc := range []struct{ name, path string }{
		{"missing file", filepath.Join(base, "state.json")},
		{"missing directory", filepath.Join(base, "lib", "user-secrets", "state.json")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := LoadState(tc.path, "/srv/users")
			if err != nil {
				t.Fatalf("LoadState: %v; a first run has no state yet and must not fail", err)
			}
			if s.Version != stateVersion || s.Root != "/srv/users" || len(s.Users) != 0 {
				t.Errorf("LoadState = %+v; want an empty version %d state for /srv/users", s, stateVersion)
			}
			// Callers add users straight into the map.
			if s.Users == nil {
				t.Error("Users is nil; adding a user would panic")
			}
			// Only Save may create it: a dry run loads but never saves.
			assertMissing(t, tc.path)
		})
	}
}

// sampleState has values a float64 round trip would lose (inode and ctime
// beyond 2^53) and names that need escaping in JSON.
func sampleState(root string) *State {
	at := time.Date(2025, 3, 1, 12, 30, 45, 123456789, time.UTC)
	s := NewState(root)
	s.Users["alice"] = map[string]FileRecord{
		"db-password": {Dev: 2049, Ino: 1<<63 + 7, CtimeNs: 1740832245123456789, PlacedAt: at},
		"tls.key":     {Dev: 1<<40 + 3, Ino: 12, CtimeNs: 1740832245000000001, PlacedAt: at.Add(time.Second)},
	}
	s.Users["bob"] = map[string]FileRecord{
		"clé \"quoted\" \\ ✓": {Dev: 66306, Ino: 9007199254740993, CtimeNs: 9007199254740993, PlacedAt: at},
	}
	return s
}

// assertSameState compares what pruning relies on; PlacedAt is compared as an
// instant, since JSON keeps neither the monotonic clock nor the *Location.
func assertSameState(t testing.TB, got, want *State) {
	t.Helper()
	if got.Version != want.Version || got.Root != want.Root {
		t.Errorf("version %d root %q, want %d %q", got.Version, got.Root, want.Version, want.Root)
	}
	if len(got.Users) != len(want.Users) {
		t.Errorf("users %v, want %v", slices.Sorted(maps.Keys(got.Users)), slices.Sorted(maps.Keys(want.Users)))
	}
	for user, recs := range want.Users {
		gotRecs := got.Users[user]
		if len(gotRecs) != len(recs) {
			t.Errorf("user %q: keys %v, want %v", user, slices.Sorted(maps.Keys(gotRecs)), slices.Sorted(maps.Keys(recs)))
		}
		for key, rec := range recs {
			g, ok := gotRecs[key]
			switch {
			case !ok:
				t.Errorf("user %q key %q: missing", user, key)
			case g.Dev != rec.Dev || g.Ino != rec.Ino || g.CtimeNs != rec.CtimeNs || !g.PlacedAt.Equal(rec.PlacedAt):
				t.Errorf("user %q key %q: %+v, want %+v", user, key, g, rec)
			}
		}
	}
}

func TestStateSaveLoadRoundTrip(t *testing.T) {
	// With a 022 umask MkdirAll would still give 0700; 077 is what systemd
	// gives; 0 shows Save does not rely on the umask for the file's 0600.
	for _, mask := range []int{0o022, 0o077, 0} {
		t.Run(fmt.Sprintf("umask %03o", mask), func(t *testing.T) {
			setUmask(t, mask)
			dir := filepath.Join(t.TempDir(), "lib", "user-secrets")
			path := filepath.Join(dir, "state.json")
			want := sampleState("/srv/users")

			if err := want.Save(path); err != nil {
				t.Fatalf("Save: %v", err)
			}
			// The state lists every user's files; nobody else may read it.
			if fi, _ := lstat(t, dir); fi.Mode() != fs.ModeDir|0o700 {
				t.Errorf("state directory created %v, want drwx------", fi.Mode())
			}
			if fi, _ := lstat(t, path); fi.Mode() != 0o600 {
				t.Errorf("state file mode %v, want -rw-------", fi.Mode())
			}
			assertNoStateTemps(t, dir)

			got, err := LoadState(path, "/srv/users")
			if err != nil {
				t.Fatalf("LoadState: %v", err)
			}
			assertSameState(t, got, want)
		})
	}
}

// The caller notices a changed output root by comparing Root; LoadState must
// report the root the state was written for, not the one it was asked about.
func TestLoadStateKeepsRecordedRoot(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	if err := sampleState("/srv/old").Save(path); err != nil {
		t.Fatal(err)
	}
	got, err := LoadState(path, "/srv/new")
	if err != nil {
		t.Fatal(err)
	}
	if got.Root != "/srv/old" {
		t.Errorf("Root = %q, want the recorded /srv/old", got.Root)
	}
}

func TestStateSaveReplaces(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	// A state left by hand with loose permissions must not keep them.
	writeFile(t, path, `{"version":1,"root":"/srv/users","users":{"carol":{"k":{"dev":1,"ino":2,"ctime_ns":3}}}}`, 0o644)
	before := stateOf(t, path)

	want := sampleState("/srv/users")
	delete(want.Users, "bob")
	if err := want.Save(path); err != nil {
		t.Fatalf("Save: %v", err)
	}
	got, err := LoadState(path, "/srv/users")
	if err != nil {
		t.Fatal(err)
	}
	// A user dropped from the state must stay dropped, not be merged back.
	assertSameState(t, got, want)
	fi, st := lstat(t, path)
	if fi.Mode() != 0o600 {
		t.Errorf("mode %v after Save, want -rw-------", fi.Mode())
	}
	// A new inode means the old file was swapped out whole by a rename; one
	// rewritten in place could be read, or left after a crash, half written.
	if st.Ino == before.ino {
		t.Errorf("state rewritten in place (inode %d kept)", st.Ino)
	}
	assertNoStateTemps(t, dir)
}

// A Save that fails must leave the old state and no temporary file.
func TestStateSaveFailureKeepsOld(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	// rename(2) cannot replace a non-empty directory.
	if err := os.MkdirAll(filepath.Join(path, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	before := stateOf(t, path)
	if err := sampleState("/srv/users").Save(path); err == nil {
		t.Fatal("Save over a non-empty directory succeeded")
	}
	assertState(t, path, before)
	assertNoStateTemps(t, dir)
}

func TestLoadStateRejects(t *testing.T) {
	valid := filepath.Join(t.TempDir(), "valid.json")
	if err := sampleState("/srv/users").Save(valid); err != nil {
		t.Fatal(err)
	}
	whole, err := os.ReadFile(valid)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, content string
		says          string
	}{
		{"not JSON", "{not json", "parse"},
		{"empty", "", "parse"},
		{"cut short", string(whole[:len(whole)/2]), "parse"},
		{"wrong shape", `{"version":1,"users":["alice"]}`, "parse"},
		{"wrong shape of a record", `{"version":1,"users":{"alice":{"k":"x"}}}`, "parse"},
		{"data after the end", `{"version":1,"root":"/srv/users","users":{}}{}`, "parse"},
		{"not an object", `[1]`, "parse"},
		// An older binary must not prune by records whose meaning changed.
		{"newer version", `{"version":2,"root":"/srv/users","users":{}}`, "version 2"},
		{"version 0", `{"version":0,"root":"/srv/users","users":{}}`, "version 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.json")
			writeFile(t, path, tc.content, 0o600)
			s, err := LoadState(path, "/srv/users")
			if err == nil {
				t.Fatalf("LoadState = %+v, nil; want an error", s)
			}
			assertErrSays(t, err, path, tc.says)
		})
	}
	t.Run("a directory", func(t *testing.T) {
		path := t.TempDir()
		if _, err := LoadState(path, "/srv/users"); err == nil {
			t.Error("LoadState of a directory succeeded")
		} else {
			assertErrSays(t, err, path)
		}
	})
}

func assertNoStateTemps(t testing.TB, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".state-") {
			t.Errorf("temporary file %s left in %s", e.Name(), dir)
		}
	}
}

// waitClockPast returns once a change made now in dir would get a ctime
// later than ns. Kernels without fine-grained timestamps stamp everything
// within one tick alike, which would hide a chmod made right after Place.
func waitClockPast(t testing.TB, dir string, ns int64) {
	t.Helper()
	probe := filepath.Join(dir, "clock-probe")
	defer os.Remove(probe)
	deadline := time.Now().Add(hangTimeout)
	for {
		if err := os.WriteFile(probe, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, st := lstat(t, probe); st.Ctim.Nano() > ns {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("file system clock did not pass %d within %v", ns, hangTimeout)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestFileRecordMatches changes a placed file the ways a user might and
// checks that none of them leaves it looking like the file placed.
func TestFileRecordMatches(t *testing.T) {
	o := targetUser(t)
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, d *Dir, base string, rec FileRecord)
		want   bool
	}{
		{"as placed", func(*testing.T, *Dir, string, FileRecord) {}, true},
		{"read by its user", func(t *testing.T, d *Dir, _ string, _ FileRecord) {
			if _, err := os.ReadFile(d.Path("key")); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"chmodded", func(t *testing.T, d *Dir, base string, rec FileRecord) {
			waitClockPast(t, base, rec.CtimeNs)
			chmod(t, d.Path("key"), 0o600)
		}, false},
		{"chmodded to the same mode", func(t *testing.T, d *Dir, base string, rec FileRecord) {
			waitClockPast(t, base, rec.CtimeNs)
			chmod(t, d.Path("key"), FileMode)
		}, false},
		{"replaced by a copy", func(t *testing.T, d *Dir, _ string, _ FileRecord) {
			// Made while the original still exists, so it cannot reuse its inode.
			copyPath := d.Path("copy")
			writeFile(t, copyPath, "s3cret", FileMode)
			chown(t, copyPath, o.UID, o.GID)
			if err := os.Rename(copyPath, d.Path("key")); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"hard-linked", func(t *testing.T, d *Dir, _ string, _ FileRecord) {
			if err := os.Link(d.Path("key"), d.Path("key.link")); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"symlink to it", func(t *testing.T, d *Dir, _ string, _ FileRecord) {
			if err := os.Rename(d.Path("key"), d.Path("real")); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("real", d.Path("key")); err != nil {
				t.Fatal(err)
			}
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, base := newTree(t)
			d := newDir(t, tr, o)
			_, rec, err := d.Place("key", []byte("s3cret"))
			if err != nil {
				t.Fatal(err)
			}
			tc.change(t, d, base, rec)
			fi, _ := lstat(t, d.Path("key"))
			if got := rec.Matches(fi); got != tc.want {
				t.Errorf("Matches = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestFileRecordMatchesOnlyRegular takes the record from the very stat it is
// matched against, so that only the file's kind or link count can fail it.
func TestFileRecordMatchesOnlyRegular(t *testing.T) {
	for _, tc := range []struct {
		name string
		make func(t *testing.T, path string)
		want bool
	}{
		{"regular file", func(t *testing.T, path string) { writeFile(t, path, "x", 0o400) }, true},
		{"second link", func(t *testing.T, path string) {
			writeFile(t, path, "x", 0o400)
			if err := os.Link(path, path+".link"); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"symlink", func(t *testing.T, path string) {
			writeFile(t, path+".target", "x", 0o400)
			if err := os.Symlink(filepath.Base(path)+".target", path); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"directory", func(t *testing.T, path string) {
			if err := os.Mkdir(path, 0o700); err != nil {
				t.Fatal(err)
			}
		}, false},
		{"FIFO", func(t *testing.T, path string) { mkfifo(t, path, 0o600) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "key")
			tc.make(t, path)
			fi, _ := lstat(t, path)
			if got := recordOf(fi, time.Now()).Matches(fi); got != tc.want {
				t.Errorf("Matches = %v, want %v", got, tc.want)
			}
		})
	}
}

// Pruning trusts the record Place returns; it must describe the file now at
// the name, with the change time the rename gave it.
func TestPlaceRecord(t *testing.T) {
	o := targetUser(t)
	tr, _ := newTree(t)
	d := newDir(t, tr, o)
	path := d.Path("key")

	assertRecordIs := func(t *testing.T, rec FileRecord, from, to time.Time) {
		t.Helper()
		fi, st := lstat(t, path)
		if rec.Dev != st.Dev || rec.Ino != st.Ino || rec.CtimeNs != st.Ctim.Nano() {
			t.Errorf("record dev %d ino %d ctime %d; the file is dev %d ino %d ctime %d",
				rec.Dev, rec.Ino, rec.CtimeNs, st.Dev, st.Ino, st.Ctim.Nano())
		}
		if !rec.Matches(fi) {
			t.Error("the record does not match the file just placed")
		}
		if rec.PlacedAt.Before(from) || rec.PlacedAt.After(to) {
			t.Errorf("PlacedAt %v, not within the call (%v to %v)", rec.PlacedAt, from, to)
		}
	}

	from := time.Now()
	res, first, err := d.Place("key", []byte("one"))
	if err != nil || res != Written {
		t.Fatalf("Place = %v, %v; want Written", res, err)
	}
	assertRecordIs(t, first, from, time.Now())

	from = time.Now()
	res, again, err := d.Place("key", []byte("one"))
	if err != nil || res != Unchanged {
		t.Fatalf("Place of the same content = %v, %v; want Unchanged", res, err)
	}
	assertRecordIs(t, again, from, time.Now())
	if again.Ino != first.Ino || again.CtimeNs != first.CtimeNs {
		t.Errorf("Unchanged gave record %+v, want the one from Written %+v", again, first)
	}

	res, next, err := d.Place("key", []byte("two"))
	if err != nil || res != Written {
		t.Fatalf("Place of new content = %v, %v; want Written", res, err)
	}
	assertRecordIs(t, next, from, time.Now())
	// The replaced file is gone; its record must not vouch for the new one.
	if fi, _ := lstat(t, path); first.Matches(fi) {
		t.Error("the record of the replaced file matches its replacement")
	}
}

// Only a missing file is an empty state: taking an unreadable one for empty
// would stop pruning without a word.
func TestLoadStateUnreadable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads any file")
	}
	path := filepath.Join(t.TempDir(), "state.json")
	writeFile(t, path, "{}", 0)
	_, err := LoadState(path, "/srv/users")
	if err == nil || !errors.Is(err, fs.ErrPermission) {
		t.Errorf("LoadState of an unreadable file = %v; want a permission error", err)
	}
}

// Save streams the state one user at a time; what it writes must be exactly
// what json.Marshal would, so the file format does not depend on how it is
// written.
func TestStateEncodeMatchesMarshal(t *testing.T) {
	withRuns := sampleState("/srv/users")
	withRuns.Runs["alice"] = UserRun{At: time.Unix(1740832245, 5).UTC(), Keys: []KeyOutcome{
		{Key: "tls.key", Status: "failed", Error: `key "tls.key" not found`},
	}}
	nilUsers := NewState("/srv/users")
	nilUsers.Users = nil
	for _, tc := range []struct {
		name  string
		state *State
	}{
		{"empty", NewState("/srv/users")},
		{"records, no runs", sampleState("/srv/\"odd\" root")},
		{"records and runs", withRuns},
		{"nil users", nilUsers},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := json.Marshal(tc.state)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			w := bufio.NewWriter(&buf)
			if err := tc.state.encode(w); err != nil {
				t.Fatalf("encode: %v", err)
			}
			if got := buf.String(); got != string(want)+"\n" {
				t.Errorf("encode wrote\n%s\njson.Marshal gives\n%s", got, want)
			}
		})
	}
}

// LoadState reads files written by other builds: fields in any order,
// fields it does not know (such as the "path" each key's outcome carried
// before), null maps.
func TestLoadStateAcceptsOtherWriters(t *testing.T) {
	for _, tc := range []struct {
		name, content string
		users, runs   int
	}{
		{"version last", `{"users":{"carol":{"k":{"dev":1,"ino":2,"ctime_ns":3}}},"root":"/srv/users","version":1}`, 1, 0},
		{"unknown fields", `{"version":1,"root":"/srv/users","next":{"a":[1,{"b":null}]},"users":{}}`, 0, 0},
		{"runs with paths", `{"version":1,"root":"/srv/users","users":{},"runs":{"carol":{"at":"2025-03-01T12:30:45Z","keys":[{"key":"k","path":"/srv/users/carol/k","status":"written"}]}}}`, 0, 1},
		{"null maps", `{"version":1,"root":"/srv/users","users":null,"runs":null}`, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.json")
			writeFile(t, path, tc.content, 0o600)
			s, err := LoadState(path, "/srv/users")
			if err != nil {
				t.Fatalf("LoadState: %v", err)
			}
			if s.Root != "/srv/users" || len(s.Users) != tc.users || len(s.Runs) != tc.runs || s.Users == nil || s.Runs == nil {
				t.Errorf("LoadState = root %q, %d users, %d runs; want /srv/users, %d, %d, maps not nil", s.Root, len(s.Users), len(s.Runs), tc.users, tc.runs)
			}
			if rec := s.Users["carol"]["k"]; tc.users > 0 && (rec.Dev != 1 || rec.Ino != 2 || rec.CtimeNs != 3) {
				t.Errorf("carol's record = %+v, want dev 1 ino 2 ctime 3", rec)
			}
			if keys := s.Runs["carol"].Keys; tc.runs > 0 && (len(keys) != 1 || keys[0].Status != "written") {
				t.Errorf("carol's run = %+v, want one written key", s.Runs["carol"])
			}
		})
	}
}
