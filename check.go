package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/excalibur/user-secrets/config"
	"github.com/excalibur/user-secrets/fetch"
)

// Outcomes of check --online, per key.
const (
	checkOK           = "ok"
	checkMissingKey   = "missing key"
	checkMissingEntry = "missing entry"
	checkDenied       = "denied"
)

// checkOnline logs in and asks Vault, for every user, whether the role may
// read their entry, then reads it and looks for each key. It writes
// nothing: it is what an admin runs after editing the spec or a policy.
func checkOnline(c *cli.Context, spec *config.Spec) error {
	names, err := selectUsers(spec, c.StringSlice("user"))
	if err != nil {
		return err
	}
	jobs := resolveUsers(spec, names)
	ctx, cancel := context.WithTimeout(c.Context, spec.Vault.Timeout.Duration)
	defer cancel()
	sess, err := login(ctx, spec)
	if err != nil {
		return err
	}
	defer revoke(sess)
	rep := newReport(c.App.Writer, c.String("format"), spec.Output.Root, false)
	for _, j := range jobs {
		rep.add(checkUser(ctx, sess, j))
	}
	if err := rep.finish(); err != nil {
		return err
	}
	return rep.err()
}

func checkUser(ctx context.Context, sess *fetch.Session, j userJob) []keyLine {
	can, err := sess.CanRead(ctx, j.entry)
	if err != nil {
		return failKeys(j, err)
	}
	if !can {
		return keysWith(j, checkDenied, fmt.Errorf("the role may not read %s", j.entry))
	}
	secret, err := sess.Read(ctx, j.entry)
	switch {
	case errors.Is(err, fetch.ErrNotFound), errors.Is(err, fetch.ErrDeleted):
		return keysWith(j, checkMissingEntry, err)
	case errors.Is(err, fetch.ErrDenied):
		return keysWith(j, checkDenied, err)
	case err != nil:
		return failKeys(j, err)
	}
	lines := make([]keyLine, len(j.files))
	for i, f := range j.files {
		lines[i] = keyLine{User: j.name, Key: f.Key, Name: f.Name, Status: checkOK}
		if _, err := fileValue(secret, f); err != nil {
			lines[i].Status, lines[i].Error = checkMissingKey, err.Error()
			if secret.Has(f.Key) {
				lines[i].Status = statusFailed // there, but unusable (group, encoding)
			}
		}
	}
	return lines
}

// keysWith gives every key of a user one outcome and its cause.
func keysWith(j userJob, status string, err error) []keyLine {
	lines := failKeys(j, err)
	for i := range lines {
		lines[i].Status = status
	}
	return lines
}
