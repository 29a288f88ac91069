#!/bin/sh
# Control-channel agent on the guest's second serial port (/dev/ttyS1).
#
# Request (one line):  <id> <timeout-secs> <base64 of a shell script>
# Response:            __HVLAB_OUT <id> <n>
#                      <n bytes: the script's stdout and stderr>
#                      __HVLAB_END <id> <exit status>
# Scripts run one at a time, with /lib/lab/functions.sh sourced first and
# stdin from /dev/null; a script still running after its timeout is killed.
exec </dev/ttyS1 >/dev/ttyS1 2>&1
stty raw -echo
d=/run/lab/ctl
mkdir -p "$d"
echo __HVLAB_READY__
while IFS=' ' read -r id t b64; do
    [ -n "$id" ] || continue
    { echo '. /lib/lab/functions.sh'; echo "$b64" | base64 -d; } >"$d/$id.sh"
    timeout -s KILL "$t" sh "$d/$id.sh" </dev/null >"$d/$id.out" 2>&1
    rc=$?
    n=$(wc -c <"$d/$id.out")
    echo "__HVLAB_OUT $id $n"
    head -c "$n" "$d/$id.out"
    echo "__HVLAB_END $id $rc"
    rm -f "$d/$id.sh" "$d/$id.out"
done
