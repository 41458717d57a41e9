package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// shellScript is what NixOS modules that shell out to the vault CLI do, one
// user after the other: one `vault kv get -format=json` per user, then one
// jq and a shell redirect per field, and a chown. No temp file, no fsync,
// no rename: it does less than user-secrets, and a crash can leave a
// truncated file. %s is the key list, shell-quoted.
const shellScript = `#!/usr/bin/env bash
set -euo pipefail
root=$1
users=$2
VAULT_TOKEN=$("$VAULT_BIN" write -field=token auth/approle/login \
	role_id="$(<"$ROLE_ID_FILE")" secret_id="$(<"$SECRET_ID_FILE")")
export VAULT_TOKEN
umask 0377 # fields are created 0400
while read -r user; do
	dir=$root/$user
	mkdir -p -m 0700 "$dir"
	json=$("$VAULT_BIN" kv get -format=json -mount=secret "excalibur/users/$user")
	for key in %s; do
		jq -j --arg k "$key" '.data.data[$k]' <<<"$json" >"$dir/$key"
	done
	chown -R "$user:" "$dir"
done <"$users"
"$VAULT_BIN" token revoke -self >/dev/null
`

// sampled makes a row for the first min(sample, users) users, scaled up to
// all of them per user.
func (b *bench) sampled(id, title string) *row {
	n := min(b.cfg.sample, len(b.users))
	r := &row{ID: id, Title: title, Conc: 1, Users: n, Scale: float64(len(b.users)) / float64(n)}
	if n < len(b.users) {
		r.Note = fmt.Sprintf("sampled: %d of %d users, time extrapolated ×%.4g per user", n, len(b.users), r.Scale)
	}
	return r
}

// shellRow times the shell approach, single-threaded as modules run it.
func (b *bench) shellRow(ctx context.Context) *row {
	r := b.sampled("shell", "shell: vault kv get + jq")
	if _, err := exec.LookPath("jq"); err != nil {
		r.Err = "jq not found; install it (apt-get install jq) to run this row"
		if b.cfg.quick {
			r.Note, r.Err = "skipped: "+r.Err, ""
		}
		return r
	}
	quoted := make([]string, len(b.data.keys))
	for i, k := range b.data.keys {
		quoted[i] = "'" + strings.ReplaceAll(k, "'", `'\''`) + "'"
	}
	script := filepath.Join(b.dir, "shell-sync.sh")
	names := filepath.Join(b.dir, "shell-users.txt")
	var list strings.Builder
	for _, u := range b.users[:r.Users] {
		list.WriteString(u.Name + "\n")
	}
	root := filepath.Join(b.dir, "shell-out")
	if err := writeFiles(map[string]string{script: fmt.Sprintf(shellScript, strings.Join(quoted, " ")), names: list.String()}); err != nil {
		r.Err = err.Error()
		return r
	}
	b.repeat(ctx, r, b.cfg.runs, runStep{
		prepare: func(int) (int, error) { return r.Users * len(b.data.keys), resetDir(root) },
		command: func() *exec.Cmd {
			cmd := exec.Command("bash", script, root, names)
			cmd.Env = append(os.Environ(), "VAULT_BIN="+b.vaultBin, "VAULT_ADDR="+b.vault.Addr, "HOME="+b.dir,
				"ROLE_ID_FILE="+b.role.RoleIDFile, "SECRET_ID_FILE="+b.role.SecretIDFile)
			return cmd
		},
		count:  func([]byte) (int, error) { return countFiles(root) },
		verify: func() error { return b.verifyFiles(root, r.Users, true) },
	})
	return r
}

// agentRow times Vault Agent as the original module ran it: auto-auth with
// AppRole, exit_after_auth, one template per file with perms "0400" and the
// user as owner. Agent creates missing directories itself (root-owned 0755).
func (b *bench) agentRow(ctx context.Context) *row {
	r := b.sampled("agent", "vault agent: template per file")
	root := filepath.Join(b.dir, "agent-out")
	conf := filepath.Join(b.dir, "agent.hcl")
	if err := writeFiles(map[string]string{conf: b.agentConfig(root, r.Users)}); err != nil {
		r.Err = err.Error()
		return r
	}
	b.repeat(ctx, r, b.cfg.runs, runStep{
		prepare: func(int) (int, error) { return r.Users * len(b.data.keys), resetDir(root) },
		command: func() *exec.Cmd {
			cmd := exec.Command(b.vaultBin, "agent", "-config", conf)
			cmd.Env = append(os.Environ(), "HOME="+b.dir)
			return cmd
		},
		count:  func([]byte) (int, error) { return countFiles(root) },
		verify: func() error { return b.verifyFiles(root, r.Users, true) },
	})
	return r
}

