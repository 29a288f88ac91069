#!/bin/sh
# Control-channel agent on the guest's second serial port (/dev/ttyS1).
#
# Request (one line):  <id> <timeout-secs> <base64 of a shell script>
# Response:            __HVLAB_OUT <id> <n>
#                      <n bytes: the script's stdout and stderr>
#                      __HVLAB_END <id> <exit status>
# A script that cannot be written, or that fills /run (so its output may be
# cut short), ends with status 125.
# Scripts run one at a time, with /lib/lab/functions.sh sourced first and
# stdin from /dev/null; a script still running after its timeout is killed.
exec </dev/ttyS1 >/dev/ttyS1 2>&1
stty raw -echo
d=/run/lab/ctl
mkdir -p "$d"
echo __HVLAB_READY__
while IFS=' ' read -r id t b64; do
    [ -n "$id" ] || continue
    if ! { echo '. /lib/lab/functions.sh'; echo "$b64" | base64 -d; } >"$d/$id.sh" 2>/dev/null; then
        # A script that could not be written fails; it never runs empty.
        msg="lab agent: could not write script $id: $(df /run | tail -1)"
        echo "__HVLAB_OUT $id $((${#msg} + 1))"
        echo "$msg"
        echo "__HVLAB_END $id 125"
        rm -f "$d/$id.sh"
        continue
    fi
    timeout -s KILL "$t" sh "$d/$id.sh" </dev/null >"$d/$id.out" 2>&1
    rc=$? note=
    if [ "$(df /run | awk 'NR == 2 { print $4 }')" -lt 64 ]; then
        # Its output may have been cut short: a failure, never a quiet loss.
        rc=125 note="lab agent: /run filled up while script $id ran; its output may be cut short"
    fi
    n=$(wc -c <"$d/$id.out")
    echo "__HVLAB_OUT $id $((n + ${#note}))"
    head -c "$n" "$d/$id.out"
    printf %s "$note"
    echo "__HVLAB_END $id $rc"
    rm -f "$d/$id.sh" "$d/$id.out"
done
