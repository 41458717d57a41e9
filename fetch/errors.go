package fetch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/hashicorp/vault-client-go"
)

// Kinds of read failure a caller may want to tell apart.
var (
	ErrNotFound    = errors.New("not found")
	ErrDenied      = errors.New("permission denied")
	ErrDeleted     = errors.New("deleted")
	ErrUnreachable = errors.New("unreachable")
)

// vaultError is a Vault failure reduced to what is safe to print. The client's
// own error text may include a raw response body, so it is never shown.
type vaultError struct {
	kind error // one of the Err* kinds, or nil
	msg  string
}

func (e *vaultError) Error() string { return e.msg }
func (e *vaultError) Unwrap() error { return e.kind }

// describe is the package-level describe, naming the last retried failure
// when time ran out, which is what an admin needs to act on.
func (s *Session) describe(err error) error {
	d := describe(err)
	var ve *vaultError
	if errors.As(d, &ve) && errors.Is(err, context.DeadlineExceeded) {
		if cause := s.retry.lastCause(); cause != "" {
			ve.msg += " (last error: " + cause + ")"
		}
	}
	return d
}

// describe turns an error from the Vault client into a vaultError.
func describe(err error) error {
	var re *vault.ResponseError
	var rde *vault.RedirectError
	switch {
	case errors.As(err, &re):
		return &vaultError{kind: statusKind(re.StatusCode), msg: responseMessage(re)}
	case errors.As(err, &rde):
		return &vaultError{kind: ErrUnreachable, msg: fmt.Sprintf("vault answered %d, a redirect to %s, and kept doing so", rde.StatusCode, rde.RedirectLocation)}
	case errors.Is(err, context.DeadlineExceeded):
		return &vaultError{kind: ErrUnreachable, msg: "vault did not answer before the deadline"}
	case errors.Is(err, context.Canceled):
		return &vaultError{kind: ErrUnreachable, msg: "interrupted"}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return &vaultError{kind: ErrUnreachable, msg: networkMessage(ue.Err)}
	}
	return &vaultError{kind: ErrUnreachable, msg: networkMessage(err)}
}

func statusKind(code int) error {
	switch code {
	case http.StatusNotFound:
		return ErrNotFound
	case http.StatusForbidden:
		return ErrDenied
	}
	return nil
}

// responseMessage keeps Vault's own error strings, which name the failure
// ("permission denied", "invalid role or secret ID") without echoing input.
func responseMessage(re *vault.ResponseError) string {
	status := fmt.Sprintf("%d %s", re.StatusCode, http.StatusText(re.StatusCode))
	var reasons []string
	for _, e := range re.Errors {
		if e = tidy(e); e != "" {
			reasons = append(reasons, e)
		}
	}
	if len(reasons) == 0 {
		return "vault answered " + status
	}
	return fmt.Sprintf("vault answered %s: %s", status, strings.Join(reasons, "; "))
}

// tidy folds Vault's multi-line "1 error occurred:\n\t* x" texts into "x".
func tidy(s string) string {
	var parts []string
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "*"))
		if line == "" || strings.HasSuffix(line, "error occurred:") || strings.HasSuffix(line, "errors occurred:") {
			continue
		}
		parts = append(parts, line)
	}
	return strings.Join(parts, ", ")
}

func networkMessage(err error) string {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		return fmt.Sprintf("cannot connect to vault: %v", oe)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "vault did not answer before the deadline"
	}
	return fmt.Sprintf("cannot talk to vault: %v", err)
}

// deletedMessage explains a KV v2 404 whose body says the latest version was
// deleted or destroyed, or returns "" for a plain missing entry. The body of
// such a response carries metadata only, never data.
func deletedMessage(err error, where string) string {
	var re *vault.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusNotFound || len(re.RawResponseBytes) == 0 {
		return ""
	}
	var body struct {
		Data struct {
			Metadata struct {
				Version      json.Number `json:"version"`
				DeletionTime string      `json:"deletion_time"`
				Destroyed    bool        `json:"destroyed"`
			} `json:"metadata"`
		} `json:"data"`
	}
	if json.Unmarshal(re.RawResponseBytes, &body) != nil {
		return ""
	}
	m := body.Data.Metadata
	switch {
	case m.Destroyed:
		return fmt.Sprintf("latest version %s of %s was destroyed; write a new version", m.Version, where)
	case m.DeletionTime != "":
		return fmt.Sprintf("latest version %s of %s was deleted at %s; undelete it or write a new version", m.Version, where, m.DeletionTime)
	}
	return ""
}
