package perms

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

func TestLookupOwner(t *testing.T) {
	self := selfOwner(t).Name
	for _, tc := range []struct {
		name string
		user func(t *testing.T) string
	}{
		{"current user", func(*testing.T) string { return self }},
		// A user made a moment ago, as on a host provisioned just before
		// the first run; needs root to create.
		{"new system user", func(t *testing.T) string { return systemUser(t).Name }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := tc.user(t)
			got, err := LookupOwner(name)
			if err != nil {
				t.Fatalf("LookupOwner(%q): %v", name, err)
			}
			// id(1) is a second opinion from outside Go's os/user.
			want := Owner{Name: name, UID: idOf(t, "-u", name), GID: idOf(t, "-g", name)}
			if got != want {
				t.Errorf("LookupOwner(%q) = %+v, want %+v", name, got, want)
			}
		})
	}
}

func TestLookupOwnerCurrentUID(t *testing.T) {
	if got := selfOwner(t); got.UID != os.Getuid() {
		t.Errorf("current user resolves to uid %d, process runs as %d", got.UID, os.Getuid())
	}
}

func TestLookupOwnerUnknown(t *testing.T) {
	// Random, so a leftover or real user cannot make it resolve.
	name := "us-test-nx" + randomHex(4)
	o, err := LookupOwner(name)
	if err == nil {
		t.Fatalf("LookupOwner(%q) = %+v; want an error", name, o)
	}
	for _, want := range []string{"does not exist on this system", strconv.Quote(name)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func idOf(t *testing.T, flag, name string) int {
	t.Helper()
	out, err := exec.Command("id", flag, name).Output()
	if err != nil {
		t.Skipf("id %s %s: %v", flag, name, err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("id %s %s printed %q", flag, name, out)
	}
	return n
}

// passwdNames is every user name in /etc/passwd, in file order: what the
// files source of NSS enumerates, read without NSS.
func passwdNames(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile("/etc/passwd")
	if err != nil {
		t.Skipf("no /etc/passwd to compare with: %v", err)
	}
	var names []string
	for _, line := range strings.Split(string(data), "\n") {
		if name, _, ok := strings.Cut(line, ":"); ok && name != "" && !strings.HasPrefix(name, "+") && !strings.HasPrefix(name, "-") {
			names = append(names, name)
		}
	}
	return names
}

// ListOwners must agree with LookupOwner on every user it lists, return
// only names asked for, and leave out names no source has.
func TestListOwners(t *testing.T) {
	names := passwdNames(t)
	missing := "us-test-nx" + randomHex(4)
	for _, tc := range []struct {
		name string
		want []string
	}{
		{"every local user", names},
		{"one local user and one unknown", []string{names[0], missing}},
		{"only unknown", []string{missing}},
		{"nothing", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := map[string]bool{}
			for _, n := range tc.want {
				want[n] = true
			}
			got := ListOwners(want)
			if _, ok := got[missing]; ok {
				t.Errorf("ListOwners found %q, which no source has", missing)
			}
			for name, o := range got {
				if !want[name] {
					t.Errorf("ListOwners returned %q, which was not asked for", name)
					continue
				}
				if byName, err := LookupOwner(name); err != nil || o != byName {
					t.Errorf("ListOwners: %q = %+v; LookupOwner says %+v, %v", name, o, byName, err)
				}
			}
			if !cgoEnabled {
				return // nothing is listed; every user is looked up by name
			}
			// Every local user is in /etc/passwd, which NSS enumerates.
			for name := range want {
				if _, ok := got[name]; !ok {
					if o, err := LookupOwner(name); err == nil {
						t.Errorf("ListOwners left out %q, which LookupOwner finds (%+v)", name, o)
					}
				}
			}
		})
	}
}
