package fetch

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestRetryable(t *testing.T) {
	for _, tc := range []struct {
		code int
		want bool
	}{
		{http.StatusTooManyRequests, true},
		{http.StatusPreconditionFailed, true}, // a standby not caught up yet
		{http.StatusInternalServerError, true},
		{http.StatusBadGateway, true},
		{http.StatusServiceUnavailable, true}, // sealed, or in standby
		{http.StatusGatewayTimeout, true},
		{http.StatusTemporaryRedirect, true}, // a standby pointing at a dead leader
		{http.StatusMovedPermanently, false},
		{http.StatusNotImplemented, false}, // asking again will not implement it
		{http.StatusOK, false},
		{http.StatusBadRequest, false},
		{http.StatusForbidden, false},
		{http.StatusNotFound, false},
	} {
		if got := retryable(tc.code); got != tc.want {
			t.Errorf("retryable(%d) = %v, want %v", tc.code, got, tc.want)
		}
	}
}

// samples is enough draws that a bound broken even a few percent of the
// time shows, and that the largest draw comes close to the ceiling.
const samples = 2000

func TestBackoffBounds(t *testing.T) {
	for _, tc := range []struct {
		name     string
		min, max time.Duration
	}{
		{"configured", backoffMin, backoffMax},
		{"other bounds", time.Second, 3 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			noHeader := &http.Response{Header: http.Header{}}
			for attempt := range 64 {
				ceil := tc.max
				if attempt < 30 {
					ceil = min(tc.min<<attempt, tc.max)
				}
				for i := range samples {
					resp := noHeader
					if i%2 == 0 {
						resp = nil // a connection error has no response
					}
					d := backoff(tc.min, tc.max, attempt, resp)
					if d < tc.min/2 || d > ceil {
						t.Fatalf("attempt %d: backoff %v, want within [%v, %v]", attempt, d, tc.min/2, ceil)
					}
				}
			}
		})
	}
}

func TestBackoffGrows(t *testing.T) {
	longest := func(attempt int) time.Duration {
		var m time.Duration
		for range samples {
			m = max(m, backoff(backoffMin, backoffMax, attempt, nil))
		}
		return m
	}
	first, sixth := longest(0), longest(5)
	if first >= sixth {
		t.Errorf("longest wait %v on the first retry, %v on the sixth; want it to grow", first, sixth)
	}
	// Full jitter: hosts on one timer must not all wait the same.
	seen := map[time.Duration]bool{}
	for range 100 {
		seen[backoff(backoffMin, backoffMax, 5, nil)] = true
	}
	if len(seen) < 10 {
		t.Errorf("100 waits took only %d values; want them spread", len(seen))
	}
}

func TestBackoffRetryAfter(t *testing.T) {
	const attempt = 0 // its own range, [50ms, 100ms], tells a header ignored
	for _, tc := range []struct {
		name, header string
		want         time.Duration // 0: fell back to the exponential range
	}{
		{"seconds", "2", 2 * time.Second},
		{"over the cap", "3600", backoffMax},
		// Times a second would overflow a Duration and turn negative.
		{"huge", "9223372037", backoffMax},
		// Honoured literally it is a busy loop of requests against a Vault
		// that just said it is overloaded.
		{"zero", "0", backoffMin / 2},
		{"HTTP date", "Wed, 21 Oct 2015 07:28:00 GMT", 0},
		{"negative", "-5", 0},
		{"fraction", "1.5", 0},
		{"beyond int", "99999999999999999999999", 0},
		{"empty", "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := &http.Response{StatusCode: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {tc.header}}}
			for range 100 {
				got := backoff(backoffMin, backoffMax, attempt, resp)
				if tc.want != 0 && got != tc.want {
					t.Fatalf("backoff with Retry-After %q = %v, want %v", tc.header, got, tc.want)
				}
				if tc.want == 0 && (got < backoffMin/2 || got > backoffMin) {
					t.Fatalf("backoff with Retry-After %q = %v, want the first retry's [%v, %v]", tc.header, got, backoffMin/2, backoffMin)
				}
			}
		})
	}
}

// token is a recognizable header value that must never reach a log.
const token = "hvs.TOKEN-MUST-NOT-BE-LOGGED"

func response(t *testing.T, code int) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "https://vault.example:8200/v1/kv/data/app", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Vault-Token", token)
	return &http.Response{
		StatusCode: code,
		Status:     strconv.Itoa(code) + " " + http.StatusText(code), // as net/http sets it
		Header:     http.Header{"X-Vault-Token": {token}, "Set-Cookie": {token}},
		Body:       io.NopCloser(strings.NewReader(`{"data":{"password":"` + token + `"}}`)),
		Request:    req,
	}
}

func urlError(err error) error {
	return &url.Error{Op: "Get", URL: "https://vault.example:8200/v1/kv/data/app", Err: err}
}

