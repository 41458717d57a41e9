# excalibur.services.vault-agent, as far as user-secrets needs it.
#
# The original module read the Vault address and the AppRole credential files
# from excalibur.services.vault-agent.settings.vault. Declaring those options
# here lets an existing configuration evaluate unchanged with no other module,
# and user-secrets' own options default to them.
#
# This declares options only: it starts no Vault Agent. `enable` is kept so
# that `vault-agent.enable = true;` still evaluates; it has no effect here.
# Do not import the old vault-agent module alongside this one: both would
# declare `enable` and evaluation would stop with "already declared".
{ lib, ... }:
let
  inherit (lib) mkOption types;

  credentialFile =
    what:
    mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "/var/lib/vault/host/${what}";
      description = ''
        Absolute path of the file holding the AppRole ${what}, read as root at
        every sync. A string, not a Nix path, so the file is never copied into
        the world-readable Nix store.
      '';
    };
in
{
  options.excalibur.services.vault-agent = {
    enable = lib.mkEnableOption "the vault-agent settings below (kept so existing configurations evaluate; this module starts no Vault Agent, and user-secrets reads settings.vault either way)";

    settings = mkOption {
      default = { };
      description = ''
        Vault Agent settings. Only `vault.address`, `vault.role-id` and
        `vault.secret-id` are used (by user-secrets); anything else is
        accepted and ignored.
      '';
      type = types.submodule {
        freeformType = types.attrsOf types.anything;
        options.vault = mkOption {
          default = { };
          description = "How to reach and log in to Vault.";
          type = types.submodule {
            freeformType = types.attrsOf types.anything;
            options = {
              address = mkOption {
                type = types.nullOr types.str;
                default = null;
                example = "https://vault.example.com:8200";
                description = "URL of the Vault server.";
              };
              role-id = credentialFile "role-id";
              secret-id = credentialFile "secret-id";
            };
          };
        };
      };
    };
  };
}
