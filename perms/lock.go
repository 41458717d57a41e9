package perms

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrLocked means another run held the lock for the whole wait.
var ErrLocked = errors.New("another user-secrets run holds the lock")

// Lock takes an flock on path so that the timer, the activation script and
// ad hoc runs never write the same files at once. Writers take it exclusive,
// dry runs shared. It waits up to timeout; the returned func releases it.
// The kernel drops the lock when the process dies, so a crash leaves no stale
// lock behind.
func Lock(ctx context.Context, path string, exclusive bool, timeout time.Duration) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	deadline := time.Now().Add(timeout)
	for {
		err = syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) || ctx.Err() != nil {
			holder := lockHolder(f)
			f.Close()
			switch {
			case !errors.Is(err, syscall.EWOULDBLOCK):
				return nil, fmt.Errorf("lock %q: %w", path, err)
			case ctx.Err() != nil:
				// Cut short, not timed out: say so, and let the caller see why.
				return nil, fmt.Errorf("%w (%s); stopped waiting on %q: %w", ErrLocked, holder, path, ctx.Err())
			}
			return nil, fmt.Errorf("%w (%s) after waiting %s on %q", ErrLocked, holder, timeout, path)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Name the holder for whoever waits next. A shared holder clears the pid
	// a finished writer left, which would otherwise be blamed for the wait.
	f.Truncate(0)
	if exclusive {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() { f.Close() }, nil
}

func lockHolder(f *os.File) string {
	b := make([]byte, 32)
	n, _ := f.ReadAt(b, 0)
	if pid := strings.TrimSpace(string(b[:n])); pid != "" {
		return "pid " + pid
	}
	return "a dry run"
}
