//go:build cgo && unix

package perms

/*
#include <pwd.h>
*/
import "C"

import "sync"

// listMu serializes enumerations: getpwent has one cursor per process.
var listMu sync.Mutex

// ListOwners enumerates NSS once (getpwent) and returns the entries whose
// names are in want. With thousands of users in /etc/passwd, one getpwnam
// per user scans the file each time; one pass over it costs milliseconds.
//
// Where a name appears twice, the first entry wins, as it does for
// getpwnam. The result may be partial: sources that do not enumerate (SSSD
// and LDAP by default) are left out, and a failing source ends the listing
// early. Callers look up whatever is missing one by one, which also reports
// why a user cannot be found.
//
// A directory that does enumerate (nslcd) may list far more users than the
// spec names, so the pass stops after 16 entries per wanted name.
func ListOwners(want map[string]bool) map[string]Owner {
	listMu.Lock()
	defer listMu.Unlock()
	C.setpwent()
	defer C.endpwent()
	found := make(map[string]Owner, len(want))
	for budget := 16*len(want) + 1024; budget > 0 && len(found) < len(want); budget-- {
		pw := C.getpwent()
		if pw == nil {
			break
		}
		name := C.GoString(pw.pw_name)
		if _, seen := found[name]; seen || !want[name] {
			continue
		}
		found[name] = Owner{Name: name, UID: int(pw.pw_uid), GID: int(pw.pw_gid)}
	}
	return found
}
