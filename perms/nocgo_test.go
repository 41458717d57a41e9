//go:build !cgo

package perms

const cgoEnabled = false
