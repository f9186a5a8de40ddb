"""Runs `ansible-inventory --list` on many inventories in one Python (Ansible's own venv).

Run with the Python of the venv holding ansible-core:

    /opt/tfstudio-test/venvs/ansible/bin/python tests/helpers/ansible_oracle.py OUT INV...

For each inventory file it forks (Ansible's CLI keeps global state, so one CLI per
process; the fork spares the second of Ansible's import per file) and runs the real
`ansible-inventory -i INV --list --output OUT/N.json` in the child. It writes
OUT/results.json: {inventory path: {"rc": exit code, "list": the --list document or
None}}. This file must not import tfstudio: it runs in Ansible's venv.
"""

from __future__ import annotations

import json
import os
import sys


def main() -> int:
    out_dir, paths = sys.argv[1], sys.argv[2:]
    os.environ["ANSIBLE_NOCOLOR"] = "1"
    os.environ["ANSIBLE_LOCALHOST_WARNING"] = "0"
    os.environ["ANSIBLE_INVENTORY_UNPARSED_WARNING"] = "0"
    os.environ["ANSIBLE_DEPRECATION_WARNINGS"] = "0"
    os.environ["ANSIBLE_INVENTORY_UNPARSED_FAILED"] = "1"
    os.environ["ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED"] = "1"
    from ansible.cli.inventory import InventoryCLI  # noqa: F401 - imported once, then forked

    results = {}
    for n, path in enumerate(paths):
        target = os.path.join(out_dir, f"{n}.json")
        pid = os.fork()
        if pid == 0:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            code = 1
            try:
                from ansible.cli.inventory import InventoryCLI as Cli

                code = Cli(["ansible-inventory", "-i", path, "--list", "--output", target]).run()
                code = code or 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:  # noqa: BLE001 - a parse failure is an answer
                code = 1
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        rc = os.waitstatus_to_exitcode(status)
        listing = None
        if rc == 0 and os.path.exists(target):
            with open(target, encoding="utf-8") as fh:
                listing = json.load(fh)
        results[path] = {"rc": rc, "list": listing}
    with open(os.path.join(out_dir, "results.json"), "w", encoding="utf-8") as fh:
        json.dump(results, fh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
