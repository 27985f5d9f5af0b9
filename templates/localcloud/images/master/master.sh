#!/bin/sh
# Serves the registry over HTTP with busybox httpd and CGI.
set -eu
mkdir -p /var/lib/master
: > /var/lib/master/nodes
echo ok > /srv/master/health
busybox httpd -f -p "${MASTER_PORT:-8500}" -h /srv/master &
# As the container's pid 1 the shell gets SIGTERM only through a trap: without one a stop
# would wait out its grace period.
trap 'kill $!; exit 0' TERM INT
wait
