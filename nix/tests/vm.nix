# NixOS VM test: boots a machine with a dev-mode Vault server and this
# module, syncs two users and checks owners, modes and contents, then checks
# that a switch queues a sync and that a switch with Vault down still
# succeeds while the sync fails visibly and keeps the files.
#
# It needs Nix with KVM, so it cannot run on this project's CI machines
# (Debian, no Nix store, no KVM); run it on a Linux host with Nix:
#
#   nix build ./nix#checks.x86_64-linux.vm -L
#   nix-build -E 'import ./nix/tests/vm.nix { pkgs = import <nixpkgs> { }; }'
#
# The server is OpenBao, the API-compatible fork of Vault: same AppRole and
# KV v2 API, and a free license, so the test needs no allowUnfree. The e2e
# suite (e2e/) already runs against HashiCorp Vault itself.
{ pkgs }:
pkgs.testers.runNixOSTest {
  name = "user-secrets";

  nodes.machine =
    { pkgs, ... }:
    {
      imports = [ ../module.nix ];

      environment.systemPackages = [ pkgs.curl ];
      users.users.johndoe.isNormalUser = true;
      users.users.jane.isNormalUser = true;

      systemd.services.vault-dev = {
        wantedBy = [ "multi-user.target" ];
        # In-memory, unsealed, root token "root"; KV v2 mounted at secret/.
        serviceConfig.ExecStart = "${pkgs.openbao}/bin/bao server -dev -dev-root-token-id=root -dev-listen-address=127.0.0.1:8200";
      };

      excalibur.services.user-secrets = {
        enable = true;
        users.johndoe.files = [
          "api_key"
          "db_password"
        ];
        users.jane = {
          files = [ "kube.config" ];
          path = "teams/infra/{user}";
        };
      };
      # Credentials the way the original module's users configure them.
      excalibur.services.vault-agent = {
        enable = true;
        settings.vault = {
          address = "http://127.0.0.1:8200";
          role-id = "/var/lib/vault/host/role-id";
          secret-id = "/var/lib/vault/host/secret-id";
        };
      };
    };

  testScript = ''
    import json
    import shlex

    def api(method, path, body=None):
        cmd = f"curl -sSf -X {method} -H 'X-Vault-Token: root' http://127.0.0.1:8200/v1/{path}"
        if body is not None:
            cmd += " -d " + shlex.quote(json.dumps(body))
        out = machine.succeed(cmd)
        return json.loads(out) if out.strip() else None

    def expect(cmd, want):
        got = machine.succeed(cmd).strip()
        assert got == want, f"{cmd}: got {got!r}, want {want!r}"

    machine.wait_for_unit("vault-dev.service")
    machine.wait_for_open_port(8200)

    with subtest("set up AppRole, a read-only policy and two users' entries"):
        api("POST", "sys/auth/approle", {"type": "approle"})
        api("PUT", "sys/policies/acl/user-secrets", {"policy": """
            path "secret/data/excalibur/users/*" { capabilities = ["read"] }
            path "secret/data/teams/infra/*" { capabilities = ["read"] }
        """})
        api("POST", "auth/approle/role/host", {"token_policies": ["user-secrets"]})
        role_id = api("GET", "auth/approle/role/host/role-id")["data"]["role_id"]
        secret_id = api("POST", "auth/approle/role/host/secret-id")["data"]["secret_id"]
        machine.succeed(
            "install -d -m 0700 /var/lib/vault/host",
            f"printf %s {role_id} > /var/lib/vault/host/role-id",
            f"printf %s {secret_id} > /var/lib/vault/host/secret-id",
            "chmod 0400 /var/lib/vault/host/role-id /var/lib/vault/host/secret-id",
        )
        api("POST", "secret/data/excalibur/users/johndoe",
            {"data": {"api_key": "k-johndoe", "db_password": "p-johndoe"}})
        api("POST", "secret/data/teams/infra/jane", {"data": {"kube.config": "kube-jane"}})

    with subtest("a sync places every key, owned by its user, mode 0400"):
        machine.succeed("systemctl start user-secrets.service")
        expect("stat -c '%U %G %a' /var/lib/vault/users", "root root 755")
        for user, key, value in [
            ("johndoe", "api_key", "k-johndoe"),
            ("johndoe", "db_password", "p-johndoe"),
            ("jane", "kube.config", "kube-jane"),
        ]:
            expect(f"stat -c '%U %G %a' /var/lib/vault/users/{user}", f"{user} users 700")
            expect(f"stat -c '%U %G %a' /var/lib/vault/users/{user}/{key}", f"{user} users 400")
            expect(f"runuser -u {user} -- cat /var/lib/vault/users/{user}/{key}", value)
        machine.fail("runuser -u jane -- cat /var/lib/vault/users/johndoe/api_key")
        expect("systemctl show -p Result --value user-secrets.service", "success")

    with subtest("a switch queues a sync that picks up a changed value"):
        api("POST", "secret/data/excalibur/users/johndoe",
            {"data": {"api_key": "k2", "db_password": "p-johndoe"}})
        machine.succeed("/run/current-system/bin/switch-to-configuration test")
        machine.wait_until_succeeds("test \"$(cat /var/lib/vault/users/johndoe/api_key)\" = k2")

    with subtest("with Vault down a switch succeeds, the sync fails visibly, files stay"):
        machine.succeed("systemctl stop vault-dev.service")
        machine.succeed("/run/current-system/bin/switch-to-configuration test")
        machine.wait_until_succeeds("systemctl is-failed user-secrets.service", timeout=180)
        expect("systemctl show -p ExecMainStatus --value user-secrets.service", "3")
        expect("cat /var/lib/vault/users/johndoe/api_key", "k2")
        machine.succeed("journalctl -u user-secrets.service | grep 'user-secrets: error'")
  '';
}
