package perms

import (
	"errors"
	"fmt"
	"os/user"
	"strconv"
)

// Owner is a system user a directory and its files belong to.
type Owner struct {
	Name string
	UID  int
	GID  int // primary group
}

// LookupOwner resolves name through NSS (getpwnam with cgo), so users from
// LDAP or SSSD resolve the same way login does.
func LookupOwner(name string) (Owner, error) {
	u, err := user.Lookup(name)
	if err != nil {
		var unknown user.UnknownUserError
		if errors.As(err, &unknown) {
			return Owner{}, fmt.Errorf("user %q does not exist on this system", name)
		}
		return Owner{}, fmt.Errorf("look up user %q: %w", name, err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return Owner{}, fmt.Errorf("user %q has a non-numeric uid %q or gid %q", name, u.Uid, u.Gid)
	}
	return Owner{Name: name, UID: uid, GID: gid}, nil
}

// LookupGroup resolves a group name through NSS to its gid.
func LookupGroup(name string) (int, error) {
	g, err := user.LookupGroup(name)
	if err != nil {
		var unknown user.UnknownGroupError
		if errors.As(err, &unknown) {
			return 0, fmt.Errorf("group %q does not exist on this system", name)
		}
		return 0, fmt.Errorf("look up group %q: %w", name, err)
	}
	gid, err := strconv.Atoi(g.Gid)
	if err != nil {
		return 0, fmt.Errorf("group %q has a non-numeric gid %q", name, g.Gid)
	}
	return gid, nil
}
