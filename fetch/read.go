package fetch

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/vault-client-go"
	"github.com/hashicorp/vault-client-go/schema"
)

// Entry names one KV entry.
type Entry struct {
	Mount   string
	Version int // 1 or 2
	Path    string
}

func (e Entry) String() string { return e.Mount + "/" + e.Path }

// Secret is the fields of one KV entry.
type Secret struct {
	Entry  Entry
	fields map[string]any
}

// Read reads one KV entry. Errors wrap ErrNotFound, ErrDenied, ErrDeleted or
// ErrUnreachable where they apply, and explain what an admin can do.
func (s *Session) Read(ctx context.Context, e Entry) (*Secret, error) {
	var (
		fields map[string]any
		err    error
	)
	if e.Version == 1 {
		var resp *vault.Response[map[string]any]
		resp, err = s.client.Secrets.KvV1Read(ctx, e.Path, vault.WithMountPath(e.Mount))
		if err == nil {
			fields = resp.Data
		}
	} else {
		var resp *vault.Response[schema.KvV2ReadResponse]
		resp, err = s.client.Secrets.KvV2Read(ctx, e.Path, vault.WithMountPath(e.Mount))
		if err == nil {
			fields = resp.Data.Data
		}
	}
	if err != nil {
		return nil, s.readError(err, e)
	}
	return &Secret{Entry: e, fields: fields}, nil
}

func (s *Session) readError(err error, e Entry) error {
	if msg := deletedMessage(err, e.String()); msg != "" {
		return &vaultError{kind: ErrDeleted, msg: msg}
	}
	d := s.describe(err)
	switch {
	case errors.Is(d, ErrNotFound):
		return &vaultError{kind: ErrNotFound, msg: fmt.Sprintf("no entry at %s", e)}
	case errors.Is(d, ErrDenied):
		return &vaultError{kind: ErrDenied, msg: fmt.Sprintf("permission denied reading %s; the role's policy must allow \"read\" on %s", e, e.apiPath())}
	}
	return fmt.Errorf("read %s: %w", e, d)
}

// apiPath is the path a Vault policy has to name for this entry.
func (e Entry) apiPath() string {
	if e.Version == 1 {
		return e.Mount + "/" + e.Path
	}
	return e.Mount + "/data/" + e.Path
}

// Field returns the value of one field as bytes. Only string fields can be
// written as files; anything else is an error naming the key, not its value.
func (s *Secret) Field(key string) ([]byte, error) {
	v, ok := s.fields[key]
	if !ok {
		return nil, fmt.Errorf("key %q not found in %s (fields present: %d)", key, s.Entry, len(s.fields))
	}
	str, ok := v.(string)
	if !ok {
		return nil, fmt.Errorf("key %q in %s is %s, not a string", key, s.Entry, jsonKind(v))
	}
	return []byte(str), nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	}
	return "a number"
}

// CanRead asks Vault whether the session's token may read the entry, without
// reading it: what `check --online` reports as "denied" before any read.
func (s *Session) CanRead(ctx context.Context, e Entry) (bool, error) {
	resp, err := s.client.System.QueryTokenSelfCapabilities(ctx,
		schema.QueryTokenSelfCapabilitiesRequest{Paths: []string{e.apiPath()}})
	if err != nil {
		return false, fmt.Errorf("ask capabilities on %s: %w", e.apiPath(), s.describe(err))
	}
	caps, _ := resp.Data[e.apiPath()].([]any)
	if caps == nil {
		caps, _ = resp.Data["capabilities"].([]any)
	}
	for _, c := range caps {
		if c == "read" || c == "root" {
			return true, nil
		}
	}
	return false, nil
}

// Has reports whether the entry has a field named key.
func (s *Secret) Has(key string) bool {
	_, ok := s.fields[key]
	return ok
}
