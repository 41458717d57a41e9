package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io/fs"
	"sync"
	"time"

	"github.com/excalibur/user-secrets/config"
	"github.com/excalibur/user-secrets/fetch"
	"github.com/excalibur/user-secrets/perms"
)

type syncOptions struct {
	users       []string // empty: every user in the spec
	dryRun      bool
	lockTimeout time.Duration
}

// userJob is one user to sync, resolved on this system before Vault is asked.
type userJob struct {
	name  string
	files []fileJob // sorted by key, then file name
	entry fetch.Entry
	owner perms.Owner
	err   error                       // the user cannot be synced at all
	gone  bool                        // no longer in the spec: only prune
	had   map[string]perms.FileRecord // by file name: what the last runs placed
	mode  fs.FileMode                 // of the user's directory
}

// fileJob is one key to place, with its owner group resolved. It points
// into the spec rather than copying it: 50,000 copies are 4 MiB.
type fileJob struct {
	*config.File
	perm perms.Perm
	err  error // the group could not be resolved
}

// userResult is what syncing one user did: a line per key and the records
// of the files now in place, for the state file.
type userResult struct {
	lines   []keyLine
	records map[string]perms.FileRecord // by file name
}

// runSync does one sync: resolve users, take the lock, log in, read and place
// each user's keys, prune what the spec dropped, save the state. Only errors
// that stop the whole run are returned; the rest is in the report.
func runSync(ctx context.Context, spec *config.Spec, opts syncOptions, rep *syncReport) error {
	names, err := selectUsers(spec, opts.users)
	if err != nil {
		return err
	}
	jobs := resolveUsers(spec, names)
	unlock, err := perms.Lock(ctx, spec.State.LockFile, !opts.dryRun, opts.lockTimeout)
	if err != nil {
		return lockError(err)
	}
	defer unlock()
	state := loadState(spec)
	for i := range jobs {
		jobs[i].had = state.Users[jobs[i].name]
	}
	jobs = withGoneUsers(jobs, spec, state, len(opts.users) > 0)
	if len(jobs) == 0 {
		return nil
	}

	ctx, cancel := context.WithTimeout(ctx, spec.Vault.Timeout.Duration)
	defer cancel()
	sess, err := login(ctx, spec)
	if err != nil {
		return err
	}
	defer revoke(sess)

	tree, err := perms.OpenTree(spec.Output.Root, !opts.dryRun)
	if err != nil {
		for _, j := range jobs {
			rep.add(failKeys(j, err))
		}
		return nil
	}
	defer tree.Close()
	syncAll(ctx, sess, tree, jobs, state, rep, spec.Vault.Concurrency)
	if !opts.dryRun {
		saveState(spec, state)
	}
	return nil
}

