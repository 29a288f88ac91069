#!/bin/busybox sh
# PID 1 of the lab guest: mounts the basics, loads the vsock modules, then
# runs the control agent (or an interactive shell for `cargo xtask lab shell`)
# and powers off.
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /run /tmp
# The control channel and the background jobs' files live on a tmpfs of
# their own, so scenarios that fill the root file system (their scratch
# files in /tmp) cannot starve the agent's scripts and their output.
mount -t tmpfs -o size=32m,mode=0755 tmpfs /run
for m in $(cat /lib/lab/modules.order); do
    insmod "/lib/lab/modules/$m.ko" || echo "lab-init: insmod $m failed"
done
ip link set lo up
case " $(cat /proc/cmdline) " in
*" hvlab.mode=shell "*)
    echo "lab-init: interactive shell; 'poweroff -f' (or Ctrl-A x) ends the VM"
    setsid cttyhack sh -l
    ;;
*)
    /lib/lab/agent.sh
    ;;
esac
poweroff -f
