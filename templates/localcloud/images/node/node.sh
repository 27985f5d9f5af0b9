#!/bin/sh
set -eu
trap 'exit 0' TERM INT
read -r name </etc/hostname
until busybox wget -qO- "${MASTER_URL}/cgi-bin/register?name=${name}" >/dev/null 2>&1; do
    sleep 1
done
printf '<meta http-equiv="refresh" content="0; url=/cgi-bin/index">\n' > /srv/www/index.html
busybox httpd -f -p 8000 -h /srv/www &
# As the container's pid 1 the shell gets SIGTERM only through a trap: without one a stop
# would wait out its grace period.
trap 'kill $!; exit 0' TERM INT
wait
