package fetch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"

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

// maxBody bounds what one read buffers. Vault refuses requests over 32 MiB
// by default (max_request_size), so no KV entry it stored is larger.
const maxBody = 32 << 20

// kv1Body and kv2Body are the answers to KV reads. The client's typed reads
// decode each answer twice into generic maps; decoding it once, into these,
// halves the JSON work of every read of a sync.
type kv1Body struct {
	Data map[string]any `json:"data"`
}

type kv2Body struct {
	Data struct {
		Data map[string]any `json:"data"`
	} `json:"data"`
}

// Read reads one KV entry. Errors wrap ErrNotFound, ErrDenied, ErrDeleted or
// ErrUnreachable where they apply, and explain what an admin can do.
func (s *Session) Read(ctx context.Context, e Entry) (*Secret, error) {
	body, err := s.get(ctx, e.apiPathEscaped())
	if err != nil {
		return nil, s.readError(err, e)
	}
	var fields map[string]any
	if e.Version == 1 {
		var b kv1Body
		err = json.Unmarshal(body, &b)
		fields = b.Data
	} else {
		var b kv2Body
		err = json.Unmarshal(body, &b)
		fields = b.Data.Data
	}
	if err != nil {
		// The decoder's message may quote the body; say only where it broke.
		return nil, fmt.Errorf("read %s: vault's answer is not the JSON of a KV v%d entry", e, e.Version)
	}
	return &Secret{Entry: e, fields: fields}, nil
}

// get sends one GET through the client (its retries, TLS, namespace and
// token) and returns the body of a 2xx answer. Any other answer is a
// *vault.ResponseError, as the client's typed calls return.
func (s *Session) get(ctx context.Context, path string) ([]byte, error) {
	if s.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.timeout)
		defer cancel()
	}
	resp, err := s.client.ReadRaw(ctx, path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	switch {
	case err != nil:
		return nil, err
	case len(body) > maxBody:
		return nil, fmt.Errorf("vault's answer is larger than %d MiB", maxBody>>20)
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return nil, responseError(resp.StatusCode, body)
	}
	return body, nil
}

// responseError is a non-2xx answer as the client reports one: Vault's error
// strings if the body has them, else the body, which describe never prints.
func responseError(status int, body []byte) *vault.ResponseError {
	var b struct {
		Errors []string `json:"errors"`
	}
	if json.Unmarshal(body, &b) == nil && len(b.Errors) > 0 {
		return &vault.ResponseError{StatusCode: status, Errors: b.Errors}
	}
	return &vault.ResponseError{StatusCode: status, RawResponseBytes: body}
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

// apiPathEscaped is apiPath as a request path, mount and entry path each
// escaped whole, as the client's typed KV calls do.
func (e Entry) apiPathEscaped() string {
	if e.Version == 1 {
		return url.PathEscape(e.Mount) + "/" + url.PathEscape(e.Path)
	}
	return url.PathEscape(e.Mount) + "/data/" + url.PathEscape(e.Path)
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
