"""The process exit codes, in one light module (the CLI imports it before anything heavy).

0 ok; 1 invalid input or configuration (settings, policy file, arguments, state store);
2 cannot reach or authenticate to Atlassian; 3 the cycle completed with failed actions;
4 ``plan --against``: the two policy files plan differently; 5 another process holds the
leader lease (``run --once``, ``revert``: nothing was done); 6 another installation (a store
of its own) writes to the same site: nothing written (``another_actor``).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_UNREACHABLE = 2
EXIT_FAILED_ACTIONS = 3
EXIT_DIFFERS = 4  # plan --against: the two policy files plan differently
EXIT_LEASE_HELD = 5  # run --once / revert: another process holds the leader lease
EXIT_ANOTHER_ACTOR = 6  # run --once / revert: another installation writes to this site
