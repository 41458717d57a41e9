# The user-secrets program, built from this repository's root module.
#
#   nix-build -E 'with import <nixpkgs> { }; callPackage ./nix/package.nix { }'
#
# Needs a nixpkgs whose buildGoModule takes env.CGO_ENABLED (25.05 or newer)
# and whose Go is 1.25 or newer (go.mod and its dependencies say so).
{
  lib,
  stdenv,
  buildGoModule,
  installShellFiles,
  # A release sets this from its tag; see the README's NixOS section.
  version ? "0.1.0",
}:

buildGoModule {
  pname = "user-secrets";
  inherit version;

  # Only what `go build` and the unit tests read. The e2e suite is a separate
  # Go module (it builds a Vault server and needs the network), and editing
  # the NixOS module or the docs should not rebuild the program.
  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.difference ../. (
      lib.fileset.unions [
        ../nix
        ../e2e
        ../.ci
        (lib.fileset.maybeMissing ../.git)
        (lib.fileset.maybeMissing ../result)
      ]
    );
  };

  # The NAR hash of `go mod vendor`'s output for go.mod/go.sum. Refresh it
  # whenever they change or a new package of a dependency is imported:
  #   nix/update-vendor-hash.sh        (needs only Go and nix-hash)
  # CI fails with that hint when this value is stale.
  vendorHash = "sha256-1RdL6a9UrLK1ValqglpNdwErnQmonnmHMf1yKD/z/3A=";

  # cgo is what makes user lookups go through NSS (getpwnam), so users from
  # LDAP or SSSD resolve like local ones; the pure-Go fallback reads only
  # /etc/passwd.
  env.CGO_ENABLED = "1";

  ldflags = [
    "-s"
    "-w"
    "-X main.buildVersion=${version}"
  ];

  # buildGoModule's checkPhase runs the unit and CLI tests of every package
  # (config, fetch, perms and the CLI) in the sandbox. Tests that chown to
  # other users need root and skip themselves there.
  doCheck = true;

  # The man page and completions come from the binary itself (`docs`), so
  # they list exactly its commands and flags. That runs the binary, which a
  # cross build cannot. zsh is left out: `docs completion zsh` is a
  # bashcompinit shim, not a #compdef function zsh could autoload.
  nativeBuildInputs = [ installShellFiles ];
  postInstall = lib.optionalString (stdenv.buildPlatform.canExecute stdenv.hostPlatform) ''
    $out/bin/user-secrets docs man > user-secrets.8
    installManPage user-secrets.8  # .TH says section 8: an admin command
    installShellCompletion --cmd user-secrets \
      --bash <($out/bin/user-secrets docs completion bash) \
      --fish <($out/bin/user-secrets docs completion fish)
  '';

  meta = {
    description = "Place each user's HashiCorp Vault secrets in files only that user can read";
    homepage = "https://github.com/excalibur/user-secrets";
    license = lib.licenses.mit;
    mainProgram = "user-secrets";
    platforms = lib.platforms.linux;
  };
}
