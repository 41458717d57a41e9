package perms

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// A held flock belongs to an open file description, so a second Lock in this
// very process conflicts with the first just as another run's would.

// lockWait is a wait long enough that running out of it would mean Lock
// missed a release, and short enough to end a broken test.
const lockWait = 10 * time.Second

func lockOK(t *testing.T, path string, exclusive bool) func() {
	t.Helper()
	unlock, err := Lock(context.Background(), path, exclusive, 0)
	if err != nil {
		t.Fatalf("Lock(%q, exclusive=%v): %v", path, exclusive, err)
	}
	t.Cleanup(unlock) // closing twice is harmless
	return unlock
}

func TestLockReleases(t *testing.T) {
	for _, exclusive := range []bool{true, false} {
		t.Run(map[bool]string{true: "exclusive", false: "shared"}[exclusive], func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "lock")
			unlock := lockOK(t, path, exclusive)
			if fi, _ := lstat(t, path); fi.Mode() != 0o600 {
				t.Errorf("lock file mode %v, want -rw-------", fi.Mode())
			}
			unlock()
			// No wait: the lock must be free the moment unlock returns.
			unlock, err := Lock(context.Background(), path, true, 0)
			if err != nil {
				t.Fatalf("exclusive Lock after unlock: %v", err)
			}
			unlock()
		})
	}
}

func TestLockConflicts(t *testing.T) {
	pid := "pid " + strconv.Itoa(os.Getpid())
	for _, tc := range []struct {
		name            string
		before          func(t *testing.T, path string) // an earlier, finished run
		held, exclusive bool
		wantLocked      bool
		says, notSays   string
	}{
		{name: "exclusive while exclusive", held: true, exclusive: true, wantLocked: true, says: pid},
		{name: "shared while exclusive", held: true, exclusive: false, wantLocked: true, says: pid},
		{name: "exclusive while shared", held: false, exclusive: true, wantLocked: true, says: "a dry run"},
		{name: "shared while shared", held: false, exclusive: false},
		// The pid a finished writer left must not be blamed for a dry run
		// holding the lock now: that process is gone, or its pid reused.
		{
			name: "exclusive while shared after a writer",
			before: func(t *testing.T, path string) {
				unlock := lockOK(t, path, true)
				unlock()
				if err := os.WriteFile(path, []byte("999999999\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			},
			held: false, exclusive: true, wantLocked: true, says: "a dry run", notSays: "999999999",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "lock")
			if tc.before != nil {
				tc.before(t, path)
			}
			lockOK(t, path, tc.held)

			const timeout = 200 * time.Millisecond
			start := time.Now()
			unlock, err := Lock(context.Background(), path, tc.exclusive, timeout)
			waited := time.Since(start)
			if !tc.wantLocked {
				if err != nil {
					t.Fatalf("Lock: %v; want it to share the lock", err)
				}
				unlock()
				return
			}
			if err == nil {
				unlock()
				t.Fatal("Lock succeeded while the lock was held")
			}
			if !errors.Is(err, ErrLocked) {
				t.Errorf("error %v is not ErrLocked", err)
			}
			assertErrSays(t, err, path, tc.says)
			if tc.notSays != "" && containsOutside(err.Error(), path, tc.notSays) {
				t.Errorf("error %q blames %s", err, tc.notSays)
			}
			// A busy lock is waited for, not given up on at the first try.
			if waited < timeout {
				t.Errorf("Lock gave up after %v, before its %v timeout", waited, timeout)
			}
			if waited > lockWait {
				t.Errorf("Lock took %v with a %v timeout", waited, timeout)
			}
		})
	}
}

// containsOutside is whether s says word other than inside path, which holds
// the test's name.
func containsOutside(s, path, word string) bool {
	return strings.Contains(strings.ReplaceAll(s, path, ""), word)
}

func TestLockWaitsForRelease(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	unlock := lockOK(t, path, true)

	var released atomic.Bool
	go func() {
		time.Sleep(100 * time.Millisecond)
		released.Store(true) // before the unlock, so a Lock that saw it free sees this
		unlock()
	}()
	start := time.Now()
	unlock2, err := Lock(context.Background(), path, true, lockWait)
	if err != nil {
		t.Fatalf("Lock with a %v wait: %v; the holder let go after ~100ms", lockWait, err)
	}
	defer unlock2()
	if !released.Load() {
		t.Error("Lock returned while the other holder still held the lock")
	}
	if d := time.Since(start); d >= lockWait {
		t.Errorf("Lock took %v, the whole timeout", d)
	}
}

// Ctrl-C or a systemd stop while waiting must end the wait, and say it was
// cut short rather than that the whole timeout passed.
func TestLockCancelled(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	lockOK(t, path, true)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		time.Sleep(100 * time.Millisecond)
		cancel()
	}()
	const timeout = time.Hour
	start := time.Now()
	unlock, err := Lock(ctx, path, true, timeout)
	if err == nil {
		unlock()
		t.Fatal("Lock succeeded while the lock was held")
	}
	if d := time.Since(start); d > lockWait {
		t.Errorf("cancelled Lock returned after %v", d)
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %q does not wrap context.Canceled", err)
	}
	// Still ErrLocked: another run holding the lock is why it waited at all.
	if !errors.Is(err, ErrLocked) {
		t.Errorf("error %q is not ErrLocked", err)
	}
	if containsOutside(err.Error(), path, timeout.String()) {
		t.Errorf("error %q claims the whole %v was waited", err, timeout)
	}
}

func TestLockOpenFails(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, base string) (path, target string)
	}{
		{"missing directory", func(t *testing.T, base string) (string, string) {
			return filepath.Join(base, "missing", "lock"), ""
		}},
		// The lock path is opened as root: a link must not redirect the
		// create or the pid write to a file someone else chose.
		{"symlink to a file", func(t *testing.T, base string) (string, string) {
			target := filepath.Join(base, "victim")
			writeFile(t, target, "keep me", 0o644)
			path := filepath.Join(base, "lock")
			if err := os.Symlink(target, path); err != nil {
				t.Fatal(err)
			}
			return path, target
		}},
		{"symlink to a missing file", func(t *testing.T, base string) (string, string) {
			path := filepath.Join(base, "lock")
			if err := os.Symlink(filepath.Join(base, "created"), path); err != nil {
				t.Fatal(err)
			}
			return path, filepath.Join(base, "created")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			path, target := tc.setup(t, base)
			var before state
			exists := target != "" && fileExists(target)
			if exists {
				before = stateOf(t, target)
			}
			unlock, err := Lock(context.Background(), path, true, time.Second)
			if err == nil {
				unlock()
				t.Fatal("Lock succeeded")
			}
			// Not "another run holds the lock": waiting longer would not help.
			if errors.Is(err, ErrLocked) {
				t.Errorf("error %q is ErrLocked", err)
			}
			assertErrSays(t, err, path)
			switch {
			case exists:
				assertState(t, target, before)
			case target != "":
				assertMissing(t, target)
			}
		})
	}
}

func fileExists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}
