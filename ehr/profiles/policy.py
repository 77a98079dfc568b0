"""What happens to a write that breaks a profile: ``EHR_PROFILE_POLICY``.

Two actions: ``accept-and-flag`` (store it, tag it ``not-exchangeable``, keep its issues in
``profile_flag``; the default, because the interoperability indicator measures exactly that
share) and ``reject`` (422 with the issues). The setting is a default action, optionally
followed by overrides per profile, separated by ``;``::

    accept-and-flag
    reject
    accept-and-flag; reject:vn-core-patient,vn-core-encounter
    reject; accept-and-flag:vn-core-observation

A profile is named by its StructureDefinition id (``vn-core-patient``) or its canonical URL.
A write is rejected when any profile it fails has the ``reject`` action. Only client writes
are ever rejected: what the exchange writes itself (seeding) is flagged instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ehr.profiles.definitions import ProfileSet

ACCEPT_AND_FLAG = "accept-and-flag"
REJECT = "reject"
ACTIONS = (ACCEPT_AND_FLAG, REJECT)


@dataclass(frozen=True)
class ProfilePolicy:
    default: str = ACCEPT_AND_FLAG
    overrides: Mapping[str, str] = field(default_factory=dict)
    """Profile id or canonical URL -> action."""

    @classmethod
    def parse(cls, text: str) -> ProfilePolicy:
        """Read the setting; ``ValueError`` names what is wrong with it."""
        default: str | None = None
        overrides: dict[str, str] = {}
        for part in (p.strip() for p in text.split(";")):
            if not part:
                continue
            action, _, names = part.partition(":")
            action = action.strip()
            if action not in ACTIONS:
                raise ValueError(f"EHR_PROFILE_POLICY: unknown action {action!r}; use {ACTIONS}")
            if not names.strip():
                if default is not None:
                    raise ValueError("EHR_PROFILE_POLICY: more than one default action")
                default = action
                continue
            for name in (n.strip() for n in names.split(",")):
                if not name:
                    raise ValueError(f"EHR_PROFILE_POLICY: empty profile name in {part!r}")
                if name in overrides and overrides[name] != action:
                    raise ValueError(f"EHR_PROFILE_POLICY: {name!r} given two actions")
                overrides[name] = action
        return cls(default or ACCEPT_AND_FLAG, overrides)

    def action(self, profile_url: str, profiles: ProfileSet) -> str:
        """The action for a write that fails the profile ``profile_url``."""
        if profile_url in self.overrides:
            return self.overrides[profile_url]
        profile = profiles.get(profile_url)
        if profile is not None and profile.name in self.overrides:
            return self.overrides[profile.name]
        return self.default

    def rejects(self, failing: Iterable[str], profiles: ProfileSet) -> bool:
        return any(self.action(url, profiles) == REJECT for url in failing)

    def unknown_names(self, profiles: ProfileSet) -> list[str]:
        """Overrides naming no profile of ``profiles`` (a typo would silently do nothing)."""
        known = {p.name for p in profiles.profiles.values()} | set(profiles.profiles)
        return sorted(name for name in self.overrides if name not in known)
