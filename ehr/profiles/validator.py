"""Validating a resource against the profiles that apply to it.

Which profiles apply: the national profiles of its type (every resource of the type,
declared or not), every profile it declares in ``meta.profile``, and the profiles those
derive from. A declared profile we do not know is a warning (``not-supported``), not an
error; one for another resource type is an error (``invalid``). Issues come in a fixed
order: profile by profile (national first, then as declared), element by element in the
profile's differential order, values in document order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ehr.errors import Issue
from ehr.profiles.checks import check_element
from ehr.profiles.definitions import Profile, ProfileSet
from ehr.profiles.paths import Node


@dataclass(frozen=True)
class Finding:
    issue: Issue
    profile: str | None
    """The canonical URL of the profile whose rule it breaks (``None``: about the profiles)."""


@dataclass
class Report:
    """The outcome of validating one resource."""

    profiles: list[str] = field(default_factory=list)
    """The canonical URLs of the profiles checked."""
    findings: list[Finding] = field(default_factory=list)

    @property
    def issues(self) -> list[Issue]:
        return [f.issue for f in self.findings]

    @property
    def valid(self) -> bool:
        """No error (warnings do not make a resource invalid)."""
        return not any(f.issue.severity in ("error", "fatal") for f in self.findings)

    def failing_profiles(self) -> list[str]:
        """The profiles with an error, in the order they were checked."""
        failing = {f.profile for f in self.findings if f.issue.severity in ("error", "fatal")}
        return [p for p in self.profiles if p in failing]


def applicable_profiles(
    resource: dict[str, Any], profiles: ProfileSet
) -> tuple[list[Profile], list[Issue]]:
    """The profiles ``resource`` must meet, and the issues about the ones it declares."""
    res_type = str(resource.get("resourceType"))
    chosen: list[Profile] = list(profiles.national(res_type))
    issues: list[Issue] = []
    meta = resource.get("meta")
    declared = meta.get("profile") if isinstance(meta, dict) else None
    for index, canonical in enumerate(declared if isinstance(declared, list) else []):
        at = f"{res_type}.meta.profile[{index}]"
        if not isinstance(canonical, str):
            continue
        profile = profiles.get(canonical)
        if profile is None:
            issues.append(
                Issue(
                    "warning",
                    "not-supported",
                    f"{at}: unknown profile {canonical[:200]}; not checked",
                    (at,),
                )
            )
        elif profile.type != res_type:
            issues.append(
                Issue(
                    "error",
                    "invalid",
                    f"{at}: {profile.url} is a profile of {profile.type}, not {res_type}",
                    (at,),
                )
            )
        else:
            chosen.append(profile)
    return with_bases(chosen, profiles), issues


def with_bases(chosen: Sequence[Profile], profiles: ProfileSet) -> list[Profile]:
    """``chosen`` and the profiles they derive from, each once, in order."""
    result: list[Profile] = []
    for profile in chosen:
        current: Profile | None = profile
        while current is not None and current not in result:
            result.append(current)
            current = profiles.get(current.base)
    return result


def validate(resource: dict[str, Any], profiles: ProfileSet, only: Profile | None = None) -> Report:
    """Validate ``resource`` against its applicable profiles (or just ``only`` and its bases)."""
    if only is not None:
        chosen, report = with_bases([only], profiles), Report()
    else:
        chosen, about = applicable_profiles(resource, profiles)
        report = Report(findings=[Finding(issue, None) for issue in about])
    root = Node(resource, str(resource.get("resourceType")))
    for profile in chosen:
        report.profiles.append(profile.url)
        for rule in profile.elements:
            report.findings.extend(
                Finding(issue, profile.url)
                for issue in check_element(rule, root, profile, profiles)
            )
    return report
