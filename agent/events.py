"""The typed events a thread is made of.

A thread is an append-only list of these. Their `type` names are part of the public API: the HTTP
API returns them and stored threads are replayed through the reducer, so fields may be added (with
defaults) but never renamed or removed.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, TypeAdapter, model_serializer


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class ProofMethod(StrEnum):
    """How the person behind a decision or answer was authenticated."""

    SLACK = "slack"  # the user id from a request Slack signed (or sent over the app's Socket Mode link)
    EMAIL_DMARC = "email_dmarc"  # a reply whose trusted Authentication-Results say DMARC or aligned DKIM pass
    EMAIL_DKIM = "email_dkim"  # a reply with a DKIM signature aligned with its From, verified here
    EMAIL_FROM = "email_from"  # a reply checked by its From and reply token only (SIGNOFF_EMAIL_REQUIRE_AUTH off)
    PERSONAL_TOKEN = "personal_token"  # the HTTP API with a person's own token
    SERVICE_TOKEN = "service_token"  # the HTTP API with SIGNOFF_API_TOKEN, where an operator allowed it
    WEB_LINK = "web_link"  # the web inbox, signed in by a single-use link mailed to that address
    WEB_TOKEN = "web_token"  # the web inbox, signed in with a person's own token
    CONSOLE = "console"  # `signoff approve/deny/answer` at the operator's console, with the name given
    SYSTEM = "system"  # Signoff itself (closing a question a late result answered)


class DecisionIdentity(BaseModel):
    """Who decided or answered, as proven: recorded with the decision (older events have none).

    `subject` is the name they came as (a Slack user id, an address, a token's id, the name given at
    the console); `person_id` and `person` are the directory's, when it knows them; `channel` is
    where (`slack`, `email`, `api`, `cli`); `at` when (ISO 8601, UTC); `detail` what the proof was
    (the Slack team, the authentication result, the token id, the console's OS user).
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    subject: str
    method: ProofMethod
    channel: str
    at: str = ""
    person_id: str | None = None
    person: str | None = None
    detail: dict[str, str] = Field(default_factory=dict)

    @property
    def voter(self) -> str:
        """One key per approver: the directory's person, else the name they came as."""
        return voter_key(self.subject, self.person_id)


def voter_key(subject: str, person_id: str | None) -> str:
    """One key per approver (for N of M and no-self-approval): `person:<id>` when the directory
    knows them, else `name:<the name, ASCII lower case>`."""
    if person_id:
        return f"person:{person_id}"
    return "name:" + subject.strip().translate(_ASCII_LOWER)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


class HumanMessage(_Event):
    type: Literal["human_message"] = "human_message"
    text: str
    by: str
    channel: str = "api"
    # A message from a trigger (`hook:<name>`, `schedule:<name>`) has no human behind it: the people
    # its entry asks (`ask = "email:oncall@..."`) take part in the thread as if they had written.
    humans: list[str] = Field(default_factory=list)
    # The trigger that sent it, and which firing or delivery (`schedule:<name>:<due time>`,
    # `hook:<name>:<delivery id>`): such a message is in the audit.
    trigger: str = ""

    @model_serializer(mode="wrap")
    def _without_empty_trigger_fields(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # Written only when set, so every other message is stored as before.
        data: dict[str, Any] = handler(self)
        for name in ("humans", "trigger"):
            if not data.get(name):
                data.pop(name, None)
        return data


class ToolCall(_Event):
    type: Literal["tool_call"] = "tool_call"
    call_id: str
    tool: str
    arguments: dict[str, Any]
    # A gated tool's call that its policy let run without approval: the rule that said so.
    rule: str = ""


class ToolStarted(_Event):
    """An approved call's body is about to run: recorded (committed) before it runs, so a call that
    started and has no result is known to have possibly had its effect."""

    type: Literal["tool_started"] = "tool_started"
    call_id: str
    tool: str
    attempt: int = 1


class ToolOutcomeUnknown(_Event):
    """An approved call started and no result was recorded (a crash, a lost lease, a process paused
    past its lease): it may or may not have had its effect. It is not run again by itself; the
    approvers are asked (`rerun_request_id`), unless the tool is idempotent."""

    type: Literal["tool_outcome_unknown"] = "tool_outcome_unknown"
    call_id: str
    tool: str
    attempts: int = 1
    rerun_request_id: str | None = None


class ToolResult(_Event):
    type: Literal["tool_result"] = "tool_result"
    call_id: str
    tool: str
    result: str


class Error(_Event):
    type: Literal["error"] = "error"
    # step: a step failed outside the model and tool calls (a prompt that cannot render, a bug)
    source: Literal["model", "tool", "tool_call", "limit", "step"]
    message: str
    consecutive: int = 1
    call_id: str | None = None
    tool: str | None = None
    fatal: bool = False


class DenyOption(BaseModel):
    """A named way to deny a request, offered beside Deny (HumanLayer's `reject_options`): `label`
    is what people see; with `ask` the approver writes the comment (`comment` prefills it),
    without it the denial is at once, with `comment` (else the label) as its comment."""

    model_config = ConfigDict(frozen=True)

    name: str
    label: str
    comment: str = ""
    ask: bool = False


class ApprovalRequested(_Event):
    type: Literal["approval_requested"] = "approval_requested"
    request_id: str
    call_id: str
    tool: str
    arguments: dict[str, Any]
    digest: str
    reason: str = ""
    approvers: list[str] = Field(default_factory=list)
    # Set when this asks whether to run again a call whose outcome is unknown: that call's id.
    rerun_of: str | None = None
    # The policy that applies (agent/policy.py): how many distinct approvers must approve, whether
    # the person who asked may be one of them, and the rule that matched (shown to approvers).
    # The defaults are those of requests recorded before policies.
    required: int = 1
    no_self_approval: bool = False
    rule: str = ""
    # The request's clock (agent/timers.py), in seconds from when it is recorded; None: never.
    remind_after: float | None = None
    escalate_after: float | None = None
    escalate_to: list[str] = Field(default_factory=list)
    expire_after: float | None = None
    escalate_channel: str | None = None  # a Slack channel the request is posted to when it escalates
    # The JSON schema an approver's edit of the arguments must fit (agent/edits.py); None: the
    # arguments cannot be edited (the tool opted out, or a request recorded before edits).
    edit_schema: dict[str, Any] | None = None
    # Where it is delivered besides its thread (agent/places.py): "slack:C0APPROVERS", "slack:dm", "email".
    copies: list[str] = Field(default_factory=list)
    deny_options: list[DenyOption] = Field(default_factory=list)


class ApprovalEdited(_Event):
    """An approver changed the arguments before approving: what runs from now on is `arguments`
    (bound by `digest`), and both versions stay in the log. Recorded with the approval it came with."""

    type: Literal["approval_edited"] = "approval_edited"
    request_id: str
    call_id: str
    tool: str
    by: str
    arguments: dict[str, Any]
    digest: str
    previous_arguments: dict[str, Any]
    previous_digest: str
    identity: DecisionIdentity | None = None


class ApprovalProgress(_Event):
    """One approval toward a request that needs several (N of M): counted, not yet the decision.
    A note for the humans: the request stays pending until the count is reached (`approval_decided`)
    or someone denies it."""

    type: Literal["approval_progress"] = "approval_progress"
    request_id: str
    by: str
    count: int
    required: int
    identity: DecisionIdentity | None = None
    digest: str = ""


class ApprovalDecided(_Event):
    type: Literal["approval_decided"] = "approval_decided"
    request_id: str
    approved: bool
    by: str
    comment: str = ""
    # The digest of the tool and arguments the human was shown; an approval runs only a call with
    # exactly this digest. Empty in threads recorded before decisions carried it.
    digest: str = ""
    # Who decided, how that was proven, where and when; None in threads recorded before.
    identity: DecisionIdentity | None = None
    # With N of M (`required` > 1 on the request): everyone whose approval counted, in order.
    approvals: list[DecisionIdentity] = Field(default_factory=list)
    # A denial by one of the request's `deny_options`: its name.
    deny_option: str | None = None


class GrantGiven(_Event):
    """An approver answered a request with a standing grant (agent/grants.py): later calls of the
    tool inside its scope run without asking until `until` (ISO 8601, UTC), unless revoked. A note
    for the humans and the audit: the approval itself is the `approval_decided` beside it."""

    type: Literal["grant_given"] = "grant_given"
    grant_id: str
    request_id: str
    tool: str
    scope: str  # thread | duration | arguments
    until: str
    by: str
    identity: DecisionIdentity | None = None
    digest: str = ""  # an `arguments` grant's exact arguments
    match: dict[str, Any] = Field(default_factory=dict)  # the arguments a `thread`/`duration` grant keeps fixed


class GrantUsed(_Event):
    """A gated call ran on a standing grant instead of asking: the decision on its request. Recorded
    only in the transaction that found the grant unrevoked and unexpired (storage/grants.py); the
    runner accepts it as it accepts an approval of exactly this digest."""

    type: Literal["grant_used"] = "grant_used"
    request_id: str
    call_id: str
    grant_id: str
    by: str  # who gave the grant
    until: str
    digest: str
    scope: str = ""


class QuestionAsked(_Event):
    type: Literal["question_asked"] = "question_asked"
    request_id: str
    question: str
    options: list[str] = Field(default_factory=list)
    answerers: list[str] = Field(default_factory=list)
    # The request's clock, as on `approval_requested`.
    remind_after: float | None = None
    escalate_after: float | None = None
    escalate_to: list[str] = Field(default_factory=list)
    expire_after: float | None = None
    escalate_channel: str | None = None
    # With options: whether an answer that is none of them is taken (False: only an option is).
    allow_free_text: bool = True
    copies: list[str] = Field(default_factory=list)  # as on `approval_requested`


class QuestionAnswered(_Event):
    type: Literal["question_answered"] = "question_answered"
    request_id: str
    answer: str
    by: str
    identity: DecisionIdentity | None = None
    # The option the answer picked (as offered), when the question offered options and it is one.
    choice: str | None = None


class RequestExpired(_Event):
    """Nobody decided or answered a request before its deadline (`expire_after`): it is closed,
    and nothing it asked for runs. Recorded once, by whichever replica's clock saw it first."""

    type: Literal["request_expired"] = "request_expired"
    request_id: str
    by: str = "signoff"


class RequestReminded(_Event):
    """A request's `remind_after` came while it was still pending: the people it still waits for
    (`awaiting`; with N of M, those whose approval does not count yet) were reminded where it was
    asked. A note: the status, the next step and the model's context ignore it."""

    type: Literal["request_reminded"] = "request_reminded"
    request_id: str
    awaiting: list[str] = Field(default_factory=list)
    count: int = 0
    required: int = 1
    by: str = "signoff"


class RequestEscalated(_Event):
    """A request's `escalate_after` came while it was still pending: `to` may now decide it too,
    and were asked. A note, like a reminder."""

    type: Literal["request_escalated"] = "request_escalated"
    request_id: str
    to: list[str] = Field(default_factory=list)
    by: str = "signoff"
    channel: str | None = None  # the Slack channel it was posted to as well
    # What the escalation says to them, when someone escalated it by hand (HumanLayer's
    # `escalate_email` and its `escalation_msg`); empty for the clock's.
    message: str = ""


class AgentReply(_Event):
    type: Literal["agent_reply"] = "agent_reply"
    text: str
    final: bool = True


class DeliveryFailed(_Event):
    """A message for the thread's humans that a channel gave up sending (an SMTP 5xx, a Slack
    channel the bot may not post in). A note for operators: it changes neither the thread's status
    nor the agent's next step, and the model never sees it (see `agent.thread.is_note`)."""

    type: Literal["delivery_failed"] = "delivery_failed"
    channel: str
    kind: str  # the outbox kind: reply, approval_request, question, decision, notice
    error: str
    attempts: int = 1


Event = Annotated[
    HumanMessage
    | ToolCall
    | ToolStarted
    | ToolResult
    | ToolOutcomeUnknown
    | Error
    | ApprovalRequested
    | ApprovalEdited
    | ApprovalDecided
    | ApprovalProgress
    | GrantGiven
    | GrantUsed
    | QuestionAsked
    | QuestionAnswered
    | RequestExpired
    | RequestReminded
    | RequestEscalated
    | AgentReply
    | DeliveryFailed,
    Field(discriminator="type"),
]

EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)

EVENT_TYPES: tuple[str, ...] = (
    "human_message",
    "tool_call",
    "tool_started",
    "tool_result",
    "tool_outcome_unknown",
    "error",
    "approval_requested",
    "approval_edited",
    "approval_decided",
    "approval_progress",
    "grant_given",
    "grant_used",
    "question_asked",
    "question_answered",
    "request_expired",
    "request_reminded",
    "request_escalated",
    "agent_reply",
    "delivery_failed",
)


def parse_event(data: dict[str, Any] | str | bytes) -> Event:
    """Load one stored or transmitted event, whatever its type."""
    if isinstance(data, (str, bytes)):
        return EVENT_ADAPTER.validate_json(data)
    return EVENT_ADAPTER.validate_python(data)


def dump_event(event: Event) -> dict[str, Any]:
    return event.model_dump(mode="json")
