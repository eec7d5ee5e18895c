"""AWS Backup of the database: a vault under its own key, a daily plan, the Aurora cluster selected.

Aurora's automated backups (``backupRetentionDays``) live and die with the cluster and its account's
settings; AWS Backup's recovery points are kept apart from it, in a vault whose key is not the
cluster's, for as long as the plan says, and, where config asks, copied to a vault in another region.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from components.cluster import assume_role_policy
from components.config import BackupConfig
from components.shared import customer_managed_key
from components.tags import Tags

BACKUP_POLICIES = (
    "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup",
    "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForRestores",
)
"""What AWS Backup needs to take and restore recovery points of the selected resources, and no more."""


@dataclass(frozen=True)
class BackupArgs:
    """Inputs of :class:`Backup`. Defaults are production's."""

    identifier: str
    """Names the vault, the plan and its key's alias (include the stack). Required."""
    resource_arns: Sequence[pulumi.Input[str]]
    """What the plan backs up (the Aurora cluster's ARN). Required, at least one."""
    schedule: str = "cron(0 5 ? * * *)"
    """When the daily recovery point is taken (AWS Backup cron, UTC). Default 05:00, after Aurora's window."""
    retention_days: int = 35
    """Days each recovery point is kept. Default 35."""
    copy_to_region: str | None = None
    """Another region whose vault gets a copy of each recovery point, kept as long. Default none."""
    protect: bool = True
    """``protect=True`` on the vaults and their keys. Default true."""
    tags: Tags = field(default_factory=Tags)
    """Tags for every resource. Default none."""

    def __post_init__(self) -> None:
        if not self.resource_arns:
            raise ValueError(f"BackupArgs for {self.identifier!r}: resource_arns: name at least one resource")

    @classmethod
    def from_config(
        cls,
        config: BackupConfig,
        *,
        identifier: str,
        resource_arns: Sequence[pulumi.Input[str]],
        protect: bool,
        tags: Tags,
    ) -> BackupArgs:
        return cls(
            identifier=identifier,
            resource_arns=tuple(resource_arns),
            schedule=config.schedule,
            retention_days=config.retention_days,
            copy_to_region=config.copy_to_region,
            protect=protect,
            tags=tags,
        )


class Backup(pulumi.ComponentResource):
    """A vault (its own rotating key), a daily plan and a selection of the given resources."""

    vault_name: pulumi.Output[str]
    plan_id: pulumi.Output[str]
    copy_vault_arn: pulumi.Output[str] | None

    def __init__(self, name: str, args: BackupArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:index:Backup", name, None, opts)
        self._name = name
        self._args = args
        self._tags = args.tags.layered({"Component": "backup"})
        vault = self._vault(name, None)
        self.copy_vault_arn = None
        copy_actions: list[aws.backup.PlanRuleCopyActionArgs] = []
        if args.copy_to_region is not None:
            # Everything in the other region is made through a provider of that region.
            elsewhere = aws.Provider(
                f"{name}-{args.copy_to_region}",
                region=args.copy_to_region,
                opts=pulumi.ResourceOptions(parent=self),
            )
            copy_vault = self._vault(f"{name}-copy", elsewhere)
            self.copy_vault_arn = copy_vault.arn
            copy_actions.append(
                aws.backup.PlanRuleCopyActionArgs(
                    destination_vault_arn=copy_vault.arn,
                    lifecycle=aws.backup.PlanRuleCopyActionLifecycleArgs(delete_after=args.retention_days),
                )
            )
        plan = aws.backup.Plan(
            f"{name}-plan",
            name=f"{args.identifier}-daily",
            rules=[
                aws.backup.PlanRuleArgs(
                    rule_name="daily",
                    target_vault_name=vault.name,
                    schedule=args.schedule,
                    # Started within an hour of the schedule, done within a day, or reported as failed.
                    start_window=60,
                    completion_window=1440,
                    lifecycle=aws.backup.PlanRuleLifecycleArgs(delete_after=args.retention_days),
                    copy_actions=copy_actions,
                    recovery_point_tags=self._tags.for_resource(f"{args.identifier}-recovery-point"),
                )
            ],
            tags=self._tags.for_resource(f"{name}-plan"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        role = aws.iam.Role(
            f"{name}-role",
            description=f"Lets AWS Backup back up and restore what plan {args.identifier}-daily selects",
            assume_role_policy=assume_role_policy("backup.amazonaws.com"),
            tags=self._tags.for_resource(f"{name}-role"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        attachments = [
            aws.iam.RolePolicyAttachment(
                f"{name}-role-{policy.rsplit('/', 1)[1]}",
                role=role.name,
                policy_arn=policy,
                opts=pulumi.ResourceOptions(parent=self),
            )
            for policy in BACKUP_POLICIES
        ]
        aws.backup.Selection(
            f"{name}-selection",
            name=f"{args.identifier}-database",
            plan_id=plan.id,
            iam_role_arn=role.arn,
            resources=list(args.resource_arns),
            # AWS Backup checks the role when the selection is made.
            opts=pulumi.ResourceOptions(parent=self, depends_on=attachments),
        )
        self.vault_name = vault.name
        self.plan_id = plan.id
        self.register_outputs(
            {"vaultName": self.vault_name, "planId": self.plan_id, "copyVaultArn": self.copy_vault_arn}
        )

    def _vault(self, name: str, provider: aws.Provider | None) -> aws.backup.Vault:
        """A vault under a key of its own, in ``provider``'s region (another one), or the stack's."""
        where = pulumi.ResourceOptions(parent=self, provider=provider)
        key = customer_managed_key(
            self,
            f"{name}-kms",
            description=f"Encrypts the recovery points of AWS Backup vault {self._args.identifier}",
            alias=f"alias/backup/{self._args.identifier}" + ("-copy" if provider else ""),
            tags=self._tags,
            protect=self._args.protect,
            services=("backup",),
            provider=provider,
        )
        return aws.backup.Vault(
            name,
            name=self._args.identifier + ("-copy" if provider else ""),
            kms_key_arn=key.arn,
            tags=self._tags.for_resource(name),
            opts=pulumi.ResourceOptions.merge(where, pulumi.ResourceOptions(protect=self._args.protect)),
        )
