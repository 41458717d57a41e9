package main

import (
	"log/slog"
	"slices"
	"strings"

	"github.com/excalibur/user-secrets/config"
	"github.com/excalibur/user-secrets/perms"
)

// loadState reads what earlier runs placed. A state that cannot be read is
// replaced by an empty one: files it listed are then never pruned, which is
// the safe side of losing it.
func loadState(spec *config.Spec) *perms.State {
	state, err := perms.LoadState(spec.State.File, spec.Output.Root)
	if err != nil {
		slog.Warn("starting a new state; files listed in the old one will not be pruned", "error", err)
		return perms.NewState(spec.Output.Root)
	}
	if state.Root != spec.Output.Root {
		slog.Warn("output root changed; files under the old root are no longer managed",
			"old", state.Root, "new", spec.Output.Root)
		return perms.NewState(spec.Output.Root)
	}
	return state
}

func saveState(spec *config.Spec, state *perms.State) {
	for name, recs := range state.Users {
		if len(recs) == 0 {
			delete(state.Users, name)
		}
	}
	for name := range state.Runs {
		if _, ok := spec.Users[name]; !ok && state.Users[name] == nil {
			delete(state.Runs, name) // gone from the spec and fully pruned
		}
	}
	if err := state.Save(spec.State.File); err != nil {
		// The files are in place; only pruning of keys dropped later suffers.
		slog.Warn("could not save the state file; keys removed from the spec later may not be pruned", "error", err)
	}
}

// withGoneUsers adds a job for each user the state knows but the spec no
// longer names, to prune their files, and sorts all jobs by user, the
// report's order. A run limited by --user leaves them alone.
func withGoneUsers(jobs []userJob, spec *config.Spec, state *perms.State, selected bool) []userJob {
	if selected {
		return jobs
	}
	for name, had := range state.Users {
		if _, ok := spec.Users[name]; !ok {
			jobs = append(jobs, userJob{name: name, gone: true, had: had})
		}
	}
	slices.SortFunc(jobs, func(a, b userJob) int { return strings.Compare(a.name, b.name) })
	return jobs
}

// pruneKeys removes the files of keys the spec no longer lists for a user
// whose entry was just read. records gains nothing; it loses what was pruned
// or is no longer ours, and keeps what could not be removed, to retry.
func pruneKeys(dir *perms.Dir, j userJob, records map[string]perms.FileRecord, dryRun bool) []keyLine {
	listed := map[string]bool{}
	for _, f := range j.files {
		listed[f.Name] = true
	}
	var lines []keyLine
	for key, rec := range j.had {
		if listed[key] {
			continue
		}
		line, keep := pruneFile(dir, j.name, key, rec, dryRun)
		if line != nil {
			lines = append(lines, *line)
		}
		if keep {
			records[key] = rec
		}
	}
	return lines
}

// pruneFile removes one file this tool placed, if it is still the very file
// placed. It returns the report line, if any, and whether to keep the record.
func pruneFile(dir *perms.Dir, user, key string, rec perms.FileRecord, dryRun bool) (line *keyLine, keep bool) {
	l := keyLine{User: user, Key: key, Name: key}
	ours, err := dir.Owns(key, rec)
	switch {
	case err != nil:
		l.fail(err)
		return &l, true
	case !ours:
		slog.Info("not pruning a file user-secrets did not write or that was changed since", "path", dir.Path(key))
		return nil, false
	case dryRun:
		l.Status = statusWouldRemove
		return &l, true
	}
	if err := dir.Remove(key); err != nil {
		l.fail(err)
		return &l, true
	}
	l.Status = statusRemoved
	return &l, false
}

// pruneGoneUser removes the files of a user dropped from the spec, then
// their directory if nothing else is left in it. Their entry is not read:
// the spec no longer asks for anything of theirs. records are what is
// still ours afterwards.
func pruneGoneUser(tree *perms.Tree, j userJob, dryRun bool) userResult {
	dir, err := tree.ExistingDir(j.name)
	if err != nil {
		return userResult{lines: []keyLine{{User: j.name, Status: statusFailed, Error: err.Error()}}, records: j.had}
	}
	left := map[string]perms.FileRecord{}
	lines := pruneKeys(dir, j, left, dryRun)
	dir.Close()
	if len(left) == 0 && !dryRun {
		if _, err := tree.RemoveIfEmpty(j.name); err != nil {
			slog.Warn("could not remove the directory of a user no longer in the spec", "error", err)
		}
	}
	return userResult{lines: lines, records: left}
}
