// Command vault is the stock HashiCorp Vault CLI and server, built from its
// Go module so the e2e tests run against the real thing without a download
// site. It lives in its own module to keep Vault's dependency tree out of the
// product's go.mod.
package main

import (
	"os"

	"github.com/hashicorp/vault/command"
)

func main() {
	os.Exit(command.Run(os.Args[1:]))
}
