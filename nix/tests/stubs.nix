# Just enough of NixOS and nixpkgs to evaluate ../module.nix with a bare
# nixpkgs `lib` (lib.evalModules), no store and no nixpkgs checkout:
#
# - `nixosOptions`: declarations of the NixOS options the module reads or
#   sets, typed loosely (freeform) so the test sees exactly what it defines;
# - `pkgs`: the few packages and builders the module uses, as plain
#   attribute sets that record their arguments instead of building anything.
#   formats.toml renders TOML text in pure Nix, so the test can hand the
#   generated spec to the real `user-secrets check`.
{ lib }:
let
  inherit (lib) mkOption types;

  freeform = types.attrsOf types.anything;
  strings = mkOption {
    type = types.listOf types.str;
    default = [ ];
  };
  unit = types.submodule {
    freeformType = freeform;
    options = {
      wantedBy = strings;
      wants = strings;
      after = strings;
    };
  };

  # Something types.package accepts and "${...}" turns into a store path.
  fakeDrv =
    name: extra:
    {
      type = "derivation";
      inherit name;
      outPath = "/nix/store/00000000000000000000000000000000-${name}";
    }
    // extra;

  # TOML for what pkgs.formats.toml accepts here: tables of strings, ints,
  # bools and lists (of those, or of inline tables for per-file options).
  # Strings and quoted keys are JSON strings, which are valid TOML basic
  # strings (same escapes, UTF-8 kept as is).
  toTOML =
    let
      key = k: if builtins.match "[A-Za-z0-9_-]+" k != null then k else builtins.toJSON k;
      value =
        v:
        if builtins.isString v || builtins.isInt v || builtins.isBool v then
          builtins.toJSON v
        else if builtins.isList v then
          "[" + lib.concatMapStringsSep ", " value v + "]"
        else if builtins.isAttrs v then
          "{ " + lib.concatStringsSep ", " (lib.mapAttrsToList (k: x: "${key k} = ${value x}") v) + " }"
        else
          throw "toTOML: unsupported value ${builtins.toJSON v}";
      table =
        path: attrs:
        let
          scalars = lib.filterAttrs (_: v: !builtins.isAttrs v) attrs;
          tables = lib.filterAttrs (_: builtins.isAttrs) attrs;
          header = lib.optionalString (path != [ ] && scalars != { }) "[${lib.concatMapStringsSep "." key path}]\n";
        in
        header
        + lib.concatStrings (lib.mapAttrsToList (k: v: "${key k} = ${value v}\n") scalars)
        + lib.concatStrings (lib.mapAttrsToList (k: table (path ++ [ k ])) tables);
    in
    table [ ];

  pkgs = {
    inherit lib fakeDrv toTOML;

    callPackage =
      fn: overrides:
      let
        f = if builtins.isFunction fn then fn else import fn;
      in
      f (builtins.intersectAttrs (builtins.functionArgs f) pkgs // overrides);

    # Records its arguments; `args` lets the test inspect ../package.nix.
    buildGoModule =
      args:
      fakeDrv "${args.pname}-${args.version}" {
        inherit args;
        inherit (args) meta version;
      };

    formats.toml =
      { }:
      {
        # As in nixpkgs: any TOML value, tables merged key by key.
        type =
          let
            valueType =
              types.nullOr (
                types.oneOf [
                  types.bool
                  types.int
                  types.float
                  types.str
                  types.path
                  (types.attrsOf valueType)
                  (types.listOf valueType)
                ]
              )
              // {
                description = "TOML value";
              };
          in
          valueType;
        generate = name: value: fakeDrv name { text = toTOML value; };
      };

    # Records the script, so the test can run it against the real binary.
    runCommand = name: env: script: fakeDrv name { inherit env script; };

    systemd = fakeDrv "systemd" { };
    installShellFiles = fakeDrv "install-shell-files" { };
    stdenv = {
      buildPlatform.canExecute = _: true;
      hostPlatform = { };
    };
  };
in
{
  inherit pkgs;

  nixosOptions = {
    options = {
      assertions = mkOption {
        type = types.listOf types.unspecified;
        default = [ ];
      };
      warnings = strings;
      users.users = mkOption {
        type = types.attrsOf (types.submodule { freeformType = freeform; });
        default = { };
      };
      users.mutableUsers = mkOption {
        type = types.bool;
        default = true;
      };
      services.sssd.enable = mkOption {
        type = types.bool;
        default = false;
      };
      systemd.package = mkOption {
        type = types.package;
        default = pkgs.systemd;
      };
      systemd.services = mkOption {
        type = types.attrsOf unit;
        default = { };
      };
      systemd.timers = mkOption {
        type = types.attrsOf unit;
        default = { };
      };
      systemd.tmpfiles.rules = strings;
      system.activationScripts = mkOption {
        type = types.attrsOf types.anything;
        default = { };
      };
      environment.etc = mkOption {
        type = types.attrsOf (
          types.submodule {
            freeformType = freeform;
            options.source = mkOption { type = types.package; };
          }
        );
        default = { };
      };
      environment.systemPackages = mkOption {
        type = types.listOf types.package;
        default = [ ];
      };
    };
    config._module.args.pkgs = pkgs;
  };
}
