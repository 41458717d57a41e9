package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/hashicorp/vault-client-go"
)

// rawSecret stands for whatever a response body carries; the client keeps
// unparsed bodies in RawResponseBytes and prints them in its Error().
const rawSecret = "RAW-BODY-VALUE-MUST-NOT-SHOW"

func TestDescribe(t *testing.T) {
	refused := urlError(&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)})
	for _, tc := range []struct {
		name string
		err  error
		kind error
		msg  string // the whole message, or a part of it when partial
		part bool
	}{
		{
			name: "403 as Vault words it",
			err:  &vault.ResponseError{StatusCode: 403, Errors: []string{"1 error occurred:\n\t* permission denied\n\n"}},
			kind: ErrDenied, msg: "vault answered 403 Forbidden: permission denied",
		},
		{
			name: "wrapped",
			err:  fmt.Errorf("read: %w", &vault.ResponseError{StatusCode: 403, Errors: []string{"permission denied"}}),
			kind: ErrDenied, msg: "vault answered 403 Forbidden: permission denied",
		},
		{
			name: "404 without reasons",
			err:  &vault.ResponseError{StatusCode: 404},
			kind: ErrNotFound, msg: "vault answered 404 Not Found",
		},
		{
			name: "several reasons",
			err: &vault.ResponseError{StatusCode: 400, Errors: []string{
				"2 errors occurred:\n\t* invalid role or secret ID\n\t* missing client token\n\n", "", "  \n"}},
			msg: "vault answered 400 Bad Request: invalid role or secret ID, missing client token",
		},
		{
			name: "unparsed body",
			err:  &vault.ResponseError{StatusCode: 502, RawResponseBytes: []byte(`<html>` + rawSecret + `</html>`)},
			msg:  "vault answered 502 Bad Gateway",
		},
		{
			name: "unparsed 404 body",
			err:  &vault.ResponseError{StatusCode: 404, RawResponseBytes: []byte(`{"data":{"data":{"password":"` + rawSecret + `"}}}`)},
			kind: ErrNotFound, msg: "vault answered 404 Not Found",
		},
		{name: "deadline", err: context.DeadlineExceeded, kind: ErrUnreachable, msg: "vault did not answer before the deadline"},
		{name: "deadline in a url.Error", err: urlError(context.DeadlineExceeded), kind: ErrUnreachable, msg: "vault did not answer before the deadline"},
		{name: "interrupted", err: context.Canceled, kind: ErrUnreachable, msg: "interrupted"},
		{name: "refused", err: refused, kind: ErrUnreachable, msg: "cannot connect to vault: dial tcp: connect: connection refused"},
		{name: "other transport error", err: urlError(io.ErrUnexpectedEOF), kind: ErrUnreachable, msg: "cannot talk to vault: unexpected EOF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := describe(tc.err)
			if d.Error() != tc.msg {
				t.Errorf("describe = %q, want %q", d, tc.msg)
			}
			if strings.Contains(d.Error(), rawSecret) {
				t.Errorf("describe shows the response body: %q", d)
			}
			for _, kind := range []error{ErrNotFound, ErrDenied, ErrDeleted, ErrUnreachable} {
				if errors.Is(d, kind) != (kind == tc.kind) {
					t.Errorf("errors.Is(%q, %v) = %v", d, kind, kind != tc.kind)
				}
			}
		})
	}
}

// Running out of time says why the retries kept failing.
func TestSessionDescribeNamesLastCause(t *testing.T) {
	s := &Session{retry: &retrier{log: slog.New(slog.NewTextHandler(io.Discard, nil))}}
	if got := s.describe(context.DeadlineExceeded).Error(); got != "vault did not answer before the deadline" {
		t.Errorf("with no retry yet: %q", got)
	}
	s.retry.check(context.Background(), response(t, 503), nil)
	got := s.describe(context.DeadlineExceeded)
	if want := "vault did not answer before the deadline (last error: vault answered 503 Service Unavailable)"; got.Error() != want {
		t.Errorf("describe = %q, want %q", got, want)
	}
	if !errors.Is(got, ErrUnreachable) {
		t.Errorf("%q is not ErrUnreachable", got)
	}
	// A definite answer is its own reason; an earlier retry is beside the point.
	if got := s.describe(&vault.ResponseError{StatusCode: 403}).Error(); got != "vault answered 403 Forbidden" {
		t.Errorf("describe of a 403 = %q", got)
	}
}

