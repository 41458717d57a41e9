package config

import (
	"fmt"
	"strings"

	"github.com/excalibur/user-secrets/perms"
)

// ValidateUser reports why name is not usable as a system user name and as
// the name of the user's directory, or nil if it is. It follows the relaxed
// rules of shadow-utils and systemd, so LDAP names such as "j.doe" or
// "jdoe@corp" pass while names that look like options, paths or UIDs do not.
func ValidateUser(name string) error { return validateAccount("user", name) }

// ValidateGroup is ValidateUser for group names, which follow the same rules.
func ValidateGroup(name string) error { return validateAccount("group", name) }

func validateAccount(kind, name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%s name is empty", kind)
	case len(name) > perms.MaxNameBytes:
		return fmt.Errorf("%s name %.20q... is longer than %d bytes", kind, name, perms.MaxNameBytes)
	case name[0] == '-' || name[0] == '.':
		return fmt.Errorf("%s name %q starts with %q", kind, name, name[:1])
	case strings.Trim(name, "0123456789") == "":
		return fmt.Errorf("%s name %q is all digits and would be mistaken for an ID", kind, name)
	}
	body := strings.TrimSuffix(name, "$") // Samba machine accounts end in $
	for _, r := range body {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._@-", r)) {
			return fmt.Errorf("%s name %q contains %q; allowed are letters, digits and \"._@-\"", kind, name, r)
		}
	}
	return nil
}
