# user-secrets as a flake, from this subdirectory of the repository:
#
#   nix build 'github:excalibur/user-secrets?dir=nix'
#   inputs.user-secrets.url = "github:excalibur/user-secrets?dir=nix";
#   imports = [ inputs.user-secrets.nixosModules.default ];
#
# No flake.lock is committed yet: locking needs network access to nixpkgs,
# which this project's CI machines do not have. Nix locks on first use; a
# consumer's own lock (or `inputs.user-secrets.inputs.nixpkgs.follows =
# "nixpkgs"`) pins it.
{
  description = "Place each user's Vault secrets in files only that user can read: package and NixOS module";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs =
    { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;
      # NSS, systemd hardening and the VM test are Linux-only.
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems = f: lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});

      # The seed README's configuration on a minimal NixOS system, so that
      # checks build what a real system would: the spec, validated by
      # `user-secrets check`, and the unit files NixOS renders.
      seedSystem =
        system:
        lib.nixosSystem {
          modules = [
            self.nixosModules.default
            ./tests/seed-configuration.nix
            {
              nixpkgs.hostPlatform = system;
              boot.loader.grub.enable = false;
              fileSystems."/".device = "none";
              system.stateVersion = lib.trivial.release;
            }
          ];
        };
    in
    {
      packages = forAllSystems (pkgs: {
        default = pkgs.callPackage ./package.nix { };
      });

      # The module builds its package from this repository with the
      # system's own nixpkgs (pkgs.callPackage ./package.nix).
      nixosModules.default = ./module.nix;

      checks = forAllSystems (
        pkgs:
        let
          inherit (pkgs.stdenv.hostPlatform) system;
          seed = (seedSystem system).config;
          failed = lib.filter (a: !a.assertion) seed.assertions;
          units = seed.systemd.units;
        in
        {
          package = self.packages.${system}.default;

          seed =
            if failed != [ ] then
              throw (lib.concatMapStringsSep "\n" (a: a.message) failed)
            else
              pkgs.runCommand "user-secrets-seed-configuration" { } ''
                mkdir $out
                ln -s ${seed.environment.etc."user-secrets/config.toml".source} $out/config.toml
                for u in ${
                  lib.escapeShellArgs [
                    units."user-secrets.service".unit
                    units."user-secrets.timer".unit
                    units."user-secrets-activation.service".unit
                  ]
                }; do
                  cp -r "$u"/. $out/
                done
              '';

          # Needs KVM; see tests/vm.nix.
          vm = import ./tests/vm.nix { inherit pkgs; };
        }
      );
    };
}
