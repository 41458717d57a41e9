# systemd.services.user-secrets: one sync run, as root, in a sandbox that
# leaves it exactly what the sync needs. Separate from module.nix so each
# setting can carry its reason. The timer and the activation unit start it;
# `systemctl start user-secrets` runs it by hand.
{
  lib,
  exe,
  configPath,
  # The output root and the directories of the state and lock files.
  readWritePaths,
}:
{
  description = "Place users' Vault secrets in files only they can read";
  documentation = [ "https://github.com/excalibur/user-secrets#readme" ];

  # Vault is on the network; Wants= as well as After=, or the ordering is
  # void on hosts where nothing else pulls network-online.target in.
  wants = [ "network-online.target" ];
  # Users must resolve before their files are written: local users come
  # from activation, systemd-sysusers or userborn; LDAP users from SSSD.
  after = [
    "network-online.target"
    "nss-user-lookup.target"
    "systemd-sysusers.service"
    "userborn.service"
    "sssd.service"
  ];

  # A switch that changes this unit while a run is in progress must not
  # restart it: switch-to-configuration would wait for the whole sync. The
  # activation unit queues a fresh run instead (see module.nix).
  restartIfChanged = false;

  serviceConfig = {
    # One run per start; the unit is active only while it runs, so the timer
    # and `systemctl start` can start it again.
    Type = "oneshot";
    # Exit codes: 0 ok, 1 some keys failed, 2 spec or usage error, 3 Vault
    # unreachable or login failed, 4 lock not obtained. Anything but 0 marks
    # the unit failed, so a partial sync is visible in `systemctl --failed`.
    ExecStart = "${exe} --config ${configPath} sync";
    # The tool bounds itself (vault.timeout for Vault, --lock-timeout for
    # the lock); this is the backstop if it ever hangs anyway.
    TimeoutStartSec = "5min";

    # Root, because it chowns files to many users. Everything below takes
    # away what root does not need for that.
    User = "root";
    # Files the tool creates itself (state, temporaries) are born private;
    # it sets the modes of users' files explicitly.
    UMask = "0077";

    # Capabilities, exactly what placing files for other users takes (a
    # sync under this bounding set writes, leaves unchanged and prunes;
    # without any one of the first three it fails):
    CapabilityBoundingSet = [
      # fchown the new file, and the user's directory, to the user and
      # their primary group.
      "CAP_CHOWN"
      # chmod the user's directory and the new file once they belong to
      # the user: only an owner, or this capability, may change a mode.
      "CAP_FOWNER"
      # Create, rename and remove entries in the user's 0700 directory,
      # which root does not own (writes, temp-file cleanup, pruning).
      "CAP_DAC_OVERRIDE"
      # Open the user's directory and read their 0400 file to see whether
      # it is already `unchanged`, and read credential files owned by
      # another account. CAP_DAC_OVERRIDE would allow these reads too, but
      # the kernel checks this one first for read-only access, so reads are
      # attributed to it in audits and keep working if DAC_OVERRIDE is ever
      # dropped from this list.
      "CAP_DAC_READ_SEARCH"
    ];
    # No capability or setuid can be regained through exec.
    NoNewPrivileges = true;

    # The whole file system is read-only except these: the output root, the
    # state file's directory (/var/lib/user-secrets) and the lock file's
    # directory (/run, because the lock file /run/user-secrets.lock is shared
    # with runs started by hand and must not move).
    ProtectSystem = "strict";
    ReadWritePaths = readWritePaths;
    # Secrets never go to home directories, and no home is read.
    ProtectHome = true;
    # The tool needs no /tmp; a private one keeps others' files out of reach.
    PrivateTmp = true;
    # No device nodes beyond /dev/null, /dev/urandom and the like.
    PrivateDevices = true;

    # Vault over IPv4 or IPv6, and AF_UNIX for NSS: user lookups through
    # sssd or nscd and host lookups through systemd-resolved use local
    # sockets. Go passes no AI_ADDRCONFIG, so no netlink is needed.
    RestrictAddressFamilies = [
      "AF_INET"
      "AF_INET6"
      "AF_UNIX"
    ];
    # The system calls of an ordinary service, @chown and the file-system
    # calls included; privileged ones (mount, reboot, module loading...) fail.
    SystemCallFilter = [ "@system-service" ];
    SystemCallErrorNumber = "EPERM";
    SystemCallArchitectures = "native";

    # Nothing of the kernel, the clock, the hostname or other processes is
    # the sync's business.
    ProtectKernelTunables = true;
    ProtectKernelModules = true;
    ProtectKernelLogs = true;
    ProtectControlGroups = true;
    ProtectClock = true;
    ProtectHostname = true;
    ProtectProc = "invisible";
    RestrictNamespaces = true;
    RestrictRealtime = true;
    # Users' files are 0400 and their directories 0700; never setuid/setgid.
    RestrictSUIDSGID = true;
    LockPersonality = true;
    # A Go binary (cgo and glibc NSS modules included) needs no W+X memory.
    MemoryDenyWriteExecute = true;
  };
}
