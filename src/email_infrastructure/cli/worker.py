"""`email-infra worker` and `email-infra scheduler`: the scaled deployment's processes."""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING, Annotated

import typer

from email_infrastructure.cli.common import JsonOption, application, console, err_console, print_json, run, settings

if TYPE_CHECKING:
    from email_infrastructure.services.scope import Scope


def worker(
    concurrency: Annotated[int, typer.Option(min=1, max=1000, help="Jobs this process runs at once.")] = 8,
    queue: Annotated[str, typer.Option(help="The queue to take jobs from.")] = "default",
    burst: Annotated[bool, typer.Option("--burst", help="Exit once the queue is empty.")] = False,
    grace: Annotated[
        int, typer.Option(min=0, help="Seconds running jobs get after SIGTERM before they go back to the queue.")
    ] = 10,
    tasks: Annotated[
        list[str] | None, typer.Option("--tasks", hidden=True, help="Also register this module's TASKS.")
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Only check that Redis and the database answer (exit 0, else 1).")
    ] = False,
) -> None:
    """Run monitoring checks and plan applies from the Redis task queue (needs REDIS_URL).

    SIGTERM/SIGINT stop it: running jobs get --grace seconds, then go back to the queue.
    """
    from email_infrastructure.workers.worker import WorkerOptions, health, run_worker

    if check:
        problems = run(health(settings()))
        for problem in problems:
            err_console.print(f"unhealthy: {problem}", markup=False, soft_wrap=True)
        raise typer.Exit(1 if problems else 0)

    options = WorkerOptions(
        queue=queue, concurrency=concurrency, burst=burst, grace=grace, task_modules=tuple(tasks or ())
    )
    run(run_worker(settings(), options))


def _watched() -> Scope:
    """The workspaces the scheduler watches: the one named on the line or in the environment, else every one."""
    from email_infrastructure.cli.common import workspace_named, workspace_scope
    from email_infrastructure.services.scope import EVERY

    return workspace_scope() if workspace_named() else EVERY


def scheduler(
    tick: Annotated[float, typer.Option(min=0.1, help="Seconds between looks for due checks.")] = 30.0,
    refresh: Annotated[float, typer.Option(min=1, help="Seconds between re-reads of the desired state.")] = 300.0,
    once: Annotated[bool, typer.Option("--once", help="Enqueue what is due now, then exit.")] = False,
    batch: Annotated[
        int | None,
        typer.Option(min=1, max=1000, help="Domains per job (default: EMAIL_INFRA_SCHEDULER_BATCH, 50)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Enqueue each check once per interval (any number of schedulers may run; none enqueues twice).

    It watches every workspace, each at its own intervals, unless --workspace (or
    EMAIL_INFRA_WORKSPACE) names one. With REDIS_URL the jobs go to `email-infra worker`
    processes; without it this process runs them itself. SIGTERM/SIGINT stop it.
    """
    import asyncio  # here, not at the top: every command's start would pay for it

    from email_infrastructure.services.monitoring import check_schedules
    from email_infrastructure.workers.queue import open_queue
    from email_infrastructure.workers.scheduler import Scheduler, TickResult

    async def go() -> TickResult | None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with application(_watched()) as app:
            queue = open_queue(app)
            try:
                await queue.ready()  # Redis unreachable: one line and exit 2 after bounded tries
                planner = Scheduler(queue, batch=batch or app.settings.scheduler_batch)
                if once:
                    result = await planner.tick(await check_schedules(app))
                    await queue.join()  # in-process: the checks run here; on saq nothing to wait for
                    return result
                await planner.run(app, stop, tick=tick, refresh=refresh)
                return None
            finally:
                await queue.close()

    result = run(go())
    if result is None:
        return
    if as_json:
        print_json(
            {"enqueued": result.enqueued, "already_queued": result.refused, "jobs": result.jobs, "keys": result.keys}
        )
    else:
        console.print(f"{result.enqueued} checks enqueued in {result.jobs} jobs, {result.refused} already queued")
