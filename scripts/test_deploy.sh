#!/usr/bin/env bash
# The deployment assets' checks that are not pytest: shellcheck over every script, then the
# bats tests of scripts/gradual_migration.sh (through `prove`, so the result is TAP) against
# a real rustfs server and a stand-in kubectl. The manifests of deploy/k8s are checked by
# e2e/test_k8s_manifests.py and e2e/test_k8s_pods.py. Needs the release binaries, the tools
# ShellCheck and bats, aws-cli and (for the Prometheus gate test) prometheus.
set -euo pipefail
cd "$(dirname "$0")/.."
shellcheck -x scripts/*.sh scripts/lib/*.sh scripts/tests/bin/* deploy/k8s/environments/*.env .ci/run
prove -e bats --ext .bats scripts/tests/
