"""The agent's I/O: the model client (litellm) and running one step (a model call or a tool).

Everything else in `agent/` is pure (events, the thread's facts, the reducer, the context, tools'
schemas and validation, prompt templates): it decides; this package does what was decided.
"""
