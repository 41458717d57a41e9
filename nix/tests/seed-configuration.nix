# The configuration from the seed README, verbatim. It must keep evaluating
# unchanged (issue #4); eval-test.nix and the flake's checks use it.
{
  excalibur.services.user-secrets.enable = true;
  excalibur.services.user-secrets.users = {
    johndoe = { files = [ "api_key" "db_password" ]; };
  };
  excalibur.services.vault-agent = {
    enable = true;
    settings = {
      vault = {
        address = "https://your-vault-address.com";
        role-id = "/path/to/role-id";
        secret-id = "/path/to/secret-id";
      };
    };
  };
}
