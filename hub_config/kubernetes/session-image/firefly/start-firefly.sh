#!/bin/sh
# Run Firefly's Tomcat in the foreground on port $1 (given by jupyter-server-proxy), with a
# private CATALINA_BASE so the image's Tomcat stays read-only and two sessions never clash.
set -eu
port=${1:?usage: start-firefly.sh PORT}
base=$(mktemp -d "${TMPDIR:-/tmp}/firefly.XXXXXX")
mkdir -p "$base/logs" "$base/temp" "$base/work"
cp -r /opt/firefly/tomcat/conf "$base/conf"
# the HTTP connector on our port, no shutdown port
sed -i -e "s/port=\"8080\"/port=\"$port\"/" -e "s/port=\"8005\"/port=\"-1\"/" "$base/conf/server.xml"
ln -s /opt/firefly/tomcat/webapps "$base/webapps"
export CATALINA_HOME=/opt/firefly/tomcat CATALINA_BASE="$base" CATALINA_OPTS="${FIREFLY_OPTS:-} ${CATALINA_OPTS:-}"
exec /opt/firefly/tomcat/bin/catalina.sh run
