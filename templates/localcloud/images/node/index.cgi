#!/bin/sh
printf 'Content-Type: text/plain\r\n\r\n'
echo "$(hostname): $(cat /srv/src/message.txt 2>/dev/null || echo 'no message')"
