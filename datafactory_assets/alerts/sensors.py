"""The alert sensors: failed runs, checks that fail in a run, venues rewriting stored history, stale assets, open
breakers and delisted instruments, told to Slack and email.

Check results are read from the runs that produced them (the run-status sensors see every finished run exactly once,
with Dagster keeping their cursor), so a failing check in a successful run alerts as well as one that failed the
run, and a later run where the same check passes on the same partition sends the recovery.
"""

import re
import time
from collections.abc import Sequence

import dagster as dg

from datafactory_assets.alerts.channels import EmailChannel, SlackChannel, deliver
from datafactory_assets.alerts.conditions import (
    breaker_observations,
    check_observations,
    delisting_observations,
    freshness_observation,
    rewrite_observations,
    run_observation,
    run_partition,
)
from datafactory_assets.alerts.ledger import AlertLedger, Observation
from datafactory_assets.alerts.messages import compose
from datafactory_assets.resilience import breaker_states
from datafactory_assets.settings import AlertSettings, Settings
from datafactory_assets.warehouse import WarehouseResource, queries
from datafactory_assets.warehouse.schema import SchemaError

_FRESHNESS_BATCH = 500
_EXCEPTION_NAME = re.compile(r"^[\w.]+: ")  # `dagster._core.definitions.events.Failure: ` says nothing to a reader


class Alerting:
    """Observations in, messages out: the ledger decides what is worth telling, the channels tell it."""

    def __init__(self, ledger: AlertLedger, alerts: AlertSettings):
        self.ledger = ledger
        self.alerts = alerts

    def tell(self, observations: Sequence[Observation], *, channels: list, log, polled: bool = False) -> str:
        notices = self.ledger.record(observations, now=time.time(), polled=polled)
        messages = compose(notices)
        sent = deliver(messages, channels, log)
        summary = (f"{len(observations)} observation(s), {len(messages)} message(s), {sent} send(s) succeeded"
                   + "".join(f"\n{m.subject}" for m in messages))
        if messages:
            log.info(summary)
        return summary

    def run_checks(self, instance: dg.DagsterInstance, run: dg.DagsterRun) -> list[Observation]:
        """The run's own check evaluations (those without a partition take the run's) and its history rewrites."""
        entries = instance.all_logs(run.run_id, of_type={dg.DagsterEventType.ASSET_CHECK_EVALUATION,
                                                         dg.DagsterEventType.ASSET_MATERIALIZATION})
        partition = run_partition(run.tags)
        evaluations = [e.asset_check_evaluation for e in entries if e.asset_check_evaluation is not None]
        materializations = [e.asset_materialization for e in entries if e.asset_materialization is not None]
        return [*check_observations(evaluations, partition=partition, alerts=self.alerts),
                *rewrite_observations(materializations, partition=partition)]


def alert_sensors(settings: Settings, *, running: bool) -> list[dg.SensorDefinition]:
    """Five sensors, RUNNING by default only when a channel is configured (without one they would have no one to
    tell; they still show in the UI, where they can be started to fill the ledger)."""
    alerting = Alerting(AlertLedger(settings.alert_ledger_path, repeat_interval_s=settings.alerts.repeat_interval_s),
                        settings.alerts)
    common = {"minimum_interval_seconds": settings.alerts.sensor_interval_s,
              "default_status": dg.DefaultSensorStatus.RUNNING if running else dg.DefaultSensorStatus.STOPPED}

    @dg.run_failure_sensor(name="alert_on_run_failure", description="Alerts on failed runs and their failed checks.",
                           **common)
    def failed_runs(context: dg.RunFailureSensorContext, alert_slack: SlackChannel, alert_email: EmailChannel):
        run = context.dagster_run
        observations = [run_observation(run, failing=True, reason=_failure_reason(context)),
                        *alerting.run_checks(context.instance, run)]
        alerting.tell(observations, channels=[alert_slack, alert_email], log=context.log)

    @dg.run_status_sensor(run_status=dg.DagsterRunStatus.SUCCESS, name="alert_on_run_success",
                          description="Alerts on failed checks in successful runs; sends recoveries.", **common)
    def successful_runs(context: dg.RunStatusSensorContext, alert_slack: SlackChannel, alert_email: EmailChannel):
        run = context.dagster_run
        observations = [run_observation(run, failing=False, reason="a run of the same selection succeeded"),
                        *alerting.run_checks(context.instance, run)]
        alerting.tell(observations, channels=[alert_slack, alert_email], log=context.log)

    @dg.sensor(name="alert_on_freshness", description="Alerts when an asset's freshness policy fails.", **common)
    def freshness(context: dg.SensorEvaluationContext, alert_slack: SlackChannel, alert_email: EmailChannel):
        storage = context.instance.event_log_storage
        kind = dg.DagsterEventType.FRESHNESS_STATE_CHANGE
        if context.cursor is None:  # start from now: history is not news
            latest = storage.get_event_records(dg.EventRecordsFilter(event_type=kind), limit=1, ascending=False)
            context.update_cursor(str(latest[0].storage_id if latest else 0))
            return dg.SkipReason("started; watching freshness changes from now on")
        records = storage.get_event_records(dg.EventRecordsFilter(event_type=kind, after_cursor=int(context.cursor)),
                                            limit=_FRESHNESS_BATCH, ascending=True)
        changes = [r.event_log_entry.dagster_event.event_specific_data for r in records]
        observations = [o for o in map(freshness_observation, changes) if o is not None]
        summary = alerting.tell(observations, channels=[alert_slack, alert_email], log=context.log)
        if records:
            context.update_cursor(str(records[-1].storage_id))
        return dg.SkipReason(summary)

    @dg.sensor(name="alert_on_breaker_open", description="Alerts when a source's circuit breaker opens.", **common)
    def breakers(context: dg.SensorEvaluationContext, alert_slack: SlackChannel, alert_email: EmailChannel):
        observations = breaker_observations(breaker_states(settings.state_path))
        return dg.SkipReason(alerting.tell(observations, channels=[alert_slack, alert_email], log=context.log,
                                           polled=True))

    @dg.sensor(name="alert_on_delisting", description="Alerts once when a venue delists a configured instrument.",
               **common)
    def delistings(context: dg.SensorEvaluationContext, warehouse: WarehouseResource, alert_slack: SlackChannel,
                   alert_email: EmailChannel):
        try:
            with warehouse.connect(read_only=True) as conn:
                delisted = queries.delistings(conn, [s.symbol for s in settings.symbols])
        except (FileNotFoundError, SchemaError) as exc:
            return dg.SkipReason(f"no delistings to read: {exc}")
        observations = delisting_observations(delisted)
        return dg.SkipReason(alerting.tell(observations, channels=[alert_slack, alert_email], log=context.log,
                                           polled=True))

    return [failed_runs, successful_runs, freshness, breakers, delistings]


def _failure_reason(context: dg.RunFailureSensorContext) -> str:
    """The failed steps' own errors (they name the symbol, window and cause), else Dagster's run failure message."""
    errors = [_EXCEPTION_NAME.sub("", event.event_specific_data.error.message.strip())
              for event in context.get_step_failure_events()
              if event.event_specific_data and event.event_specific_data.error]
    return "; ".join(errors) or context.failure_event.message or "run failed"
