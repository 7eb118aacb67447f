#!/usr/bin/env bash
# Install a scantrail agent on Raspberry Pi OS or Debian from a provisioned bundle
# (`scantrail-hub agents provision`, docs/provisioning.md), then enable and start it:
#
#   sudo deploy/install-agent.sh /path/to/bundle
#
# Running it again upgrades the code and the units and keeps the outbox. With DESTDIR set
# it stages everything under that root and creates no user and starts nothing (tests,
# packaging). It needs the network only for PyPI.
set -euo pipefail
bundle=${1:?usage: install-agent.sh BUNDLE}
src=$(cd "$(dirname "$0")/.." && pwd)
root=${DESTDIR:-}
python=${PYTHON:-python3}
prefix=$root/opt/scantrail

for file in agent.toml ca.crt credentials/scantrail-mqtt-password; do
  [ -e "$bundle/$file" ] || { echo "install-agent: $bundle/$file is missing" >&2; exit 2; }
done
install -d -m 0755 "$prefix" "$root/etc/scantrail" "$root/etc/systemd/system" \
  "$root/etc/udev/rules.d"
install -d -m 0700 "$root/etc/scantrail/credentials"
[ -x "$prefix/venv/bin/python" ] || "$python" -m venv "$prefix/venv"
"$prefix/venv/bin/pip" install -q --upgrade "$src[agent]"
install -m 0644 "$bundle/agent.toml" "$bundle/ca.crt" "$root/etc/scantrail/"
install -m 0600 "$bundle"/credentials/* "$root/etc/scantrail/credentials/"
install -m 0644 "$src/systemd/scantrail-agent.service" "$root/etc/systemd/system/"
install -m 0644 "$src/systemd/70-scantrail-scanners.rules" "$root/etc/udev/rules.d/"

if [ -n "$root" ]; then
  echo "install-agent: staged under $root"
  exit 0
fi
id scantrail >/dev/null 2>&1 || useradd --system --no-create-home \
  --home-dir /var/lib/scantrail-agent --shell /usr/sbin/nologin scantrail
udevadm control --reload || true
udevadm trigger --subsystem-match=tty --subsystem-match=input || true
systemctl daemon-reload
systemctl enable scantrail-agent.service
systemctl restart scantrail-agent.service
echo "install-agent: scantrail-agent is running; see: systemctl status scantrail-agent"
