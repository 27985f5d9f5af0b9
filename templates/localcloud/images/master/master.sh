#!/bin/sh
# Serves the registry over HTTP with busybox httpd and CGI.
set -eu
mkdir -p /var/lib/master
: > /var/lib/master/nodes
echo ok > /srv/master/health
exec busybox httpd -f -p "${MASTER_PORT:-8500}" -h /srv/master
