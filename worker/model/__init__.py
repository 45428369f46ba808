"""Frozen value types shared by every layer: what we read, what we decide, what we write.

These types are the contract between the packages:

* ``worker.atlassian`` turns Jira/Confluence responses into :class:`IssueSnapshot`,
  :class:`Directory` and :class:`Deal` values, and applies :class:`IssueWrite` values.
* ``worker.policy`` turns snapshots into a :class:`Plan` (pure: no I/O, no clock).
* ``worker.write.execute`` is the one writer; it returns :class:`Outcome` values.

The types live by concept: :mod:`~worker.model.vocabulary`, :mod:`~worker.model.people`,
:mod:`~worker.model.deals`, :mod:`~worker.model.issue`, :mod:`~worker.model.state` (the issue
property), :mod:`~worker.model.document` (comment bodies), :mod:`~worker.model.plan`,
:mod:`~worker.model.outcome`.

Identities: a :class:`Person` ``id`` is the Cloud ``accountId`` on Jira Cloud and the
``name`` (username) on Data Center. Nothing else in the code base needs to know which.
"""
