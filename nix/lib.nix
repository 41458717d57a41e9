# Pure helpers for the NixOS module. They use only builtins, so CI tests them
# with a bare nix-instantiate and no nixpkgs (tests/lib-test.nix).
#
# The key-name rules mirror perms.CheckName in the Go code, so a bad name fails
# at evaluation with the option's name in the message instead of later, at
# build time, when `user-secrets check` rejects the generated spec. The Go
# check stays the authority: it also runs on every spec the module builds.
let
  inherit (builtins)
    concatStringsSep
    filter
    head
    isString
    length
    mapAttrs
    match
    split
    stringLength
    substring
    tail
    toJSON
    ;

  # Quotes a string for messages, like Go's %q does in the tool's own errors.
  quote = toJSON;

  segments = p: filter isString (split "/" p);
  hasSlash = s: length (split "/" s) > 1;
in
rec {
  # Keep in sync with perms.TempPrefix and perms.MaxNameBytes.
  tempPrefix = ".user-secrets-tmp-";
  maxNameBytes = 255;

  # Spec defaults of config.defaults() that the module writes out explicitly,
  # so the unit's ReadWritePaths and the spec cannot disagree.
  defaultStateFile = "/var/lib/user-secrets/state.json";
  defaultLockFile = "/run/user-secrets.lock";
  userPlaceholder = "{user}";

  # Why `key` cannot be a file name in a user's directory, or null if it can.
  # A NUL byte needs no rule here: Nix strings cannot contain one. Invalid
  # UTF-8 is left to `user-secrets check`, which runs on every build.
  keyNameProblem =
    key:
    if key == "" then
      "key name is empty"
    else if key == "." || key == ".." then
      "key ${quote key} names a directory, not a file"
    else if hasSlash key then
      "key ${quote key} contains \"/\"; a key must be a single file name"
    else if stringLength key > maxNameBytes then
      "key ${quote (substring 0 20 key)}... is ${toString (stringLength key)} bytes long; file names are limited to ${toString maxNameBytes}"
    # [:cntrl:] is bytes 0-31 and 127 here; UTF-8 multibyte sequences never
    # match it, so "ключ" passes just as it does in the Go check.
    else if match "[^[:cntrl:]]*" key == null then
      "key ${quote key} contains a control character"
    else if substring 0 (stringLength tempPrefix) key == tempPrefix then
      "key ${quote key} starts with ${quote tempPrefix}, which is reserved for temporary files"
    else
      null;

  # A `files` entry is a key name or a table { key; name?; mode?; group?;
  # encoding?; } (see the README's per-file options); the file is `name`,
  # or `key` when no name is given.
  fileName =
    f:
    if isString f then
      f
    else if (f.name or null) != null && f.name != "" then
      f.name
    else
      f.key or "";

  fileEntryProblem =
    f: if !isString f && (f.key or "") == "" then "key name is empty" else keyNameProblem (fileName f);

  # Every problem with one user's files: bad names and duplicate file names.
  keyListProblems =
    files:
    let
      names = map fileName files;
      bad = filter (p: p != null) (map fileEntryProblem files);
      dups = filter (n: length (filter (x: x == n) names) > 1) names;
      dupMsgs = map (n: "file ${quote n} is listed twice") (uniq dups);
    in
    bad ++ dupMsgs;

  uniq = builtins.foldl' (acc: x: if builtins.elem x acc then acc else acc ++ [ x ]) [ ];

  # Why the original module's `vault-path` cannot be split into a KV mount and
  # an entry path, or null. Vault would normalise "a//b" or "a/./b" into
  # another path than the one written, so those are refused, as in the Go
  # checks of kv.mount and kv.path.
  vaultPathProblem =
    p:
    let
      segs = segments p;
    in
    if p == "" then
      "is empty"
    else if substring 0 1 p == "/" || substring (stringLength p - 1) 1 p == "/" then
      "${quote p} must not start or end with \"/\""
    else if filter (s: s == "" || s == "." || s == "..") segs != [ ] then
      "${quote p} has an empty, \".\" or \"..\" segment"
    else if match ".*[{}].*" p != null then
      "${quote p} must not contain braces; the user name is appended as the last segment"
    else
      null;

  # "secret/excalibur/users" -> { mount = "secret"; path = "excalibur/users/{user}"; }
  # The first segment is the mount, as in the original module, which always
  # read KV v2 at secret/excalibur/users/<user>. A mount with a slash in its
  # name ("team/kv") cannot be told apart; set settings.kv.{mount,path} then.
  splitVaultPath =
    p:
    let
      segs = segments p;
    in
    {
      mount = head segs;
      path = concatStringsSep "/" (tail segs ++ [ userPlaceholder ]);
    };

  kvVersionNumber =
    v:
    {
      v1 = 1;
      v2 = 2;
    }
    .${v} or (throw "kvVersion must be \"v1\" or \"v2\", got ${quote v}");

  # Drops null attributes: TOML has no null, and an unset optional value
  # must fall back to the tool's default rather than become "".
  dropNulls = attrs: builtins.removeAttrs attrs (filter (n: attrs.${n} == null) (builtins.attrNames attrs));

  # The spec (as an attribute set for pkgs.formats.toml) that the typed module
  # options describe. Options left null (unset credentials) are omitted; the
  # module's assertions report them before anything is built.
  mkSpec =
    {
      address,
      roleIdFile,
      secretIdFile,
      vaultPath,
      kvVersion,
      outputRoot,
      users,
    }:
    let
      kv = splitVaultPath vaultPath;
    in
    {
      vault = dropNulls { inherit address; };
      auth = dropNulls {
        role_id_file = roleIdFile;
        secret_id_file = secretIdFile;
      };
      kv = {
        inherit (kv) mount path;
        version = kvVersionNumber kvVersion;
      };
      output.root = outputRoot;
      state = {
        file = defaultStateFile;
        lock_file = defaultLockFile;
      };
      users = mapAttrs (
        _: u:
        dropNulls {
          files = map (f: if isString f then f else dropNulls f) u.files;
          path = u.path or null;
        }
      ) users;
    };
}