func (b *bench) agentConfig(root string, users int) string {
	var s strings.Builder
	fmt.Fprintf(&s, "exit_after_auth = true\nvault {\n  address = %q\n}\n", b.vault.Addr)
	fmt.Fprintf(&s, `auto_auth {
  method "approle" {
    config = {
      role_id_file_path = %q
      secret_id_file_path = %q
      remove_secret_id_file_after_reading = false
    }
  }
}
template_config {
  exit_on_retry_failure = true
}
`, b.role.RoleIDFile, b.role.SecretIDFile)
	for _, u := range b.users[:users] {
		for _, key := range b.data.keys {
			contents := fmt.Sprintf(`{{ with secret "%s/data/%s%s" }}{{ index .Data.data %q }}{{ end }}`, kvMount, kvPrefix, u.Name, key)
			fmt.Fprintf(&s, "template {\n  contents = %q\n  destination = %q\n  perms = \"0400\"\n  user = %q\n  group = \"%d\"\n}\n",
				contents, filepath.Join(root, u.Name, key), u.Name, u.GID)
		}
	}
	return s.String()
}

// checkRow times `user-secrets check` on a spec of cfg.checkUsers users,
// who need not exist: check is offline and resolves no one.
func (b *bench) checkRow(ctx context.Context) *row {
	n := b.cfg.checkUsers
	r := &row{ID: "check", Title: fmt.Sprintf("user-secrets check: %d users × %d keys", n, len(b.data.keys)), Conc: 1, Users: n, Scale: 1}
	var s strings.Builder
	fmt.Fprintf(&s, "[vault]\naddress = %q\n\n[auth]\nrole_id_file = %q\nsecret_id_file = %q\n\n[output]\nroot = %q\n",
		b.vault.Addr, b.role.RoleIDFile, b.role.SecretIDFile, filepath.Join(b.dir, "check-out"))
	writeUsers(&s, makeUsers(n), b.data.keys)
	spec := filepath.Join(b.dir, "check.toml")
	if err := writeFiles(map[string]string{spec: s.String()}); err != nil {
		r.Err = err.Error()
		return r
	}
	return b.repeat(ctx, r, max(5, b.cfg.runs), runStep{
		prepare: func(int) (int, error) { return 0, nil },
		command: func() *exec.Cmd {
			return exec.Command(b.usBin, "--config", spec, "check")
		},
		count: func(out []byte) (int, error) {
			if !strings.Contains(string(out), fmt.Sprintf("ok (%d users", n)) {
				return 0, fmt.Errorf("check printed %q", out)
			}
			return 0, nil
		},
	})
}

// nssRow times resolving every bench user through NSS one after the other,
// as user-secrets does before it syncs (getent calls getpwnam per name). The
// bench's users are in /etc/passwd, which glibc scans line by line per
// lookup, so this grows with users²; LDAP through SSSD's cache costs a
// round trip per user instead. Either way it is part of every sync.
func (b *bench) nssRow(ctx context.Context) *row {
	r := &row{ID: "nss", Title: fmt.Sprintf("getpwnam × %d (getent, files)", len(b.users)), Conc: 1, Users: len(b.users), Scale: 1}
	args := []string{"passwd"}
	for _, u := range b.users {
		args = append(args, u.Name)
	}
	return b.repeat(ctx, r, b.cfg.runs, runStep{
		prepare: func(int) (int, error) { return 0, nil },
		command: func() *exec.Cmd { return exec.Command("getent", args...) },
		count: func(out []byte) (int, error) {
			if n := strings.Count(string(out), "\n"); n != len(b.users) {
				return 0, fmt.Errorf("getent resolved %d of %d users", n, len(b.users))
			}
			return 0, nil
		},
	})
}

func writeFiles(files map[string]string) error {
	for path, data := range files {
		if err := os.WriteFile(path, []byte(data), 0o700); err != nil {
			return err
		}
	}
	return nil
}
