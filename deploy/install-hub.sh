#!/usr/bin/env bash
# Install the scantrail hub and its broker on Debian, then enable and start both:
#
#   sudo deploy/install-hub.sh BROKER_HOST [BROKER_HOST ...]
#
# BROKER_HOST: the names and addresses the Pis reach the broker at (its certificate names
# them). The hub serves HTTPS on port 8443 at the same names. Running it again upgrades the
# code and the units and keeps the CA, the logins, the database and an edited hub.toml.
# With DESTDIR set it stages everything under that root and installs no package, creates
# no user and starts nothing (tests, packaging).
#
# Two folders, kept apart: /etc/scantrail/site (root only: the CA's key, the hub's
# certificate, key and broker password, the agents' bundles) and /etc/mosquitto/scantrail
# (what the broker reads: its certificate and key, the CA's certificate, logins, ACL).
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: install-hub.sh BROKER_HOST [BROKER_HOST ...]" >&2; exit 2; }
src=$(cd "$(dirname "$0")/.." && pwd)
root=${DESTDIR:-}
python=${PYTHON:-python3}
prefix=$root/opt/scantrail
broker=$root/etc/mosquitto/scantrail
site=$root/etc/scantrail/site

if [ -z "$root" ] && ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then
  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y mosquitto
fi
install -d -m 0755 "$prefix" "$root/etc/scantrail" "$root/etc/systemd/system"
[ -x "$prefix/venv/bin/python" ] || "$python" -m venv "$prefix/venv"
"$prefix/venv/bin/pip" install -q --upgrade "$src[hub]"
if [ ! -e "$root/etc/scantrail/hub.toml" ]; then
  # HTTPS on every interface with the certificate `ca init` issues (systemd credentials).
  sed -e 's|^database_url = .*|database_url = "sqlite:////var/lib/scantrail-hub/hub.db"|' \
      -e 's|^# username = "hub"|username = "hub"|' \
      -e '/^\[api\]/,/^\[/ s|^host = .*|host = "0.0.0.0"|' \
      -e '/^\[api\]/,/^\[/ s|^port = .*|port = 8443|' \
      -e 's|^# tls_cert = |tls_cert = |' -e 's|^# tls_key = |tls_key = |' \
      "$src/deploy/examples/hub.toml" > "$root/etc/scantrail/hub.toml"
fi
if [ ! -e "$site/ca.key" ]; then
  hosts=()
  for host in "$@"; do hosts+=(--broker-host "$host"); done
  "$prefix/venv/bin/scantrail-hub" ca init --site-dir "$site" --broker-dir "$broker" \
    "${hosts[@]}" --state-dir /var/lib/scantrail-mosquitto
fi
install -m 0644 "$src/systemd/scantrail-hub.service" "$src/systemd/scantrail-mosquitto.service" \
  "$root/etc/systemd/system/"

if [ -n "$root" ]; then
  echo "install-hub: staged under $root"
  exit 0
fi
id scantrail >/dev/null 2>&1 || useradd --system --no-create-home \
  --home-dir /var/lib/scantrail-hub --shell /usr/sbin/nologin scantrail
# The broker reads its folder as group mosquitto and owns nothing in it: ProtectSystem
# keeps /etc read-only for it anyway, and the site folder stays root's alone.
chown root:root "$site" && chmod 0700 "$site"
chown root:mosquitto "$broker" "$broker"/* && chmod 0750 "$broker"
chmod 0640 "$broker"/broker.key "$broker"/passwd "$broker"/acl
systemctl daemon-reload
systemctl disable --now mosquitto.service 2>/dev/null || true  # Debian's default broker
systemctl enable scantrail-mosquitto.service scantrail-hub.service
systemctl restart scantrail-mosquitto.service scantrail-hub.service
echo "install-hub: running; provision Pis with: scantrail-hub agents provision --help"
