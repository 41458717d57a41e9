# Tests of ../lib.nix with builtins only (no nixpkgs), so they run wherever
# nix-instantiate does:
#
#   nix-instantiate --eval --strict nix/tests/lib-test.nix
#
# Evaluates to a summary string, or throws listing every failed case.
let
  l = import ../lib.nix;
  inherit (builtins)
    concatStringsSep
    filter
    fromJSON
    genList
    length
    ;

  # Control characters cannot be written in Nix string literals except
  # \t, \n and \r; JSON escapes reach the others.
  ctl = code: fromJSON "\"a\\u00${code}b\"";
  repeat = n: s: concatStringsSep "" (genList (_: s) n);
  contains = needle: s: builtins.match ".*${needle}.*" s != null;

  # A case is { name; got; want; } compared with ==, or { name; ok; }.
  eq = name: got: want: { inherit name got want; };
  # keyNameProblem must accept `key` (null) or name the rule it breaks.
  key =
    k: want:
    let
      got = l.keyNameProblem k;
    in
    {
      name = "keyNameProblem ${builtins.toJSON k}";
      inherit got;
      want = if want == null then null else "a message containing ${builtins.toJSON want}";
      ok = if want == null then got == null else got != null && contains want got;
    };

  cases = [
    # Accepted: any single file name, as in the Go tests of perms.CheckName.
    (key "api_key" null)
    (key "kube.config" null)
    (key "api key" null)
    (key ".env" null)
    (key "..." null)
    (key "ключ" null)
    (key "é" null)
    (key (ctl "85") null) # U+0085 is two UTF-8 bytes, neither a C0 control
    (key (repeat 255 "k") null)
    (key (repeat 127 "ж") null) # 254 bytes
    (key ".user-secrets-tmp" null) # the prefix needs its trailing "-"

    # Rejected, one per rule.
    (key "" "empty")
    (key "." "names a directory")
    (key ".." "names a directory")
    (key "a/b" "contains \"/\"")
    (key "/abs" "contains \"/\"")
    (key "a/" "contains \"/\"")
    (key (repeat 256 "k") "256 bytes long")
    (key (repeat 128 "ж") "256 bytes long")
    (key "a\nb" "control character")
    (key "a\rb" "control character")
    (key "\tkey" "control character")
    (key (ctl "01") "control character")
    (key (ctl "1b") "control character")
    (key (ctl "7f") "control character")
    (key ".user-secrets-tmp-x" "reserved for temporary files")

    (eq "keyListProblems ok" (l.keyListProblems [
      "a"
      "b"
    ]) [ ])
    (eq "keyListProblems all"
      (l.keyListProblems [
        "a"
        ".."
        "a"
        "b"
        "a"
      ])
      [
        "key \"..\" names a directory, not a file"
        "file \"a\" is listed twice"
      ]
    )
    (eq "keyListProblems tables"
      (l.keyListProblems [
        { key = "tls.crt"; name = "cert.pem"; }
        { key = "cert.pem"; }
        { key = "x"; name = "../x"; }
        { key = ""; }
        { key = "k"; name = null; }
        "k"
      ])
      [
        "key \"../x\" contains \"/\"; a key must be a single file name"
        "key name is empty"
        "file \"cert.pem\" is listed twice"
        "file \"k\" is listed twice"
      ]
    )

    (eq "split seed path" (l.splitVaultPath "secret/excalibur/users") {
      mount = "secret";
      path = "excalibur/users/{user}";
    })
    (eq "split mount only" (l.splitVaultPath "kv") {
      mount = "kv";
      path = "{user}";
    })
    (eq "split deep" (l.splitVaultPath "kv/a/b/c") {
      mount = "kv";
      path = "a/b/c/{user}";
    })
    (eq "vault-path ok" (l.vaultPathProblem "secret/excalibur/users") null)
    rec {
      name = "vault-path problems";
      got = map l.vaultPathProblem [
        ""
        "/secret/x"
        "secret/x/"
        "secret//x"
        "secret/./x"
        "secret/../x"
        "secret/{user}"
      ];
      ok = length (filter (p: p == null) got) == 0;
      want = "a message for every path";
    }

    (eq "kv v1" (l.kvVersionNumber "v1") 1)
    (eq "kv v2" (l.kvVersionNumber "v2") 2)
    (eq "kv v3 throws" (builtins.tryEval (l.kvVersionNumber "v3")).success false)

    (eq "dropNulls" (l.dropNulls {
      a = 1;
      b = null;
      c = "";
    }) {
      a = 1;
      c = "";
    })

    # The seed configuration's values, mapped onto the spec.
    (eq "mkSpec seed"
      (l.mkSpec {
        address = "https://your-vault-address.com";
        roleIdFile = "/path/to/role-id";
        secretIdFile = "/path/to/secret-id";
        vaultPath = "secret/excalibur/users";
        kvVersion = "v2";
        outputRoot = "/var/lib/vault/users";
        users.johndoe.files = [
          "api_key"
          "db_password"
        ];
        users.jane = {
          files = [
            "kube.config"
            {
              key = "tls.crt";
              name = "cert.pem";
              mode = "0440";
              group = null;
              encoding = null;
            }
          ];
          path = "teams/infra/{user}";
        };
      })
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
        users.johndoe.files = [
          "api_key"
          "db_password"
        ];
        users.jane = {
          files = [
            "kube.config"
            {
              key = "tls.crt";
              name = "cert.pem";
              mode = "0440";
            }
          ];
          path = "teams/infra/{user}";
        };
      }
    )
    (eq "mkSpec leaves unset credentials out"
      (l.mkSpec {
        address = null;
        roleIdFile = null;
        secretIdFile = "/s";
        vaultPath = "secret/x";
        kvVersion = "v1";
        outputRoot = "/o";
        users = { };
      }).auth
      { secret_id_file = "/s"; }
    )
  ];

  passed = c: c.ok or (c.got == c.want);
  failed = filter (c: !passed c) cases;
  describe = c: "  ${c.name}: got ${builtins.toJSON c.got}, want ${builtins.toJSON c.want}";
in
if failed == [ ] then
  "lib-test: ${toString (length cases)} cases passed"
else
  throw "lib-test: ${toString (length failed)} of ${toString (length cases)} cases failed:\n${concatStringsSep "\n" (map describe failed)}"
