#!/usr/bin/env bash
# The command-line tools the tests use, installed from Debian's packages when missing (.ci/run and
# .github/workflows/ci.yml both call it; root, or sudo where there is one):
#   softhsm2-util  SoftHSM2, for the PKCS#11 tests (each makes a throw-away token);
#   jq, xxd        the auditor's check script (archive/auditorCheck.sh) besides openssl, gzip, coreutils;
#   promtool       the Prometheus alert rules' checks and unit tests (deploy/prometheus/);
#   kubectl        `kubectl kustomize` of every overlay (deploy/k8s/);
#   bwrap, cc      bubblewrap, and the C compiler with libseccomp's headers (libseccomp-dev) that build the
#                  preview sandbox's seccomp filter (infra/adapters/sandbox/); prlimit is util-linux's;
#   python3        Debian's /usr/bin/python3, whose zipfile reads .zip preview artifacts;
#   chromium       the auditor page's tests and benchmark, headless (test/auditor/, bench/browserVerify.ts);
#   yara           the content inspector's YARA plugin, run for real in its tests (infra/adapters/inspection/);
#   zip            Info-ZIP's zip, which makes the deflated and encrypted zip archives of the inspection tests;
#   xz, bzip2      the compressed streams the inspection's archive walk does not open (held, not passed).
# A tool that cannot be installed is named in a warning; the tests that need it then fail or say why.
set -uo pipefail

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
updated=false
missing_seccomp_headers=false
[ -f /usr/include/seccomp.h ] || missing_seccomp_headers=true
for pair in softhsm2-util:softhsm2 jq:jq xxd:xxd promtool:prometheus kubectl:kubectl bwrap:bubblewrap cc:gcc prlimit:util-linux python3:python3 \
  seccomp-headers:libseccomp-dev chromium:chromium yara:yara zip:zip xz:xz-utils bzip2:bzip2; do
  tool=${pair%%:*}
  package=${pair#*:}
  if [ "$tool" = seccomp-headers ]; then
    [ "$missing_seccomp_headers" = false ] && continue
  else
    command -v "$tool" >/dev/null 2>&1 && continue
  fi
  if [ "$updated" = false ]; then
    $sudo apt-get update -qq >/dev/null 2>&1
    updated=true
  fi
  # --no-install-recommends: the prometheus package is wanted for promtool, not for a running server.
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$package" >/dev/null 2>&1 \
    || echo "warning: could not install $package; the tests that need $tool will fail"
done
