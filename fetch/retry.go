package fetch

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// Backoff bounds. The run's deadline, not a retry count, decides when to give
// up, so a Vault that recovers within the deadline is waited for.
const (
	backoffMin = 100 * time.Millisecond
	backoffMax = 5 * time.Second
	maxRetries = 1000
)

// retrier decides which failed requests to retry, logs each retry, and
// remembers the last cause, so that running out of time can say why.
type retrier struct {
	log  *slog.Logger
	last atomic.Pointer[string]
}

// check retries what may pass by itself: connection failures, 429, 5xx but
// 501, and Vault's 412 for a lagging standby. A 400, 403 or 404 will give the
// same answer again, so it is returned at once.
func (r *retrier) check(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || permanent(err) {
			return false, err
		}
		cause := networkMessage(err)
		r.last.Store(&cause)
		r.log.Warn("vault request failed; retrying", "error", cause)
		return true, nil
	}
	if !retryable(resp.StatusCode) {
		return false, nil
	}
	cause := "vault answered " + resp.Status
	r.last.Store(&cause)
	r.log.Warn("vault request failed; retrying", "path", resp.Request.URL.Path, "status", resp.Status)
	return true, nil
}

// lastCause is the most recent reason a request was retried, or "".
func (r *retrier) lastCause() string {
	if p := r.last.Load(); p != nil {
		return *p
	}
	return ""
}

// permanent reports errors no retry can cure: a certificate that does not
// verify stays unverified until an admin acts.
func permanent(err error) bool {
	var cve *tls.CertificateVerificationError
	var uae x509.UnknownAuthorityError
	var he x509.HostnameError
	var cie x509.CertificateInvalidError
	var rhe tls.RecordHeaderError // plain HTTP spoken to an HTTPS server, or the reverse
	return errors.As(err, &cve) || errors.As(err, &uae) || errors.As(err, &he) || errors.As(err, &cie) || errors.As(err, &rhe)
}

func retryable(code int) bool {
	switch {
	case code == http.StatusTooManyRequests, code == http.StatusPreconditionFailed:
		return true
	// A standby that has lost its leader redirects to the dead leader's
	// address. Following it would stick to a node that may never come back;
	// asking the configured address again reaches the new leader once one
	// is elected, as standbys forward to it.
	case code == http.StatusTemporaryRedirect:
		return true
	case code == http.StatusNotImplemented:
		return false
	}
	return code >= 500
}

// backoff waits exponentially longer with full jitter, so many hosts on one
// timer do not retry in step; a Retry-After from Vault is honoured between
// min/2 (a "0" would make a busy loop) and the cap.
func backoff(min, max time.Duration, attempt int, resp *http.Response) time.Duration {
	if resp != nil {
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
			// Compared in seconds: a huge value times a second would wrap negative.
			if time.Duration(s) > max/time.Second {
				return max
			}
			return minDuration(maxDuration(time.Duration(s)*time.Second, min/2), max)
		}
	}
	ceil := max
	if attempt < 30 {
		ceil = minDuration(min<<attempt, max)
	}
	return min/2 + rand.N(ceil-min/2+1)
}

func minDuration(a, b time.Duration) time.Duration {
	if a < b {
		return a
	}
	return b
}

func maxDuration(a, b time.Duration) time.Duration {
	if a > b {
		return a
	}
	return b
}
