"""Talking to Atlassian: clients, the retry policy, Jira and Confluence gateways, markup."""

from __future__ import annotations
