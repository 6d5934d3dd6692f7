"""The swarm's join tokens went from the first manager to the joining hosts in the run's memory
only: no file on any node holds one."""

import testinfra
from sitehosts import INVENTORY, group

MANAGER = group("aidock_swarm_managers")[0]

testinfra_hosts = [MANAGER, *group("aidock_swarm_workers")]


def test_no_join_token_on_disk(host):
    manager = testinfra.get_host(f"ansible://{MANAGER}?ansible_inventory={INVENTORY}")
    for role in ("worker", "manager"):
        token = manager.check_output(f"docker swarm join-token -q {role}")
        found = host.run("grep -rlsF -- %s /etc /root /home /opt /var/log /tmp", token)
        assert found.stdout == "", found.stdout
