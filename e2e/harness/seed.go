package harness

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// MountKV mounts a KV engine of the given version at path.
func (v *Vault) MountKV(path string, version int) error {
	return v.API("POST", "sys/mounts/"+path, map[string]any{
		"type": "kv", "options": map[string]string{"version": fmt.Sprint(version)},
	}, nil)
}

// EnableAppRole enables the AppRole auth method at auth/approle once.
func (v *Vault) EnableAppRole() error {
	err := v.API("POST", "sys/auth/approle", map[string]string{"type": "approle"}, nil)
	if err != nil && strings.Contains(err.Error(), "path is already in use") {
		return nil
	}
	return err
}

// Role is an AppRole with its credentials written to files, as a host has them.
type Role struct {
	Name, RoleID, SecretID   string
	RoleIDFile, SecretIDFile string
}

// CreateRole writes a policy allowing read on each of paths (API paths such
// as "secret/data/app/users/*"), creates an AppRole bound to it, and writes
// role-id and secret-id files into dir with mode 0400.
func (v *Vault) CreateRole(name, dir string, paths ...string) (*Role, error) {
	if err := v.EnableAppRole(); err != nil {
		return nil, err
	}
	var policy strings.Builder
	for _, p := range paths {
		fmt.Fprintf(&policy, "path %q { capabilities = [\"read\"] }\n", p)
	}
	if err := v.API("PUT", "sys/policies/acl/"+name, map[string]string{"policy": policy.String()}, nil); err != nil {
		return nil, err
	}
	if err := v.API("POST", "auth/approle/role/"+name, map[string]any{
		"token_policies": []string{name}, "token_ttl": "10m", "secret_id_ttl": "0",
	}, nil); err != nil {
		return nil, err
	}
	var rid struct {
		Data struct {
			RoleID string `json:"role_id"`
		}
	}
	if err := v.API("GET", "auth/approle/role/"+name+"/role-id", nil, &rid); err != nil {
		return nil, err
	}
	var sid struct {
		Data struct {
			SecretID string `json:"secret_id"`
		}
	}
	if err := v.API("POST", "auth/approle/role/"+name+"/secret-id", nil, &sid); err != nil {
		return nil, err
	}
	r := &Role{Name: name, RoleID: rid.Data.RoleID, SecretID: sid.Data.SecretID,
		RoleIDFile: filepath.Join(dir, name+".role-id"), SecretIDFile: filepath.Join(dir, name+".secret-id")}
	if err := os.WriteFile(r.RoleIDFile, []byte(r.RoleID+"\n"), 0o400); err != nil {
		return nil, err
	}
	return r, os.WriteFile(r.SecretIDFile, []byte(r.SecretID+"\n"), 0o400)
}

// PutKV writes data as the entry at path of a KV mount of the given version.
func (v *Vault) PutKV(mount string, version int, path string, data map[string]string) error {
	if version == 1 {
		return v.API("POST", mount+"/"+path, data, nil)
	}
	return v.API("POST", mount+"/data/"+path, map[string]any{"data": data}, nil)
}

// DeleteLatest soft-deletes the latest version of a KV v2 entry.
func (v *Vault) DeleteLatest(mount, path string) error {
	return v.API("DELETE", mount+"/data/"+path, nil, nil)
}

// DestroyVersions permanently destroys versions of a KV v2 entry.
func (v *Vault) DestroyVersions(mount, path string, versions ...int) error {
	return v.API("PUT", mount+"/destroy/"+path, map[string]any{"versions": versions}, nil)
}
