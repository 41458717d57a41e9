// Command demo shows user-secrets working end to end on a fresh machine: it
// starts a local dev Vault, seeds it the way an admin would (KV entry, policy,
// AppRole), writes a spec, and runs a real sync into a temporary output root
// for the current user, then runs it again to show nothing changes.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"

	"github.com/excalibur/user-secrets/e2e/harness"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "demo: error: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	me, err := user.Current()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "user-secrets-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	step("building user-secrets")
	bin, err := harness.BuildUserSecrets(dir)
	if err != nil {
		return err
	}
	step("starting a dev Vault on 127.0.0.1")
	v, err := harness.StartVault(harness.Options{})
	if err != nil {
		return err
	}
	defer v.Stop()

	step("seeding secret/excalibur/users/%s and an AppRole that may read it", me.Username)
	if err := v.PutKV("secret", 2, "excalibur/users/"+me.Username, map[string]string{
		"api_key": "demo-api-key", "db_password": "demo-db-password", "kube.config": "apiVersion: v1\nkind: Config\n",
	}); err != nil {
		return err
	}
	role, err := v.CreateRole("demo-host", dir, "secret/data/excalibur/users/*")
	if err != nil {
		return err
	}
	root := filepath.Join(dir, "users")
	spec := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(spec, []byte(fmt.Sprintf(specFormat, v.Addr, role.RoleIDFile, role.SecretIDFile, root, me.Username)), 0o600); err != nil {
		return err
	}
	text, _ := os.ReadFile(spec)
	step("the spec (%s):\n\n%s", spec, text)

	for _, title := range []string{"first sync: every key is written", "second sync: nothing changed"} {
		step("%s", title)
		if err := show(bin, "--config", spec, "sync"); err != nil {
			return err
		}
	}
	step("the files:")
	return show("ls", "-la", filepath.Join(root, me.Username))
}

// specFormat leaves [kv] out: the defaults read secret/excalibur/users/<user>
// from KV v2, as the original NixOS module did.
const specFormat = `[vault]
address = %q

[auth]
role_id_file = %q
secret_id_file = %q

[output]
root = %q

[users.%q]
files = ["api_key", "db_password", "kube.config"]
`

func step(format string, args ...any) { fmt.Printf("\n==> "+format+"\n", args...) }

func show(name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	return cmd.Run()
}
