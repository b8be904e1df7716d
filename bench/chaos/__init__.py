"""`itscam chaos`: the whole pipeline under faults (kill -9 of every stage, broker and PostgreSQL restarts, Redis
flushes, paused consumers, poison records), checked row for row against a clean run on the same frames."""

from bench.chaos.compare import Diff, diff_rows
from bench.chaos.plan import FAULT_KINDS, ChaosPlan, short_plan, soak_plan

__all__ = ["FAULT_KINDS", "ChaosPlan", "Diff", "diff_rows", "short_plan", "soak_plan"]
