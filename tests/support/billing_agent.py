"""A second small agent for the multi-agent scenarios: billing, with one read-only tool and one
gated tool that alice@example.com (U0ALICE on Slack) approves."""

from __future__ import annotations

from agent import Agent

agent = Agent(
    "billing",
    description="Answers questions about invoices and issues refunds.",
    approvers=["alice@example.com", "U0ALICE"],
)


@agent.tool
def invoice_status(number: int) -> str:
    """The status of an invoice.

    Args:
        number: The invoice number.
    """
    return f"invoice {number} is paid"


@agent.tool(needs_approval=True)
def refund(number: int) -> str:
    """Refund an invoice in full.

    Args:
        number: The invoice number.
    """
    return f"invoice {number} refunded"
