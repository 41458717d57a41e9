// Package harness runs a real Vault server on 127.0.0.1 for the end-to-end
// tests and the demo: it builds the server once from Vault's Go module,
// starts dev servers, and seeds them over Vault's HTTP API.
package harness

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
)

// VaultVersion is the Vault release built by vaultbuild/. Newer releases do
// not compile against any published vault/sdk; see vaultbuild/go.mod.
const VaultVersion = "1.19.5"

// VaultBinary returns a Vault server binary: $VAULT_BIN if set, else a build
// cached outside the repository, made on first use. A cold build downloads
// several GB of modules and compiles for 20+ minutes, so it is done once per
// machine and version; logf reports progress.
func VaultBinary(logf func(format string, args ...any)) (string, error) {
	if bin := os.Getenv("VAULT_BIN"); bin != "" {
		return bin, nil
	}
	cache, err := cacheDir()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(cache, "vault-"+VaultVersion)
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	// Test packages run in parallel processes; one builds, the rest wait.
	unlock, err := lockFile(bin + ".lock")
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	logf("building Vault %s into %s (once per machine; a cold build takes 20+ minutes)", VaultVersion, bin)
	return bin, buildVault(bin)
}

func cacheDir() (string, error) {
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("find cache dir: %w", err)
		}
		base = filepath.Join(home, ".cache")
	}
	dir := filepath.Join(base, "user-secrets")
	return dir, os.MkdirAll(dir, 0o755)
}

func lockFile(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock %q: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %q: %w", path, err)
	}
	return func() { f.Close() }, nil
}

func buildVault(bin string) error {
	src, err := moduleDir("vaultbuild")
	if err != nil {
		return err
	}
	tmp := bin + ".tmp"
	cmd := exec.Command("go", "build", "-mod=mod", "-trimpath", "-ldflags=-s -w", "-o", tmp, ".")
	cmd.Dir = src
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("build vault in %s: %w", src, err)
	}
	return os.Rename(tmp, bin)
}

// moduleDir finds a directory of the e2e module from this source file, so the
// harness works from tests, `go run` and any working directory.
func moduleDir(name string) (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("cannot locate the e2e module")
	}
	dir := filepath.Join(filepath.Dir(file), "..", name)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("e2e directory %q not found", dir)
	}
	return dir, nil
}

// RepoRoot is the user-secrets repository root.
func RepoRoot() (string, error) { return moduleDir("..") }

// BuildUserSecrets builds the user-secrets binary (with cgo, for NSS) into dir.
func BuildUserSecrets(dir string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "user-secrets")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build user-secrets: %w\n%s", err, out)
	}
	return bin, nil
}
