"""Add the deployment file's triggers to a runtime: the webhook routes and the scheduler."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.runtime import Runtime


def setup_triggers(runtime: Runtime) -> None:
    deployment = runtime.agents.deployment if runtime.agents else None
    if deployment is None or runtime.agents is None:
        return
    if deployment.hooks:
        from bot.hooks_api import hook_mount

        runtime.mounts.append(hook_mount(runtime.core, runtime.agents))
    if deployment.schedules:
        from bot.scheduler import Scheduler

        interval = runtime.settings.schedule_interval
        scheduler = Scheduler(
            runtime.core,
            runtime.storage,
            dict(deployment.schedules),
            interval=interval,
            grace=timedelta(seconds=4 * interval),
        )
        runtime.services.append(scheduler.run)
