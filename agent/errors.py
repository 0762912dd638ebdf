"""Errors of the agent core.

AgentError
├── AgentDefinitionError     the agent or one of its tools is defined wrongly (a user error)
├── ToolArgumentsError       the model's arguments do not fit the tool's signature
├── UnknownToolError         the model called a tool the agent does not have
├── ApprovalMissingError     an approval-gated tool was about to run without a matching approval
└── ModelCallFailed          the model could not be reached or answered garbage, after retries
"""


class AgentError(Exception):
    pass


class AgentDefinitionError(AgentError):
    """Every problem found in an agent's definition, one per line."""

    def __init__(self, *problems: str) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class ToolArgumentsError(AgentError):
    pass


class UnknownToolError(AgentError):
    pass


class ApprovalMissingError(AgentError):
    pass


class ModelCallFailed(AgentError):
    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable
