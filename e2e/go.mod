module github.com/excalibur/user-secrets/e2e

go 1.25.0
