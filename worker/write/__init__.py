"""The one writer: executing a plan against Jira, the write journal, revert."""
