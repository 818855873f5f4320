"""Each community's link state for the community list. The state is decided by uploads
(`uploads.monitoring.link_state`), which sits above communities and may not be imported from here: uploads
registers its function at start-up (`UploadsConfig.ready`), as devices registers its exports with residents."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .models import Community


@dataclass(frozen=True)
class LinkBadge:
    state: str  # healthy / degraded / down / halted
    label: str  # translated
    css: str  # afxq-ok / afxq-warn / afxq-bad


BadgeProvider = Callable[[Sequence[Community]], dict[int, LinkBadge]]
_providers: list[BadgeProvider] = []


def register(provider: BadgeProvider) -> None:
    if provider not in _providers:
        _providers.append(provider)


def badges(communities: Sequence[Community]) -> dict[int, LinkBadge]:
    """{community pk: badge}; empty when no provider is registered (uploads not installed)."""
    result: dict[int, LinkBadge] = {}
    for provider in _providers:
        result.update(provider(communities))
    return result
