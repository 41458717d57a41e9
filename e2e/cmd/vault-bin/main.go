// Command vault-bin makes sure the cached Vault server binary exists,
// building it on first use, and prints its path. CI runs it before the tests
// so the one slow build is not charged to a test's timeout.
package main

import (
	"fmt"
	"os"

	"github.com/excalibur/user-secrets/e2e/harness"
)

func main() {
	bin, err := harness.VaultBinary(func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "vault-bin: "+format+"\n", args...)
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "vault-bin: error: %v\n", err)
		os.Exit(1)
	}
	fmt.Println(bin)
}
