"""The one place tags come from.

Layers, least specific first: the stack's ``platform:tags``, then the tags every
resource of the stack carries (stack, managed-by), then the component's own, then
the resource's. A more specific layer wins a key; ``Name`` is set last.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Tags:
    """Tags of one component; ``for_resource`` gives a resource's full set."""

    base: Mapping[str, str] = field(default_factory=dict)

    def layered(self, *layers: Mapping[str, str]) -> Tags:
        merged: dict[str, str] = dict(self.base)
        for layer in layers:
            merged.update(layer)
        return Tags(merged)

    def for_resource(self, name: str | None = None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        tags = {**self.base, **(extra or {})}
        tags.pop("Name", None)
        if name is not None:
            tags["Name"] = name
        return tags


def stack_tags(user_tags: Mapping[str, str], *, project: str, stack: str) -> Tags:
    """The tags every resource of ``stack`` carries; the user's ``platform:tags`` may not override them."""
    return Tags(user_tags).layered({"Project": project, "Stack": stack, "ManagedBy": "pulumi"})
