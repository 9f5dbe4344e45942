"""Publishing: the latest snapshot to a Hugging Face dataset repo, only when the release checks pass."""

import os
from pathlib import Path

import dagster as dg

from pipelines.snapshot.publish import publish_snapshot
from pipelines.snapshot.writer import read_manifest, verify_snapshot

SNAPSHOT = dg.AssetKey("snapshot")


class PublishConfig(dg.Config):
    repo: str = ""  # ORG/NAME; empty means $COMMONS_HF_REPO
    endpoint: str = ""  # empty means the Hub (or $HF_ENDPOINT)
    dry_run: bool = False


def _latest_snapshot_path(instance: dg.DagsterInstance) -> Path:
    event = instance.get_latest_materialization_event(SNAPSHOT)
    if event is None or event.asset_materialization is None:
        raise dg.Failure(description="no snapshot has been materialized yet")
    return Path(str(event.asset_materialization.metadata["path"].value))


@dg.asset_check(
    asset=SNAPSHOT,
    name="snapshot_release_ready",
    blocking=True,
    description="Every file matches its sha256 in manifest.json and every release gate passed or was overridden.",
)
def snapshot_release_ready(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    path = _latest_snapshot_path(context.instance)
    problems = verify_snapshot(path)
    overrides = read_manifest(path).get("gate_overrides", []) if not problems else []
    return dg.AssetCheckResult(
        passed=not problems,
        description="; ".join(problems) or f"{path.name} is ready to release",
        metadata={
            "snapshot": dg.MetadataValue.path(str(path)),
            "gate_overrides": dg.MetadataValue.json(overrides),
        },
    )


@dg.asset(
    name="hub_release",
    group_name="release",
    deps=[SNAPSHOT],
    pool="huggingface.co",
    retry_policy=dg.RetryPolicy(
        max_retries=2, delay=60, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
    ),
    kinds={"huggingface"},
    description="The latest snapshot on the Hugging Face Hub: one commit and one version tag. HF_TOKEN from the "
    "environment, never logged.",
)
def hub_release(context: dg.AssetExecutionContext, config: PublishConfig) -> dg.MaterializeResult:
    repo = config.repo or os.environ.get("COMMONS_HF_REPO", "")
    if not repo:
        raise dg.Failure(description="set the Hub repo: config `repo` or $COMMONS_HF_REPO (ORG/NAME)")
    path = _latest_snapshot_path(context.instance)
    result = publish_snapshot(path, repo, endpoint=config.endpoint or None, dry_run=config.dry_run)
    context.log.info(result.plan.render())
    return dg.MaterializeResult(
        metadata={
            "repo": repo,
            "tag": result.tag,
            "commit": result.commit or "",
            "hub_url": dg.MetadataValue.url(result.commit_url or f"https://huggingface.co/datasets/{repo}"),
            "committed": result.committed,
            "tagged": result.tagged,
            "dry_run": result.dry_run,
            "bytes_sent": result.plan.bytes_to_send,
        }
    )


publish_job = dg.define_asset_job(
    name="publish",
    selection=dg.AssetSelection.assets(hub_release) | dg.AssetSelection.checks(snapshot_release_ready),
    description="Publish the latest snapshot to the Hub after re-checking it.",
)

# Off by default: an operator turns it on in the UI (or `dagster schedule start nightly_publish`).
nightly_publish = dg.ScheduleDefinition(
    name="nightly_publish",
    job=publish_job,
    cron_schedule="0 6 * * *",
    default_status=dg.DefaultScheduleStatus.STOPPED,
)
