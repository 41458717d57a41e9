package main

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/excalibur/user-secrets/perms"
)

// lookupOwners must resolve a large spec the same as one lookup per user:
// users the enumeration finds and users it cannot (unknown here, as LDAP
// users would be) alike, each failing alone.
func TestLookupOwnersMany(t *testing.T) {
	data, err := os.ReadFile("/etc/passwd")
	if err != nil {
		t.Skipf("no /etc/passwd: %v", err)
	}
	var jobs []userJob
	for _, line := range strings.Split(string(data), "\n") {
		if name, _, ok := strings.Cut(line, ":"); ok && name != "" && !strings.ContainsAny(name[:1], "+-") {
			jobs = append(jobs, userJob{name: name})
		}
	}
	for i := 0; len(jobs) < listMin+2; i++ { // enough to enumerate, and some unknown
		jobs = append(jobs, userJob{name: fmt.Sprintf("us-test-nx-%d-%d", os.Getpid(), i)})
	}
	lookupOwners(jobs, 4)
	for _, j := range jobs {
		want, wantErr := perms.LookupOwner(j.name)
		switch {
		case wantErr != nil && j.err == nil:
			t.Errorf("user %q resolved to %+v; LookupOwner says %v", j.name, j.owner, wantErr)
		case wantErr != nil && j.err.Error() != wantErr.Error():
			t.Errorf("user %q: error %q, want %q", j.name, j.err, wantErr)
		case wantErr == nil && (j.err != nil || j.owner != want):
			t.Errorf("user %q = %+v, %v; want %+v", j.name, j.owner, j.err, want)
		}
	}
}
