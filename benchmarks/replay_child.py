"""Run ``nms-monitor replay`` and print its own peak RSS (VmHWM) on the last stderr line.

``ru_maxrss`` of a child includes pages it inherited from a large parent before ``exec``; the
kernel's per-process high-water mark (VmHWM) does not.
"""

from __future__ import annotations

import sys

from monitor.cli.main import main


def _vm_hwm_bytes() -> int:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return -1


if __name__ == "__main__":
    code = main(["replay", *sys.argv[1:]])
    sys.stderr.write(f"\nVmHWM {_vm_hwm_bytes()}\n")
    sys.exit(code)