func TestDeletedMessage(t *testing.T) {
	body := func(meta string) []byte {
		return []byte(`{"request_id":"x","data":{"data":null,"metadata":` + meta + `},"warnings":null}`)
	}
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{
			name: "deleted",
			err: &vault.ResponseError{StatusCode: 404, RawResponseBytes: body(
				`{"created_time":"2025-01-01T00:00:00Z","deletion_time":"2025-02-03T04:05:06.7Z","destroyed":false,"version":3}`)},
			want: "latest version 3 of kv/app was deleted at 2025-02-03T04:05:06.7Z; undelete it or write a new version",
		},
		{
			name: "destroyed",
			err: &vault.ResponseError{StatusCode: 404, RawResponseBytes: body(
				`{"created_time":"2025-01-01T00:00:00Z","deletion_time":"","destroyed":true,"version":12}`)},
			want: "latest version 12 of kv/app was destroyed; write a new version",
		},
		{
			// Destroying after deleting keeps the deletion time; what can
			// be done is what destroying leaves.
			name: "deleted, then destroyed",
			err: &vault.ResponseError{StatusCode: 404, RawResponseBytes: body(
				`{"deletion_time":"2025-02-03T04:05:06Z","destroyed":true,"version":2}`)},
			want: "latest version 2 of kv/app was destroyed; write a new version",
		},
		{
			name: "wrapped",
			err: fmt.Errorf("x: %w", &vault.ResponseError{StatusCode: 404, RawResponseBytes: body(
				`{"deletion_time":"2025-02-03T04:05:06Z","destroyed":false,"version":1}`)}),
			want: "latest version 1 of kv/app was deleted at 2025-02-03T04:05:06Z; undelete it or write a new version",
		},
		{name: "plain 404", err: &vault.ResponseError{StatusCode: 404, Errors: []string{}}},
		{name: "404 metadata of a live version", err: &vault.ResponseError{StatusCode: 404, RawResponseBytes: body(`{"deletion_time":"","destroyed":false,"version":1}`)}},
		{name: "404 not JSON", err: &vault.ResponseError{StatusCode: 404, RawResponseBytes: []byte("<html>not found</html>")}},
		{name: "deleted body on a 500", err: &vault.ResponseError{StatusCode: 500, RawResponseBytes: body(`{"deletion_time":"2025-02-03T04:05:06Z","version":1}`)}},
		{name: "not a response", err: context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := deletedMessage(tc.err, "kv/app"); got != tc.want {
				t.Errorf("deletedMessage = %q, want %q", got, tc.want)
			}
		})
	}
}

// readError is what a user sees for a key that cannot be read; it must say
// what to do and keep the kind callers count failures by.
func TestReadError(t *testing.T) {
	s := &Session{retry: &retrier{log: slog.New(slog.NewTextHandler(io.Discard, nil))}}
	for _, tc := range []struct {
		name  string
		entry Entry
		err   error
		kind  error
		msg   string
	}{
		{"denied, KV v2", Entry{Mount: "kv", Version: 2, Path: "team/app"}, &vault.ResponseError{StatusCode: 403, Errors: []string{"permission denied"}},
			ErrDenied, `permission denied reading kv/team/app; the role's policy must allow "read" on kv/data/team/app`},
		{"denied, KV v1", Entry{Mount: "secret", Version: 1, Path: "app"}, &vault.ResponseError{StatusCode: 403},
			ErrDenied, `permission denied reading secret/app; the role's policy must allow "read" on secret/app`},
		{"missing", Entry{Mount: "kv", Version: 2, Path: "app"}, &vault.ResponseError{StatusCode: 404},
			ErrNotFound, "no entry at kv/app"},
		{"deleted", Entry{Mount: "kv", Version: 2, Path: "app"}, &vault.ResponseError{StatusCode: 404,
			RawResponseBytes: []byte(`{"data":{"metadata":{"deletion_time":"2025-02-03T04:05:06Z","version":4}}}`)},
			ErrDeleted, "latest version 4 of kv/app was deleted at 2025-02-03T04:05:06Z; undelete it or write a new version"},
		{"sealed", Entry{Mount: "kv", Version: 2, Path: "app"}, &vault.ResponseError{StatusCode: 503, Errors: []string{"Vault is sealed"}},
			nil, "read kv/app: vault answered 503 Service Unavailable: Vault is sealed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := s.readError(tc.err, tc.entry)
			if got.Error() != tc.msg {
				t.Errorf("readError = %q, want %q", got, tc.msg)
			}
			for _, kind := range []error{ErrNotFound, ErrDenied, ErrDeleted, ErrUnreachable} {
				if errors.Is(got, kind) != (kind == tc.kind) {
					t.Errorf("errors.Is(%q, %v) = %v", got, kind, kind != tc.kind)
				}
			}
		})
	}
}

// A non-2xx answer to a raw read must become the same error the client's
// typed calls give, so readError and describe classify it alike.
func TestResponseError(t *testing.T) {
	for _, tc := range []struct {
		name   string
		body   string
		errors []string
		raw    bool
	}{
		{"vault's errors", `{"errors":["permission denied"]}`, []string{"permission denied"}, false},
		{"deleted version, metadata only", `{"data":{"metadata":{"deletion_time":"2025-02-03T04:05:06Z","version":4}}}`, nil, true},
		{"empty errors", `{"errors":[]}`, nil, true},
		{"not JSON", `<html>bad gateway</html>`, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			re := responseError(404, []byte(tc.body))
			if re.StatusCode != 404 || !slices.Equal(re.Errors, tc.errors) || (len(re.RawResponseBytes) > 0) != tc.raw {
				t.Errorf("responseError = status %d, errors %q, %d raw bytes; want 404, %q, raw %t",
					re.StatusCode, re.Errors, len(re.RawResponseBytes), tc.errors, tc.raw)
			}
		})
	}
}

// Request paths escape the mount and the entry path whole, as the client's
// typed KV calls did, so the same names reach Vault the same way.
func TestAPIPathEscaped(t *testing.T) {
	for _, tc := range []struct {
		entry Entry
		want  string
	}{
		{Entry{Mount: "secret", Version: 2, Path: "excalibur/users/jo"}, "secret/data/excalibur%2Fusers%2Fjo"},
		{Entry{Mount: "kv/team", Version: 1, Path: "a b?#%"}, "kv%2Fteam/a%20b%3F%23%25"},
	} {
		if got := tc.entry.apiPathEscaped(); got != tc.want {
			t.Errorf("%+v: apiPathEscaped = %q, want %q", tc.entry, got, tc.want)
		}
	}
}
