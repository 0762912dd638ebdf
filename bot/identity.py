"""Who someone is: the one resolution of approver and answerer names through the people directory.

Approver and answerer lists (`SIGNOFF_APPROVERS`, `Agent(approvers=...)`, a tool's `approvers`,
`answerers`) name people by their directory name (`alice`), Slack user ids (`U012ABCDEF`), Slack
user groups (`S012ABCDEF`) or email addresses. A person's Slack ids and addresses are one person:

- `expand(names, people)`: a list as channels see it, each person named there followed by every
  name they go by, so the Slack card's check and the email's recipients find them however named;
- `held_by(who, person)`: the names someone acting as `who` holds, for the allowed check;
- `voter(who, person)`: one key per person, for "distinct approvers" and "not the requester".

`people` maps names to directory rows (`Store.people_for`); callers read it once per decision.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from agent.definition import APPROVERS, PARTICIPANTS
from agent.events import DecisionIdentity, ProofMethod, voter_key
from channels.base import Proof
from storage.people import EMAIL, NAME, SLACK_ID, names_of
from storage.people_models import PersonRow

SLACK_GROUP = re.compile(r"S[A-Z0-9]{2,}")


def expand(names: Iterable[str], people: Mapping[str, PersonRow]) -> list[str]:
    """`names` with every name of each person they name, once each (compared without ASCII case)."""
    out: dict[str, str] = {}
    for name in names:
        out.setdefault(_fold(name), name)
        person = people.get(name)
        if person is not None:
            for alias in names_of(person):
                out.setdefault(_fold(alias), alias)
    return list(out.values())


def held_by(who: str, person: PersonRow | None) -> list[str]:
    """The names someone acting as `who` holds: `who`, and all of their person's names."""
    return expand([who], {who: person} if person is not None else {})


def voter(who: str, person: PersonRow | None) -> str:
    """One key per approver: the person's id when the directory knows them, else the name itself."""
    return voter_key(who, person.id if person is not None else None)


def unknown_names(names: Sequence[str], people: Mapping[str, PersonRow]) -> list[str]:
    """The entries of an approver list that name nobody: not a Slack user or group id, not an email
    address, not a placeholder, and no person of that name in the directory."""
    unknown = []
    for name in names:
        if name in (APPROVERS, PARTICIPANTS) or SLACK_ID.fullmatch(name) or SLACK_GROUP.fullmatch(name):
            continue
        if EMAIL.fullmatch(name) or name in people:
            continue
        unknown.append(name)
    return unknown


def directory_names(names: Iterable[str]) -> list[str]:
    """The entries that can only be directory names (lower case, no @)."""
    return [n for n in names if NAME.fullmatch(n)]


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _fold(name: str) -> str:
    return name.translate(_ASCII_LOWER)


def decision_identity(who: str, person: PersonRow | None, proof: Proof | None, at: datetime) -> DecisionIdentity:
    """What a decision records about who made it: the name they came as, the directory's person,
    how that was proven and where (`proof`; without one, the console: an operator's own call)."""
    proof = proof or Proof(ProofMethod.CONSOLE, "cli")
    return DecisionIdentity(
        subject=who,
        method=ProofMethod(proof.method),
        channel=proof.channel,
        at=at.isoformat(),
        person_id=person.id if person is not None else None,
        person=person.name if person is not None else None,
        detail=dict(proof.detail),
    )
