package main

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
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
	keys  []string
	entry fetch.Entry
	dir   string // where the user's files go
	owner perms.Owner
	err   error                       // the user cannot be synced at all
	had   map[string]perms.FileRecord // what the last runs placed for them
}

// userResult is what syncing one user did: a line per key and the records
// of the files now in place, for the state file.
type userResult struct {
	lines   []keyLine
	records map[string]perms.FileRecord
}

// runSync does one sync: resolve users, take the lock, log in, read and place
// each user's keys, prune what the spec dropped, save the state. Only errors
// that stop the whole run are returned; the rest is in the report.
func runSync(ctx context.Context, spec *config.Spec, opts syncOptions) (*syncReport, error) {
	names, err := selectUsers(spec, opts.users)
	if err != nil {
		return nil, err
	}
	jobs := resolveUsers(spec, names)
	unlock, err := perms.Lock(ctx, spec.State.LockFile, !opts.dryRun, opts.lockTimeout)
	if err != nil {
		return nil, lockError(err)
	}
	defer unlock()
	state := loadState(spec)
	for i := range jobs {
		jobs[i].had = state.Users[jobs[i].name]
	}
	gone := goneUsers(spec, state, len(opts.users) > 0)
	rep := &syncReport{dryRun: opts.dryRun}
	if len(jobs) == 0 && len(gone) == 0 {
		return rep, nil
	}

	ctx, cancel := context.WithTimeout(ctx, spec.Vault.Timeout.Duration)
	defer cancel()
	sess, err := login(ctx, spec)
	if err != nil {
		return nil, err
	}
	defer revoke(sess)

	tree, err := perms.OpenTree(spec.Output.Root, !opts.dryRun)
	if err != nil {
		for _, j := range jobs {
			rep.add(failKeys(j, err))
		}
		return rep, nil
	}
	defer tree.Close()
	for i, res := range syncUsers(ctx, sess, tree, jobs, spec.Vault.Concurrency, opts.dryRun) {
		rep.add(res.lines)
		state.Users[jobs[i].name] = res.records
	}
	pruneGoneUsers(tree, state, gone, opts.dryRun, rep)
	rep.sort()
	if !opts.dryRun {
		saveState(spec, state)
	}
	return rep, nil
}

func selectUsers(spec *config.Spec, want []string) ([]string, error) {
	if len(want) == 0 {
		names := make([]string, 0, len(spec.Users))
		for name := range spec.Users {
			names = append(names, name)
		}
		sort.Strings(names)
		return names, nil
	}
	for _, name := range want {
		if _, ok := spec.Users[name]; !ok {
			return nil, usageError(fmt.Errorf("user %q is not in the spec %q", name, spec.File))
		}
	}
	names := slices.Clone(want)
	sort.Strings(names)
	return slices.Compact(names), nil
}

func resolveUsers(spec *config.Spec, names []string) []userJob {
	jobs := make([]userJob, len(names))
	for i, name := range names {
		keys := slices.Clone(spec.Users[name].Files)
		sort.Strings(keys)
		jobs[i] = userJob{
			name:  name,
			keys:  keys,
			entry: fetch.Entry{Mount: spec.KV.Mount, Version: spec.KV.Version, Path: spec.EntryPath(name)},
			dir:   filepath.Join(spec.Output.Root, name),
		}
		jobs[i].owner, jobs[i].err = perms.LookupOwner(name)
	}
	return jobs
}

// syncUsers syncs jobs on up to workers goroutines; each owns one user at a
// time, so a user's directory is never written by two at once.
func syncUsers(ctx context.Context, sess *fetch.Session, tree *perms.Tree, jobs []userJob, workers int, dryRun bool) []userResult {
	results := make([]userResult, len(jobs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, len(jobs)) {
		wg.Go(func() {
			for i := range next {
				results[i] = syncUser(ctx, sess, tree, jobs[i], dryRun)
			}
		})
	}
	for i := range jobs {
		next <- i
	}
	close(next)
	wg.Wait()
	return results
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
	dir, err := tree.UserDir(j.owner, !dryRun)
	if err != nil {
		keep.lines = failKeys(j, err)
		return keep
	}
	defer dir.Close()
	res := userResult{records: map[string]perms.FileRecord{}}
	for _, key := range j.keys {
		line, rec, ok := placeKey(dir, secret, j, key, dryRun)
		res.lines = append(res.lines, line)
		if ok {
			res.records[key] = rec
		} else if old, had := j.had[key]; had {
			res.records[key] = old // the last good copy is still there
		}
	}
	if err := dir.Sync(); err != nil {
		for i := range res.lines {
			if res.lines[i].Status == statusWritten {
				res.lines[i].fail(err)
			}
		}
	}
	res.lines = append(res.lines, pruneKeys(dir, j, res.records, dryRun)...)
	return res
}

// placeKey places one key, or in a dry run says whether it would. ok means
// the key is in place and rec describes it.
func placeKey(dir *perms.Dir, secret *fetch.Secret, j userJob, key string, dryRun bool) (line keyLine, rec perms.FileRecord, ok bool) {
	line = keyLine{User: j.name, Key: key, Path: dir.Path(key)}
	value, err := secret.Field(key)
	if err != nil {
		return line.fail(err), rec, false
	}
	if dryRun {
		current, err := dir.Current(key, value)
		switch {
		case err != nil:
			return line.fail(err), rec, false
		case current:
			line.Status = statusUnchanged
		default:
			line.Status = statusWouldWrite
		}
		return line, j.had[key], current
	}
	res, rec, err := dir.Place(key, value)
	if err != nil {
		return line.fail(err), rec, false
	}
	line.Status = statusUnchanged
	if res == perms.Written {
		line.Status = statusWritten
	} else if old, had := j.had[key]; had && old.Ino == rec.Ino && old.Dev == rec.Dev {
		rec.PlacedAt = old.PlacedAt // unchanged: it was placed back then
	}
	return line, rec, true
}

// failKeys fails every key of a user with one cause.
func failKeys(j userJob, err error) []keyLine {
	lines := make([]keyLine, len(j.keys))
	for i, key := range j.keys {
		lines[i] = keyLine{User: j.name, Key: key, Path: filepath.Join(j.dir, key)}
		lines[i].fail(err)
	}
	return lines
}
