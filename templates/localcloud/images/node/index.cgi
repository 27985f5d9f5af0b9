#!/bin/sh
# Shell builtins only: each process costs.
read -r name </etc/hostname
printf 'Content-Type: text/plain\r\n\r\n%s: ' "$name"
if [ -r /srv/src/message.txt ]; then
    while IFS= read -r line || [ -n "$line" ]; do echo "$line"; done </srv/src/message.txt
else
    echo 'no message'
fi
