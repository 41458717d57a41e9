# NixOS module: excalibur.services.user-secrets.
#
# Generates the spec (/etc/user-secrets/config.toml) from typed options,
# validates it at build time with `user-secrets check`, and runs
# `user-secrets sync` from a hardened oneshot unit: hourly from a timer, and
# once after boot and after every switch (see the activation notes below).
# Configurations written for the former vault-agent based module evaluate
# unchanged: see vault-agent-compat.nix and the README's NixOS section.
{
  config,
  lib,
  pkgs,
  ...
}:
let
  inherit (lib)
    concatMap
    literalExpression
    mkDefault
    mkIf
    mkOption
    optional
    types
    ;

  usLib = import ./lib.nix;
  cfg = config.excalibur.services.user-secrets;
  agent = config.excalibur.services.vault-agent.settings.vault;
  opt = "excalibur.services.user-secrets";

  configPath = "/etc/user-secrets/config.toml";
  exe = lib.getExe cfg.package;
  toml = pkgs.formats.toml { };

  # The spec as the tool will read it: the typed options (at mkDefault
  # priority, see `config.settings` below) merged with `settings`.
  spec = cfg.settings;

  # Validated in the build: a spec `check` rejects fails the system build
  # with the tool's own message, which names the offending key. `check`
  # reads only this file (no credentials, users or network), so it works in
  # the sandbox. (Cross builds would need cfg.package to run on the build
  # machine; this module does not handle that.)
  checkedSpec =
    pkgs.runCommand "user-secrets-config.toml"
      {
        spec = toml.generate "user-secrets-unchecked.toml" spec;
        nativeBuildInputs = [ cfg.package ];
        preferLocalBuild = true;
      }
      ''
        user-secrets --config "$spec" check
        cp "$spec" "$out"
      '';

  # With settings.auth.method = "token" (a Vault Agent sink), no AppRole
  # credentials are needed.
  authMethod = spec.auth.method or "approle";

  # Where the sync writes: nothing else is writable in its unit.
  outputRoot = spec.output.root;
  stateDir = dirOf spec.state.file;
  lockDir = dirOf spec.state.lock_file;

  # Users that only NSS (LDAP, SSSD) may know of cannot be checked here.
  externalUsers =
    config.users.mutableUsers
    || (config.services.sssd.enable or false)
    || (config.users.ldap.enable or false);
  declared = name: (config.users.users.${name}.enable or true) && config.users.users ? ${name};
  undeclared = lib.filter (name: !declared name) (builtins.attrNames (spec.users or { }));

  # A `files` entry as a table: the README's per-file options.
  fileOptions = {
    options = {
      key = mkOption {
        type = types.str;
        description = "Field of the user's KV entry.";
      };
      name = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "File name in the user's directory; the key by default.";
      };
      mode = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "0440";
        description = "Octal mode; `0400` by default, at most `0644`, always owner-readable.";
      };
      group = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "nginx";
        description = "Group owning the file; the user's primary group by default.";
      };
      encoding = mkOption {
        type = types.nullOr (types.enum [ "base64" ]);
        default = null;
        description = "`base64` to decode the value (binary files).";
      };
    };
  };

  userOptions = {
    options = {
      files = mkOption {
        type = types.listOf (types.either types.str (types.submodule fileOptions));
        default = [ ];
        example = literalExpression ''
          [
            "api_key"
            "kube.config"
            { key = "tls.crt"; name = "cert.pem"; mode = "0440"; group = "nginx"; }
          ]
        '';
        description = ''
          Keys to place for this user. Each is a field of the user's KV entry
          and becomes the file `<outputRoot>/<user>/<key>`, owned by the user,
          mode 0400. Any single file name is allowed (periods, spaces, UTF-8).
          A table changes how one key is placed (name, mode, group, encoding).
        '';
      };
      path = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "teams/infra/{user}";
        description = ''
          This user's KV entry, relative to the KV mount, instead of the one
          derived from `vault-path`; `{user}` is replaced by the user name.
          Maps to the spec's `[users.<name>] path`.
        '';
      };
    };
  };
