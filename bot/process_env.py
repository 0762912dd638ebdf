"""What the supervisor tells its children through the environment (kept apart so that the
supervisor does not import what the children run)."""

EXIT_CONFIG = 78  # sysexits.h EX_CONFIG: the child cannot start with this configuration
WAKE_DIR = "SIGNOFF_WAKE_DIR"  # the wake sockets' and ready files' directory (bot/wake_bus.py)
WORKER_COUNT = "SIGNOFF_WORKER_COUNT"
SUPERVISOR_PID = "SIGNOFF_SUPERVISOR_PID"
# Set for the ingress's first start only: it creates, upgrades or checks the schema before anything else.
PREPARE_SCHEMA = "SIGNOFF_PREPARE_SCHEMA"