// parallel calls do(0) to do(n-1) on up to workers goroutines, each index
// once, and returns when all are done.
func parallel(n, workers int, do func(i int)) {
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Go(func() {
			for i := range next {
				do(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

// syncAll syncs every job, several users at a time but each user by one
// goroutine, so no directory is written by two. Each user's result goes into
// the state and the report as the user finishes: the previous run's records
// become garbage as they are replaced, and the report prints lines rather
// than keeping them. At 10,000 users, holding every result until the end
// doubled the peak heap.
func syncAll(ctx context.Context, sess *fetch.Session, tree *perms.Tree, jobs []userJob, state *perms.State, rep *syncReport, workers int) {
	now := time.Now()
	var mu sync.Mutex
	report := inOrder{rep: rep, waiting: map[int][]keyLine{}}
	parallel(len(jobs), workers, func(i int) {
		j := jobs[i]
		var res userResult
		if j.gone {
			res = pruneGoneUser(tree, j, rep.dryRun)
		} else {
			res = syncUser(ctx, sess, tree, j, rep.dryRun)
		}
		mu.Lock()
		defer mu.Unlock()
		state.Users[j.name] = res.records
		if !j.gone {
			state.Runs[j.name] = userRun(state.Runs[j.name], res.lines, now)
		}
		jobs[i].had = nil
		report.done(i, res.lines)
	})
}

// syncUser reads one user's entry and places each key. Until the entry has
// been read, nothing of the user's is touched and their records stand.
func syncUser(ctx context.Context, sess *fetch.Session, tree *perms.Tree, j userJob, dryRun bool) userResult {
	keep := userResult{records: j.had}
	if j.err != nil {
		keep.lines = failKeys(j, j.err)
		return keep
	}
	secret, err := sess.Read(ctx, j.entry)
	if err != nil {
		keep.lines = failKeys(j, err)
		return keep
	}
	dir, err := tree.UserDirMode(j.owner, !dryRun, j.mode)
	if err != nil {
		keep.lines = failKeys(j, err)
		return keep
	}
	defer dir.Close()
	res := userResult{records: map[string]perms.FileRecord{}}
	for _, f := range j.files {
		line, rec, ok := placeKey(dir, secret, j, f, dryRun)
		res.lines = append(res.lines, line)
		if ok {
			res.records[f.Name] = rec
		} else if old, had := j.had[f.Name]; had {
			res.records[f.Name] = old // the last good copy is still there
		}
	}
	// Only renames need the directory fsync; a run that changed nothing
	// would otherwise pay a journal commit per user.
	if wrote(res.lines) {
		if err := dir.Sync(); err != nil {
			for i := range res.lines {
				if res.lines[i].Status == statusWritten {
					res.lines[i].fail(err)
				}
			}
		}
	}
	res.lines = append(res.lines, pruneKeys(dir, j, res.records, dryRun)...)
	return res
}

// placeKey places one key, or in a dry run says whether it would. ok means
// the key is in place and rec describes it.
func placeKey(dir *perms.Dir, secret *fetch.Secret, j userJob, f fileJob, dryRun bool) (line keyLine, rec perms.FileRecord, ok bool) {
	line = keyLine{User: j.name, Key: f.Key, Name: f.Name}
	value, err := fileValue(secret, f)
	if err != nil {
		return line.fail(err), rec, false
	}
	line.Bytes = len(value)
	if dryRun {
		current, err := dir.CurrentAs(f.Name, value, f.perm)
		switch {
		case err != nil:
			return line.fail(err), rec, false
		case current:
			line.Status = statusUnchanged
		default:
			line.Status = statusWouldWrite
		}
		return line, j.had[f.Name], current
	}
	res, rec, err := dir.PlaceAs(f.Name, value, f.perm)
	if err != nil {
		return line.fail(err), rec, false
	}
	line.Status = statusUnchanged
	if res == perms.Written {
		line.Status = statusWritten
	} else if old, had := j.had[f.Name]; had && old.Ino == rec.Ino && old.Dev == rec.Dev {
		rec.PlacedAt = old.PlacedAt // unchanged: it was placed back then
	}
	return line, rec, true
}

// fileValue is the bytes to write for f: the field's value, decoded if the
// spec says it is base64. A decode error names the key, never the value.
func fileValue(secret *fetch.Secret, f fileJob) ([]byte, error) {
	if f.err != nil {
		return nil, f.err
	}
	value, err := secret.Field(f.Key)
	if err != nil || f.Encoding != "base64" {
		return value, err
	}
	out := make([]byte, base64.StdEncoding.DecodedLen(len(value)))
	n, err := base64.StdEncoding.Decode(out, bytes.TrimSpace(value))
	if err != nil {
		return nil, fmt.Errorf("key %q in %s is not valid base64 (%d bytes)", f.Key, secret.Entry, len(value))
	}
	return out[:n], nil
}

func wrote(lines []keyLine) bool {
	for _, l := range lines {
		if l.Status == statusWritten {
			return true
		}
	}
	return false
}

// userRun records a user's report lines for status and metrics.
func userRun(prev perms.UserRun, lines []keyLine, now time.Time) perms.UserRun {
	run := perms.UserRun{At: now, LastSuccess: prev.LastSuccess, Keys: make([]perms.KeyOutcome, 0, len(lines))}
	ok := true
	for _, l := range lines {
		run.Keys = append(run.Keys, perms.KeyOutcome{Key: l.Key, Status: l.Status, Error: l.Error})
		ok = ok && !isFailure(l.Status)
	}
	if ok {
		run.LastSuccess = now
	}
	return run
}

// failKeys fails every key of a user with one cause.
func failKeys(j userJob, err error) []keyLine {
	lines := make([]keyLine, len(j.files))
	for i, f := range j.files {
		lines[i] = keyLine{User: j.name, Key: f.Key, Name: f.Name}
		lines[i].fail(err)
	}
	return lines
}