in
{
  imports = [ ./vault-agent-compat.nix ];

  options.excalibur.services.user-secrets = {
    enable = lib.mkEnableOption "user-secrets, which places each user's Vault secrets in files only that user can read";

    # mkPackageOption needs the package in pkgs; this one is built from the
    # repository instead, so it is declared by hand in the same shape.
    package = mkOption {
      type = types.package;
      default = pkgs.callPackage ./package.nix { };
      defaultText = literalExpression "pkgs.callPackage ./nix/package.nix { }";
      description = "The user-secrets package to use.";
    };

    users = mkOption {
      type = types.attrsOf (types.submodule userOptions);
      default = { };
      example = literalExpression ''
        {
          johndoe.files = [ "api_key" "db_password" ];
          jane = { files = [ "kube.config" ]; path = "teams/infra/{user}"; };
        }
      '';
      description = ''
        Users to place secrets for, by user name. Users are resolved through
        NSS when the sync runs, so LDAP and SSSD users work too.
      '';
    };

    vault-path = mkOption {
      type = types.str;
      default = "secret/excalibur/users";
      example = "kv/teams/platform";
      description = ''
        KV path under which each user's entry lives, as in the original
        module: the first segment is the KV mount and the user name is
        appended, so the default reads `secret/excalibur/users/<user>`. For
        a mount whose name contains `/`, set `settings.kv.mount` and
        `settings.kv.path` instead.
      '';
    };

    kvVersion = mkOption {
      type = types.enum [
        "v1"
        "v2"
      ];
      default = "v2";
      description = "Version of the KV secrets engine at the mount.";
    };

    vault-address = mkOption {
      type = types.nullOr types.str;
      default = agent.address;
      defaultText = literalExpression "config.excalibur.services.vault-agent.settings.vault.address";
      example = "https://vault.example.com:8200";
      description = "URL of the Vault server.";
    };

    role-id = mkOption {
      type = types.nullOr types.str;
      default = agent.role-id;
      defaultText = literalExpression "config.excalibur.services.vault-agent.settings.vault.role-id";
      example = "/var/lib/vault/host/role-id";
      description = ''
        Absolute path of the file holding the AppRole role-id. A string, not
        a Nix path, so the file is never copied into the Nix store.
      '';
    };

    secret-id = mkOption {
      type = types.nullOr types.str;
      default = agent.secret-id;
      defaultText = literalExpression "config.excalibur.services.vault-agent.settings.vault.secret-id";
      example = "/var/lib/vault/host/secret-id";
      description = ''
        Absolute path of the file holding the AppRole secret-id. It must be
        owned by root and not readable by group or others (see
        `settings.auth.allow_insecure_permissions`).
      '';
    };

    interval = mkOption {
      type = types.str;
      default = "hourly";
      example = "*:0/15";
      description = ''
        When the timer syncs, as a systemd `OnCalendar` expression. Each run
        is delayed by a random 0-10 minutes so hosts do not all ask Vault at
        once; runs missed while the host was off happen at boot.
      '';
    };

    outputRoot = mkOption {
      type = types.str;
      default = "/var/lib/vault/users";
      description = ''
        Directory holding one directory per user (`<outputRoot>/<user>/`).
        Must be absolute and outside /home and /root, which the unit hides.
      '';
    };

    settings = mkOption {
      type = toml.type;
      default = { };
      example = literalExpression ''
        {
          vault.ca_cert = "/etc/ssl/vault-ca.pem";
          vault.timeout = "60s";
          kv = { mount = "team/kv"; path = "users/{user}"; };
        }
      '';
      description = ''
        The spec written to `/etc/user-secrets/config.toml` (see the README's
        "The spec"). The options above fill it in at default priority, so
        any key set here wins, and keys no option covers (`vault.ca_cert`,
        `vault.namespace`, `vault.timeout`, `vault.concurrency`,
        `auth.mount`, `state.*`, ...) can be set here.
      '';
    };
  };

  config = mkIf cfg.enable {
    excalibur.services.user-secrets.settings = lib.mapAttrsRecursive (_: mkDefault) (
      usLib.mkSpec {
        address = cfg.vault-address;
        roleIdFile = cfg.role-id;
        secretIdFile = cfg.secret-id;
        vaultPath = cfg.vault-path;
        inherit (cfg) kvVersion outputRoot users;
      }
    );

    assertions = [
      {
        assertion = cfg.vault-address != null;
        message = "${opt}.vault-address is not set: set it, or excalibur.services.vault-agent.settings.vault.address, to the URL of the Vault server.";
      }
      {
        assertion = authMethod != "approle" || cfg.role-id != null;
        message = "${opt}.role-id is not set: set it, or excalibur.services.vault-agent.settings.vault.role-id, to the path of the AppRole role-id file.";
      }
      {
        assertion = authMethod != "approle" || cfg.secret-id != null;
        message = "${opt}.secret-id is not set: set it, or excalibur.services.vault-agent.settings.vault.secret-id, to the path of the AppRole secret-id file.";
      }
      (
        let
          problem = usLib.vaultPathProblem cfg.vault-path;
        in
        {
          assertion = problem == null;
          message = "${opt}.vault-path: ${toString problem}.";
        }
      )
      {
        assertion = lib.hasPrefix "/" outputRoot && !(lib.any (d: outputRoot == d || lib.hasPrefix "${d}/" outputRoot) [ "/home" "/root" "/run/user" ]);
        message = "${opt}.outputRoot: ${builtins.toJSON outputRoot} must be an absolute path outside /home, /root and /run/user, which the sync unit cannot see (ProtectHome).";
      }
    ]
    ++ concatMap (
      name:
      map (problem: {
        assertion = false;
        message = "${opt}.users.${name}.files: ${problem}.";
      }) (usLib.keyListProblems (spec.users.${name}.files or [ ]))
    ) (builtins.attrNames (spec.users or { }))
    ++ map (name: {
      assertion = externalUsers;
      message = "${opt}.users.${name}: no user ${builtins.toJSON name} is declared in users.users, and with users.mutableUsers = false (and neither SSSD nor LDAP enabled) it can never exist; declare it or remove it.";
    }) undeclared;

    warnings = lib.optionals externalUsers (
      map (
        name:
        "${opt}.users.${name}: ${builtins.toJSON name} is not declared in users.users; its keys fail (\"unknown user\") until the user exists on this host (created by hand, or from LDAP/SSSD)."
      ) undeclared
    );

    environment.etc."user-secrets/config.toml".source = checkedSpec;
    # For `user-secrets check` and `user-secrets sync --dry-run` by hand.
    environment.systemPackages = [ cfg.package ];

    # The unit may write only below these (ReadWritePaths), so they must
    # exist before it starts; tmpfiles creates them at boot and on switch.
    # The tool insists the output root is owned by the user running it.
    systemd.tmpfiles.rules = [
      "d ${outputRoot} 0755 root root -"
    ]
    ++ optional (stateDir == dirOf usLib.defaultStateFile) "d ${stateDir} 0700 root root -";

    systemd.services.user-secrets = import ./unit.nix {
      inherit lib exe configPath;
      readWritePaths = lib.unique [
        outputRoot
        stateDir
        lockDir
      ];
    };

    systemd.timers.user-secrets = {
      description = "Sync users' Vault secrets periodically";
      wantedBy = [ "timers.target" ];
      timerConfig = {
        OnCalendar = cfg.interval;
        # Spreads a fleet's runs so Vault does not see them all at once.
        RandomizedDelaySec = mkDefault "10m";
        # Catches up at boot on a run missed while the host was off.
        Persistent = true;
      };
    };

    # Running at activation. The sync must run after users exist, with the
    # new spec and in the hardened unit, and a Vault outage must neither
    # block `nixos-rebuild switch` nor fail it. Running the tool inside the
    # activation script would do it unsandboxed, before switch-to-
    # configuration reloads units, and would hold the switch for up to the
    # tool's timeouts. Restarting user-secrets.service itself from the switch
    # would make switch-to-configuration wait for the whole sync and report
    # failure when Vault is down.
    #
    # So the activation script only asks switch-to-configuration (through its
    # documented restart list) to restart user-secrets-activation.service,
    # which does so after daemon-reload, i.e. with the new units, and after
    # the users activation step. That unit only queues user-secrets.service
    # with --no-block and exits at once: the switch never waits for Vault.
    # The sync then runs in its own unit; a failure is in `systemctl status
    # user-secrets`, `systemctl --failed` and the journal, and the timer
    # retries. At boot the same unit is pulled in by multi-user.target.
    systemd.services.user-secrets-activation = {
      description = "Queue a user-secrets sync after boot and after each switch";
      wantedBy = [ "multi-user.target" ];
      serviceConfig = {
        Type = "oneshot";
        ExecStart = "${config.systemd.package}/bin/systemctl start --no-block user-secrets.service";
        # It only enqueues a job; bound it all the same.
        TimeoutStartSec = "30s";
      };
    };

    system.activationScripts.user-secrets = {
      # Only writes a unit name; the users and groups it syncs for exist by
      # the time switch-to-configuration acts on it.
      deps = [ ];
      text = ''
        case "''${NIXOS_ACTION:-}" in
          switch | test)
            mkdir -p /run/nixos
            echo user-secrets-activation.service >> /run/nixos/activation-restart-list
            echo "user-secrets: sync queued after the switch; follow it with: journalctl -u user-secrets -f"
            ;;
        esac
      '';
    };
  };
}
