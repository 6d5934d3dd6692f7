#!/usr/bin/python
# Copyright: aidock; Apache-2.0
"""Ansible module aidock_cli: run an aidock CLI command that answers JSON and return the answer."""

from __future__ import annotations

import json
import os
import re
import sys

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: aidock_cli
short_description: Run an aidock CLI command that answers JSON, and return the answer
description:
  - Runs C(aidock) with O(argv) (a command that prints JSON on standard output, such as
    C(bento validate ARCHIVE --json)) and returns the parsed answer in RV(json).
  - Fails when the command exits non-zero, with O(fail_msg) followed by what the CLI said on
    standard error (its C(error:) prefix dropped), so the play stops with the CLI's own reason.
  - Only for commands that change nothing (checks, reports): it never reports a change and also
    runs in check mode.
options:
  argv:
    description: Arguments after the executable, e.g. V([bento, validate, x.bento, --json]).
    type: list
    elements: str
    required: true
  executable:
    description:
      - Path of the aidock CLI.
      - Default, the C(aidock) beside the Python that runs the module (the controller's venv when
        the task is delegated to localhost), else the one on E(PATH).
    type: path
  fail_msg:
    description: What a failure says before the CLI's error, e.g. which input to fix.
    type: str
    default: The aidock CLI failed
author: aidock
"""

EXAMPLES = r"""
- name: Check a Bento archive
  aidock_cli:
    executable: "{{ ansible_playbook_python | dirname }}/aidock"
    argv: [bento, validate, /tmp/x.bento, --json]
    fail_msg: The Bento archive cannot be imported
  register: check
  delegate_to: localhost

- name: Show its Bento tag
  ansible.builtin.debug:
    msg: "{{ check.json.bento }}"
"""

RETURN = r"""
json:
  description: The command's standard output, parsed as JSON.
  returned: success
  type: raw
rc:
  description: Exit status of the command.
  returned: always
  type: int
cmd:
  description: The command that ran.
  returned: always
  type: list
  elements: str
stdout:
  description: Standard output of the command.
  returned: always
  type: str
stderr:
  description: Standard error of the command.
  returned: always
  type: str
"""


def cli_error(stderr: str, stdout: str, rc: int) -> str:
    """What the CLI said went wrong: its stderr without the ``error:`` prefixes."""
    said = re.sub(r"(?m)^error: ", "", stderr.strip())
    return said or stdout.strip() or f"exit status {rc} without a message"


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "argv": {"type": "list", "elements": "str", "required": True},
            "executable": {"type": "path"},
            "fail_msg": {"type": "str", "default": "The aidock CLI failed"},
        },
        supports_check_mode=True,
    )
    executable = module.params["executable"]
    if not executable:
        beside = os.path.join(os.path.dirname(sys.executable), "aidock")
        executable = beside if os.access(beside, os.X_OK) else module.get_bin_path("aidock", True)
    cmd = [executable, *module.params["argv"]]
    rc, stdout, stderr = module.run_command(cmd)
    result = {"changed": False, "rc": rc, "cmd": cmd, "stdout": stdout, "stderr": stderr}
    if rc != 0:
        said = cli_error(stderr, stdout, rc)
        module.fail_json(msg=f"{module.params['fail_msg']}: {said}", **result)
    try:
        answer = json.loads(stdout)
    except ValueError as exc:
        module.fail_json(
            msg=f"{module.params['fail_msg']}: {' '.join(cmd)} printed no JSON ({exc})", **result
        )
    module.exit_json(json=answer, **result)


if __name__ == "__main__":
    main()
