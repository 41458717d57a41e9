package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/excalibur/user-secrets/config"
	"github.com/excalibur/user-secrets/fetch"
	"github.com/excalibur/user-secrets/perms"
)

type syncOptions struct {
	users  []string // empty: every user in the spec
	dryRun bool
}

// userJob is one user to sync, resolved on this system before Vault is asked.
type userJob struct {
	name  string
	keys  []string
	entry fetch.Entry
	dir   string // where the user's files go
	owner perms.Owner
	err   error // the user cannot be synced at all
}

// runSync does one sync: resolve users, log in, then read and place each
// user's keys. Only errors that stop the whole run are returned; everything
// per user or per key is in the report.
func runSync(ctx context.Context, spec *config.Spec, opts syncOptions) (*syncReport, error) {
	names, err := selectUsers(spec, opts.users)
	if err != nil {
		return nil, err
	}
	jobs := resolveUsers(spec, names)
	rep := &syncReport{dryRun: opts.dryRun}
	if len(jobs) == 0 {
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
			rep.lines = append(rep.lines, failKeys(j, err)...)
		}
		return rep, nil
	}
	defer tree.Close()
	syncUsers(ctx, sess, tree, jobs, spec.Vault.Concurrency, opts.dryRun, rep)
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

func login(ctx context.Context, spec *config.Spec) (*fetch.Session, error) {
	roleID, err := readCredential("role-id", spec.Auth.RoleIDFile)
	if err != nil {
		return nil, vaultError(err, "check auth.role_id_file in the spec")
	}
	secretID, err := readCredential("secret-id", spec.Auth.SecretIDFile)
	if err != nil {
		return nil, vaultError(err, "check auth.secret_id_file in the spec")
	}
	srv := fetch.Server{
		Address:       spec.Vault.Address,
		CACert:        spec.Vault.CACert,
		TLSServerName: spec.Vault.TLSServerName,
		Namespace:     spec.Vault.Namespace,
		Timeout:       spec.Vault.Timeout.Duration,
		MaxConns:      spec.Vault.Concurrency,
	}
	sess, err := fetch.Login(ctx, srv, fetch.AppRole{Mount: spec.Auth.Mount, RoleID: roleID, SecretID: secretID})
	if err != nil {
		return nil, vaultError(err, loginHint(err, spec))
	}
	return sess, nil
}

func loginHint(err error, spec *config.Spec) string {
	switch {
	case strings.Contains(err.Error(), "certificate"):
		return "set vault.ca_cert to the CA that signed vault's certificate"
	case errors.Is(err, fetch.ErrUnreachable):
		return fmt.Sprintf("is vault running at %q?", spec.Vault.Address)
	}
	return fmt.Sprintf("check that the role-id and secret-id in %q and %q are current", spec.Auth.RoleIDFile, spec.Auth.SecretIDFile)
}

// readCredential reads a role-id or secret-id file. Only one trailing newline
// is dropped: anything else is part of the credential.
func readCredential(what, path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read %s file: %w", what, err)
	}
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return "", fmt.Errorf("%s file %q is empty", what, path)
	}
	return s, nil
}

// revoke ends the run's token. It gets its own short deadline: the run's may
// have expired, and a token left behind would live until its TTL.
func revoke(sess *fetch.Session) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := sess.Revoke(ctx); err != nil {
		slog.Warn("the run's vault token was not revoked and stays valid until its TTL ends", "error", err)
	}
}

// syncUsers syncs jobs on up to workers goroutines; each owns one user at a
// time, so a user's directory is never written by two at once.
func syncUsers(ctx context.Context, sess *fetch.Session, tree *perms.Tree, jobs []userJob, workers int, dryRun bool, rep *syncReport) {
	results := make([][]keyLine, len(jobs))
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
	for _, lines := range results {
		rep.lines = append(rep.lines, lines...)
	}
}

func syncUser(ctx context.Context, sess *fetch.Session, tree *perms.Tree, j userJob, dryRun bool) []keyLine {
	if j.err != nil {
		return failKeys(j, j.err)
	}
	secret, err := sess.Read(ctx, j.entry)
	if err != nil {
		return failKeys(j, err)
	}
	dir, err := tree.UserDir(j.owner, !dryRun)
	if err != nil {
		return failKeys(j, err)
	}
	defer dir.Close()
	lines := make([]keyLine, len(j.keys))
	for i, key := range j.keys {
		lines[i] = placeKey(dir, secret, j.name, key, dryRun)
	}
	if err := dir.Sync(); err != nil {
		for i := range lines {
			if lines[i].Status == statusWritten {
				lines[i].fail(err)
			}
		}
	}
	return lines
}

func placeKey(dir *perms.Dir, secret *fetch.Secret, user, key string, dryRun bool) keyLine {
	line := keyLine{User: user, Key: key, Path: dir.Path(key)}
	value, err := secret.Field(key)
	if err != nil {
		return line.fail(err)
	}
	if dryRun {
		current, err := dir.Current(key, value)
		switch {
		case err != nil:
			return line.fail(err)
		case current:
			line.Status = statusUnchanged
		default:
			line.Status = statusWouldWrite
		}
		return line
	}
	res, err := dir.Place(key, value)
	if err != nil {
		return line.fail(err)
	}
	line.Status = statusUnchanged
	if res == perms.Written {
		line.Status = statusWritten
	}
	return line
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
