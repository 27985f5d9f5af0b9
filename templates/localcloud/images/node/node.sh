#!/bin/sh
set -eu
until busybox wget -qO- "${MASTER_URL}/cgi-bin/register?name=$(hostname)" >/dev/null 2>&1; do
    sleep 1
done
printf '<meta http-equiv="refresh" content="0; url=/cgi-bin/index">\n' > /srv/www/index.html
exec busybox httpd -f -p 8000 -h /srv/www
