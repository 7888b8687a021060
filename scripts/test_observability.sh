#!/usr/bin/env bash
# Static checks of the observability assets: the Prometheus config and alert rules
# (promtool check + the rules' unit tests), and the Grafana dashboards type-checked against
# Grafana's published schema (@grafana/schema, TypeScript). The e2e suite
# (e2e/test_observability.py) then runs every query against a real Prometheus and server.
# Needs: promtool (Debian package prometheus), Node.js with npm.
set -euo pipefail
cd "$(dirname "$0")/.."
promtool check config --syntax-only deploy/prometheus/prometheus.yml
promtool check rules deploy/prometheus/rules/metadata.yaml
promtool test rules deploy/prometheus/tests/metadata_test.yaml
# The committed dashboards are what build_dashboards.py writes.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r deploy/grafana/dashboards "$tmp/before"
python3 deploy/grafana/build_dashboards.py
diff -r "$tmp/before" deploy/grafana/dashboards || { echo "dashboards differ from build_dashboards.py output"; exit 1; }
cd deploy/grafana/schema-check
[ -d node_modules ] || npm ci --silent --no-audit --no-fund
npm run --silent check
