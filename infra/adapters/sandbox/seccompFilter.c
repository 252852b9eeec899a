/*
 * The preview sandbox's seccomp filter (docs/PREVIEWS.md, "Isolation"), built with libseccomp rather than
 * by hand: every system call is allowed except the ones below, which fail with EPERM. The program writes
 * the compiled BPF program to standard output; bubblewrap loads it with `--seccomp FD` before it runs the
 * preview. infra/adapters/sandbox/seccompFilter.ts compiles this file (cc ... -lseccomp) and caches the
 * output. Built for the architecture it runs on; other architectures' system calls are refused (the
 * filter's default for a foreign architecture is to kill), so a 32-bit entry cannot get around the list.
 * The 0x80 flag below is CLONE_NEWTIME, which older C libraries do not name.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static const char *const DENIED[] = {
    "ptrace",          "process_vm_readv",  "process_vm_writev", "mount",           "umount2",
    "pivot_root",      "chroot",            "move_mount",        "open_tree",       "fsopen",
    "fsmount",         "fsconfig",          "fspick",            "mount_setattr",   "keyctl",
    "add_key",         "request_key",       "bpf",               "perf_event_open", "unshare",
    "setns",           "kexec_load",        "kexec_file_load",   "init_module",     "finit_module",
    "delete_module",   "reboot",            "swapon",            "swapoff",         "syslog",
    "userfaultfd",     "personality",       "acct",              "quotactl",        "open_by_handle_at",
    "name_to_handle_at", "lookup_dcookie",  "iopl",              "ioperm",          "settimeofday",
    "clock_settime",   "clock_adjtime",     "adjtimex",          "sethostname",     "setdomainname",
    /* io_uring does system calls' work without them passing the filter; the rest as Docker's default
     * profile denies them: another process's descriptors and memory, NUMA placement, old or host-wide
     * calls. */
    "io_uring_setup",  "io_uring_enter",    "io_uring_register", "kcmp",            "pidfd_getfd",
    "mbind",           "move_pages",        "migrate_pages",     "set_mempolicy",   "uselib",
    "vhangup",
};

int main(void) {
  scmp_filter_ctx filter = seccomp_init(SCMP_ACT_ALLOW);
  if (filter == NULL) return 2;
  for (size_t index = 0; index < sizeof DENIED / sizeof DENIED[0]; index++) {
    int number = seccomp_syscall_resolve_name(DENIED[index]);
    /* A name this architecture does not have (iopl on arm64) has nothing to deny. */
    if (number == __NR_SCMP_ERROR) continue;
    if (seccomp_rule_add(filter, SCMP_ACT_ERRNO(EPERM), number, 0) != 0) return 3;
  }
  /* clone with a namespace flag is unshare by another name: one rule per flag, since a rule compares one
   * masked value. clone3 passes its flags in memory a filter cannot read, so it answers ENOSYS and the C
   * library falls back to clone, which the rules see. */
  static const unsigned long NAMESPACE_FLAGS[] = {CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET,    CLONE_NEWNS,
                                                  CLONE_NEWUTS,  CLONE_NEWIPC, CLONE_NEWCGROUP, 0x00000080UL};
  for (size_t index = 0; index < sizeof NAMESPACE_FLAGS / sizeof NAMESPACE_FLAGS[0]; index++) {
    unsigned long flag = NAMESPACE_FLAGS[index];
    if (seccomp_rule_add(filter, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1, SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag)) != 0)
      return 3;
  }
  /* socket and socketpair for Unix and IP alone: every other family (AF_VSOCK reaches the host whatever
   * the network namespace; netlink, packet, AF_ALG are kernel surface) fails with EAFNOSUPPORT. The
   * rules name what is refused: 0, 3 to 9 (between AF_INET and AF_INET6), and anything above AF_INET6,
   * which also takes any value with its upper bits set. */
  static const int SOCKET_CALLS[] = {SCMP_SYS(socket), SCMP_SYS(socketpair)};
  static const unsigned long REFUSED_BELOW_INET6[] = {AF_UNSPEC, 3, 4, 5, 6, 7, 8, 9};
  for (size_t call = 0; call < sizeof SOCKET_CALLS / sizeof SOCKET_CALLS[0]; call++) {
    if (seccomp_rule_add(filter, SCMP_ACT_ERRNO(EAFNOSUPPORT), SOCKET_CALLS[call], 1,
                         SCMP_A0(SCMP_CMP_GT, AF_INET6)) != 0)
      return 3;
    for (size_t index = 0; index < sizeof REFUSED_BELOW_INET6 / sizeof REFUSED_BELOW_INET6[0]; index++)
      if (seccomp_rule_add(filter, SCMP_ACT_ERRNO(EAFNOSUPPORT), SOCKET_CALLS[call], 1,
                           SCMP_A0(SCMP_CMP_EQ, REFUSED_BELOW_INET6[index])) != 0)
        return 3;
  }
  /* ioctl's TIOCSTI pushes input into a terminal, TIOCLINUX reads and drives the console: compared on
   * the low 32 bits, the command's width in the kernel. */
  static const unsigned long TERMINAL_COMMANDS[] = {TIOCSTI, TIOCLINUX};
  for (size_t index = 0; index < sizeof TERMINAL_COMMANDS / sizeof TERMINAL_COMMANDS[0]; index++)
    if (seccomp_rule_add(filter, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1,
                         SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffUL, TERMINAL_COMMANDS[index])) != 0)
      return 3;
  int clone3 = seccomp_syscall_resolve_name("clone3");
  if (clone3 != __NR_SCMP_ERROR && seccomp_rule_add(filter, SCMP_ACT_ERRNO(ENOSYS), clone3, 0) != 0) return 3;
  if (seccomp_export_bpf(filter, STDOUT_FILENO) != 0) return 4;
  seccomp_release(filter);
  return 0;
}
