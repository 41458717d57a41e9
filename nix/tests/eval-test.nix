# Evaluates ../module.nix with nixpkgs' lib.evalModules, stub NixOS option
# declarations and fake packages (stubs.nix), and checks what it generates.
# Needs a checkout of nixpkgs' lib/ and nothing else; run.sh calls it:
#
#   nix eval --raw --file nix/tests/eval-test.nix --argstr nixpkgsLib "$NIXPKGS_LIB" summary
#
# Every attribute throws, listing the failed checks, unless all pass. The
# TOML texts and build scripts it returns are run against the real binary by
# run.sh, since `user-secrets check` is what decides whether a spec is valid.
{ nixpkgsLib }:
let
  lib = import (/. + nixpkgsLib);
  stubs = import ./stubs.nix { inherit lib; };
  inherit (stubs) pkgs;

  eval =
    modules:
    (lib.evalModules {
      modules = [
        stubs.nixosOptions
        ../module.nix
      ]
      ++ modules;
    }).config;

  failedAssertions = c: map (a: a.message) (lib.filter (a: !a.assertion) c.assertions);
  cfgOf = c: c.excalibur.services.user-secrets;
  specOf = c: (cfgOf c).settings;
  service = c: c.systemd.services.user-secrets;
  etcSpec = c: c.environment.etc."user-secrets/config.toml".source;

  # What run.sh needs to run a case's build-time check for real.
  buildCheck = c: {
    toml = (etcSpec c).env.spec.text;
    script = (etcSpec c).script;
  };

  seed = eval [ ./seed-configuration.nix ];

  # Everything the typed options cover, set away from the defaults, plus a
  # settings override and names that need quoting in TOML.
  full = eval [
    {
      users.mutableUsers = false;
      users.users = lib.genAttrs [ "johndoe" "j.doe" "jane" ] (_: { isNormalUser = true; });
      excalibur.services.user-secrets = {
        enable = true;
        vault-address = "https://vault.example.com:8200";
        role-id = "/run/keys/role-id";
        secret-id = "/run/keys/secret-id";
        vault-path = "kv/teams/infra";
        kvVersion = "v1";
        outputRoot = "/srv/user-secrets";
        interval = "*:0/15";
        users.johndoe.files = [ "api key" "kube.config" ];
        users."j.doe".files = [ "ключ" ".env" ];
        users.jane = {
          files = [
            "token"
            {
              key = "tls.crt";
              name = "cert.pem";
              mode = "0440";
              group = "nginx";
            }
            {
              key = "keytab";
              encoding = "base64";
            }
          ];
          path = "teams/infra/{user}";
        };
        settings.vault.timeout = "45s";
        settings.kv.path = "people/{user}";
      };
    }
  ];

  # Accepted by every Nix-side check, rejected by `user-secrets check`.
  badForTool = eval [
    ./seed-configuration.nix
    { excalibur.services.user-secrets.settings.vault.concurrency = 0; }
  ];

  unsafeKeys = eval [
    ./seed-configuration.nix
    {
      users.users.bob = { };
      excalibur.services.user-secrets.users.bob.files = [
        "ok"
        ""
        "."
        ".."
        "../etc/passwd"
        "a\tb"
        (lib.concatStrings (lib.genList (_: "k") 256))
        ".user-secrets-tmp-x"
        "dup"
        { key = "dup"; }
        {
          key = "k";
          name = "../k";
        }
      ];
    }
  ];

  noCredentials = eval [ { excalibur.services.user-secrets.enable = true; } ];

  # Token auth (e.g. a Vault Agent sink) needs no AppRole files.
  tokenAuth = eval [
    {
      excalibur.services.user-secrets = {
        enable = true;
        vault-address = "https://vault.example.com:8200";
        settings.auth = {
          method = "token";
          token_file = "/run/vault-agent/token";
        };
      };
    }
  ];

  immutableUsers = eval [
    ./seed-configuration.nix
    {
      users.mutableUsers = false;
      excalibur.services.user-secrets.vault-path = "/secret/x/";
      excalibur.services.user-secrets.outputRoot = "/home/secrets";
    }
  ];

  sssdUsers = eval [
    ./seed-configuration.nix
    {
      users.mutableUsers = false;
      services.sssd.enable = true;
    }
  ];

  disabled = eval [ { excalibur.services.vault-agent.enable = true; } ];

  # The flake's outputs, with this lib and the fake packages as its nixpkgs
  # (nixosSystem and the VM test need the real one and stay unevaluated).
  flake = (import ../flake.nix).outputs {
    self = flake;
    nixpkgs = {
      inherit lib;
      legacyPackages = lib.genAttrs [ "x86_64-linux" "aarch64-linux" ] (_: pkgs);
    };
  };

  pkg = (cfgOf seed).package;
  count = n: l: lib.length l == n;
  allMatch = re: l: lib.all (s: builtins.match re s != null) l;
  containsAll = subs: s: lib.all (sub: lib.hasInfix sub s) subs;

  # name = [ got want ] compares with ==; name = bool must be true.
  checks = {
    "seed: no failed assertions" = [ (failedAssertions seed) [ ] ];
    "seed: warns that johndoe is not in users.users" =
      count 1 seed.warnings && containsAll [ "users.johndoe" "not declared in users.users" ] (lib.head seed.warnings);
    "seed: spec" = [
      (specOf seed)
      {
        vault.address = "https://your-vault-address.com";
        auth = {
          role_id_file = "/path/to/role-id";
          secret_id_file = "/path/to/secret-id";
        };
        kv = {
          mount = "secret";
          path = "excalibur/users/{user}";
          version = 2;
        };
        output.root = "/var/lib/vault/users";
        state = {
          file = "/var/lib/user-secrets/state.json";
          lock_file = "/run/user-secrets.lock";
        };
        users.johndoe.files = [ "api_key" "db_password" ];
      }
    ];
    "seed: spec checked at build time" =
      (etcSpec seed).name == "user-secrets-config.toml"
      && containsAll [ ''user-secrets --config "$spec" check'' ''cp "$spec" "$out"'' ] (etcSpec seed).script
      && lib.elem pkg (etcSpec seed).env.nativeBuildInputs;
    "seed: package installed" = lib.elem pkg seed.environment.systemPackages;

    "service: ExecStart" = [
      (service seed).serviceConfig.ExecStart
      "${pkg}/bin/user-secrets --config /etc/user-secrets/config.toml sync"
    ];
    "service: oneshot as root" = [
      (lib.getAttrs [ "Type" "User" "UMask" ] (service seed).serviceConfig)
      {
        Type = "oneshot";
        User = "root";
        UMask = "0077";
      }
    ];
    "service: network" = [
      (service seed).wants
      [ "network-online.target" ]
    ];
    "service: ordering" =
      lib.all (u: lib.elem u (service seed).after) [
        "network-online.target"
        "sssd.service"
        "systemd-sysusers.service"
        "userborn.service"
        "nss-user-lookup.target"
      ]
      && (service seed).wantedBy == [ ]
      && !(service seed).restartIfChanged;
    "service: sandbox" = [
      (lib.getAttrs [
        "ProtectSystem"
        "ReadWritePaths"
        "ProtectHome"
        "PrivateTmp"
        "NoNewPrivileges"
        "CapabilityBoundingSet"
        "RestrictAddressFamilies"
        "SystemCallFilter"
      ] (service seed).serviceConfig)
      {
        ProtectSystem = "strict";
        ReadWritePaths = [ "/var/lib/vault/users" "/var/lib/user-secrets" "/run" ];
        ProtectHome = true;
        PrivateTmp = true;
        NoNewPrivileges = true;
        CapabilityBoundingSet = [ "CAP_CHOWN" "CAP_FOWNER" "CAP_DAC_OVERRIDE" "CAP_DAC_READ_SEARCH" ];
        RestrictAddressFamilies = [ "AF_INET" "AF_INET6" "AF_UNIX" ];
        SystemCallFilter = [ "@system-service" ];
      }
    ];
    "service: bounded" = (service seed).serviceConfig.TimeoutStartSec == "5min";
    "tmpfiles: output root and state dir" = [
      seed.systemd.tmpfiles.rules
      [ "d /var/lib/vault/users 0755 root root -" "d /var/lib/user-secrets 0700 root root -" ]
    ];

    "timer" = [
      (lib.getAttrs [ "wantedBy" "timerConfig" ] seed.systemd.timers.user-secrets)
      {
        wantedBy = [ "timers.target" ];
        timerConfig = {
          OnCalendar = "hourly";
          RandomizedDelaySec = "10m";
          Persistent = true;
        };
      }
    ];
    "activation: script only queues the trigger unit on switch and test" =
      let
        s = seed.system.activationScripts.user-secrets;
      in
      s.deps == [ ]
      && containsAll [
        "switch | test)"
        "echo user-secrets-activation.service >> /run/nixos/activation-restart-list"
      ] s.text;
    "activation: trigger unit never waits for the sync" =
      let
        u = seed.systemd.services.user-secrets-activation;
      in
      u.wantedBy == [ "multi-user.target" ]
      && u.serviceConfig.Type == "oneshot"
      && u.serviceConfig.ExecStart == "${pkgs.systemd}/bin/systemctl start --no-block user-secrets.service";

    "package: version, cgo, vendorHash, meta, man page" =
      pkg.args.pname == "user-secrets"
      && lib.elem "-X main.buildVersion=${pkg.version}" pkg.args.ldflags
      && pkg.args.env.CGO_ENABLED == "1"
      && builtins.match "sha256-[A-Za-z0-9+/]{43}=" pkg.args.vendorHash != null
      && pkg.meta.license == lib.licenses.mit
      && pkg.meta.mainProgram == "user-secrets"
      && containsAll [ "docs man" "installManPage" "docs completion bash" "docs completion fish" ] pkg.args.postInstall;

    "full: no assertions or warnings" = [
      ((failedAssertions full) ++ full.warnings)
      [ ]
    ];
    "full: vault-path, kvVersion, overrides" = [
      (lib.getAttrs [ "vault" "kv" "output" ] (specOf full))
      {
        vault = {
          address = "https://vault.example.com:8200";
          timeout = "45s";
        };
        kv = {
          mount = "kv";
          path = "people/{user}";
          version = 1;
        };
        output.root = "/srv/user-secrets";
      }
    ];
    "full: per-user path" = [
      (specOf full).users.jane
      {
        files = [
          "token"
          {
            key = "tls.crt";
            name = "cert.pem";
            mode = "0440";
            group = "nginx";
          }
          {
            key = "keytab";
            encoding = "base64";
          }
        ];
        path = "teams/infra/{user}";
      }
    ];
    "full: paths follow outputRoot" = [
      [ (service full).serviceConfig.ReadWritePaths (lib.head full.systemd.tmpfiles.rules) ]
      [ [ "/srv/user-secrets" "/var/lib/user-secrets" "/run" ] "d /srv/user-secrets 0755 root root -" ]
    ];
    "full: interval" = full.systemd.timers.user-secrets.timerConfig.OnCalendar == "*:0/15";

    "unsafe keys: one assertion per bad name and for the duplicate" =
      let
        msgs = failedAssertions unsafeKeys;
      in
      count 9 msgs && allMatch "excalibur\\.services\\.user-secrets\\.users\\.bob\\.files: .*" msgs;
    "unsafe keys: messages name the rule" = lib.all (sub: lib.any (lib.hasInfix sub) (failedAssertions unsafeKeys)) [
      "key name is empty"
      "names a directory"
      "contains \"/\""
      "control character"
      "256 bytes long"
      "reserved for temporary files"
      "key \"../k\" contains"
      "file \"dup\" is listed twice"
    ];
    "no credentials: address, role-id and secret-id asserted" =
      let
        msgs = failedAssertions noCredentials;
      in
      count 3 msgs
      && lib.all (o: lib.any (lib.hasPrefix "excalibur.services.user-secrets.${o} is not set") msgs) [
        "vault-address"
        "role-id"
        "secret-id"
      ];
    "token auth: no AppRole assertions" = [
      (failedAssertions tokenAuth)
      [ ]
    ];
    "immutable users: undeclared user, vault-path and outputRoot asserted" =
      let
        msgs = failedAssertions immutableUsers;
      in
      count 3 msgs
      && lib.any (containsAll [ "users.johndoe" "can never exist" ]) msgs
      && lib.any (containsAll [ "vault-path" "must not start or end" ]) msgs
      && lib.any (containsAll [ "outputRoot" "/home/secrets" ]) msgs;
    "sssd: undeclared user is a warning" = failedAssertions sssdUsers == [ ] && count 1 sssdUsers.warnings;
    "flake: packages, module and checks" =
      flake.packages.x86_64-linux.default.name == "user-secrets-0.1.0"
      && flake.nixosModules.default == ../module.nix
      && lib.attrNames flake.checks.aarch64-linux == [ "package" "seed" "vm" ];
    "disabled: defines nothing" =
      disabled.systemd.services == { }
      && disabled.environment.etc == { }
      && disabled.assertions == [ ]
      && disabled.system.activationScripts == { };
  };

  passed = v: if builtins.isList v then lib.elemAt v 0 == lib.elemAt v 1 else v;
  failed = lib.filterAttrs (_: v: !passed v) checks;
  describe =
    name: v:
    if builtins.isList v then
      "  ${name}:\n    got  ${builtins.toJSON (lib.elemAt v 0)}\n    want ${builtins.toJSON (lib.elemAt v 1)}"
    else
      "  ${name}";
  guard =
    x:
    if failed == { } then
      x
    else
      throw "eval-test: ${toString (lib.length (lib.attrNames failed))} of ${toString (lib.length (lib.attrNames checks))} checks failed:\n${lib.concatStringsSep "\n" (lib.mapAttrsToList describe failed)}";
in
lib.mapAttrs (_: guard) {
  summary = "eval-test: ${toString (lib.length (lib.attrNames checks))} checks passed\n";
  seed = buildCheck seed;
  full = buildCheck full;
  token = buildCheck tokenAuth;
  bad = buildCheck badForTool;
}
