package main

import (
	"cmp"
	"fmt"
	"slices"
	"sort"

	"github.com/excalibur/user-secrets/config"
	"github.com/excalibur/user-secrets/fetch"
	"github.com/excalibur/user-secrets/perms"
)

// selectUsers is the users a run syncs, sorted: every user in the spec, or
// those named with --user, each of which must be in it.
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

// resolveUsers looks up every user and named group through NSS once, before
// Vault is asked for anything.
func resolveUsers(spec *config.Spec, names []string) []userJob {
	jobs := make([]userJob, len(names))
	lookupGroup := memoGroups()
	for i, name := range names {
		jobs[i] = userJob{
			name:  name,
			entry: fetch.Entry{Mount: spec.KV.Mount, Version: spec.KV.Version, Path: spec.EntryPath(name)},
			mode:  perms.DirMode,
		}
		files := spec.Users[name].Files
		for k := range files {
			f := &files[k]
			fj := fileJob{File: f, perm: perms.Perm{Mode: f.Mode, GID: -1}}
			if f.Group != "" {
				fj.perm.GID, fj.err = lookupGroup(f.Group)
			}
			if f.Mode&0o044 != 0 {
				jobs[i].mode = perms.SharedDirMode
			}
			jobs[i].files = append(jobs[i].files, fj)
		}
		slices.SortFunc(jobs[i].files, func(a, b fileJob) int {
			return cmp.Or(cmp.Compare(a.Key, b.Key), cmp.Compare(a.Name, b.Name))
		})
	}
	lookupOwners(jobs, spec.Vault.Concurrency)
	return jobs
}

// listMin is how many users make one pass over every user NSS lists
// cheaper than looking each up by name.
const listMin = 32

// lookupOwners resolves every job's user through NSS. Many users are first
// looked for in one enumeration: with a large /etc/passwd, each getpwnam is
// a scan of it (7.4 s of CPU for 10,000 users in e2e/cmd/bench). Whoever is
// left (SSSD and LDAP do not enumerate by default) is looked up by name,
// several at a time, since there each lookup may be a round trip.
func lookupOwners(jobs []userJob, workers int) {
	var listed map[string]perms.Owner
	if len(jobs) >= listMin {
		want := make(map[string]bool, len(jobs))
		for _, j := range jobs {
			want[j.name] = true
		}
		listed = perms.ListOwners(want)
	}
	var rest []int
	for i := range jobs {
		if o, ok := listed[jobs[i].name]; ok {
			jobs[i].owner = o
		} else {
			rest = append(rest, i)
		}
	}
	parallel(len(rest), workers, func(k int) {
		j := &jobs[rest[k]]
		j.owner, j.err = perms.LookupOwner(j.name)
	})
}

// memoGroups looks each group up once per run: many files name the same one.
func memoGroups() func(string) (int, error) {
	type result struct {
		gid int
		err error
	}
	seen := map[string]result{}
	return func(name string) (int, error) {
		r, ok := seen[name]
		if !ok {
			r.gid, r.err = perms.LookupGroup(name)
			seen[name] = r
		}
		return r.gid, r.err
	}
}
