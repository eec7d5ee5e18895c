"""The platform's policy pack (``pulumi preview --policy-pack policy``), its rules and the replacement guard.

``rules`` is plain Python, shared with the offline preview; ``pack`` adapts it to pulumi-policy;
``guard`` reads ``pulumi preview --json`` and refuses replacing or deleting stateful resources.
"""