func TestCheck(t *testing.T) {
	refused := urlError(&net.OpError{Op: "dial", Net: "tcp",
		Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8200},
		Err:  os.NewSyscallError("connect", syscall.ECONNREFUSED)})
	cert := &x509.Certificate{}
	for _, tc := range []struct {
		name      string
		cancelled bool
		code      int // a response with this status, unless err
		err       error
		retry     bool
		wantErr   error  // errors.Is target; nil means no error
		cause     string // in lastCause after a retry
	}{
		{name: "503", code: 503, retry: true, cause: "503"},
		{name: "429", code: 429, retry: true, cause: "429"},
		{name: "412", code: 412, retry: true, cause: "412"},
		{name: "403", code: 403},
		{name: "404", code: 404},
		{name: "400", code: 400},
		{name: "501", code: 501},
		{name: "200", code: 200},
		{name: "connection refused", err: refused, retry: true, cause: "connection refused"},
		{name: "connection reset", err: urlError(&net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}), retry: true, cause: "connection reset"},
		// A certificate that did not verify stays so until an admin acts;
		// retrying would only hide the reason behind "deadline exceeded".
		{name: "unknown authority", err: urlError(&tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{Cert: cert}}), wantErr: errAny},
		{name: "unknown authority bare", err: urlError(x509.UnknownAuthorityError{Cert: cert}), wantErr: errAny},
		{name: "wrong host name", err: urlError(&tls.CertificateVerificationError{Err: x509.HostnameError{Certificate: cert, Host: "vault"}}), wantErr: errAny},
		{name: "expired", err: urlError(&tls.CertificateVerificationError{Err: x509.CertificateInvalidError{Cert: cert, Reason: x509.Expired}}), wantErr: errAny},
		{name: "other verification failure", err: urlError(&tls.CertificateVerificationError{Err: errors.New("x509: negative serial number")}), wantErr: errAny},
		{name: "plain HTTP server", err: urlError(tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}), wantErr: errAny},
		{name: "request deadline", err: urlError(context.DeadlineExceeded), wantErr: context.DeadlineExceeded},
		{name: "cancelled, 503", cancelled: true, code: 503, wantErr: context.Canceled},
		{name: "cancelled, refused", cancelled: true, err: refused, wantErr: context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			r := &retrier{log: slog.New(slog.NewTextHandler(&logs, nil))}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.cancelled {
				cancel()
			}
			var resp *http.Response
			if tc.err == nil {
				resp = response(t, tc.code)
			}

			retry, err := r.check(ctx, resp, tc.err)
			if retry != tc.retry {
				t.Errorf("check retries: %v, want %v", retry, tc.retry)
			}
			switch {
			case tc.wantErr == nil && err != nil:
				t.Errorf("check error: %v, want none", err)
			case tc.wantErr == errAny && err == nil:
				t.Error("check returned no error; the failure would be lost")
			case tc.wantErr != nil && tc.wantErr != errAny && !errors.Is(err, tc.wantErr):
				t.Errorf("check error: %v, want %v", err, tc.wantErr)
			}

			// One line per retry is the only trace of a flapping Vault;
			// nothing but a retry may log, or quiet runs become noisy.
			wantLines := 0
			if tc.retry {
				wantLines = 1
			}
			if n := strings.Count(logs.String(), "retrying"); n != wantLines {
				t.Errorf("%d retry warnings logged, want %d:\n%s", n, wantLines, logs.String())
			}
			if strings.Contains(logs.String(), token) {
				t.Errorf("log shows a header or body value:\n%s", logs.String())
			}
			if got := r.lastCause(); tc.retry && !strings.Contains(got, tc.cause) {
				t.Errorf("lastCause = %q, want it to say %q", got, tc.cause)
			} else if !tc.retry && got != "" {
				t.Errorf("lastCause = %q after a call that was not retried", got)
			}
		})
	}
}

// errAny stands for "some error, whichever the transport gave".
var errAny = errors.New("any error")

// The cause a deadline message names is the latest, not the first.
func TestCheckLastCause(t *testing.T) {
	r := &retrier{log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if got := r.lastCause(); got != "" {
		t.Errorf("lastCause before any retry = %q, want empty", got)
	}
	ctx := context.Background()
	r.check(ctx, response(t, 503), nil)
	r.check(ctx, nil, urlError(&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}))
	if got := r.lastCause(); !strings.Contains(got, "connection refused") || strings.Contains(got, "503") {
		t.Errorf("lastCause = %q, want the refused connection", got)
	}
	// A final answer that is not retried leaves the last retry's cause.
	r.check(ctx, response(t, 404), nil)
	if got := r.lastCause(); !strings.Contains(got, "connection refused") {
		t.Errorf("lastCause = %q after a 404, want the refused connection kept", got)
	}
}
