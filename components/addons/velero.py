"""Velero: backups of the cluster's objects (to S3) and persistent volumes (EBS snapshots), daily.

* **The bucket** holds nothing else: SSE-KMS under a key of its own (with S3 Bucket Keys, so KMS is asked
  once per object batch, not per object), versioning (a deleted or overwritten backup stays recoverable for
  ``noncurrent_version_days``), every public-access block, objects owned by the bucket owner (no ACLs), a
  policy refusing any request not over TLS 1.2+, and a lifecycle that expires what Velero left behind past
  the backups' TTL (Velero deletes expired backups itself; this is the backstop), old versions, incomplete
  multipart uploads and orphaned delete markers.
* **The role** (EKS Pod Identity, service account ``velero/velero``) may use that bucket and its key
  (through S3 only), and EBS snapshots: the AWS plugin's documented policy, narrowed to snapshots Velero
  tags (``velero.io/backup``) and the volumes it restores from them.
* **The chart** (``CHARTS["velero"]``) runs the server on the general nodes under Pod Security
  ``restricted`` (a numeric user: the image's ``cnb`` user is a name, which ``runAsNonRoot`` cannot verify),
  with the AWS plugin as its init container and no node agent: volumes are backed up as EBS snapshots, so
  the node agent (file-system backups, root and host paths, ``privileged`` only) is not needed. Instead of
  the chart's default ``cluster-admin`` binding it is bound to :data:`CLUSTER_ROLE`: read everything,
  create and patch (restores), no deletes outside its own namespace (the chart's Role there), no
  impersonation. A restore tool stays close to admin all the same: it reads every Secret, and creating
  any resource includes service-account tokens and RBAC bindings.
* **The Schedule** is a ``velero.io/v1`` object of the program rather than the chart's ``schedules`` value,
  which the chart copies into the object unchecked: as an object of the plan it is checked against its CRD's
  schema offline and shows in the preview.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.addons.charts import pinned_release, restricted_namespace
from components.config import ADDON_NAMESPACES, VeleroConfig
from components.pod_identity import pod_identity_role
from components.shared import account_and_region, customer_managed_key
from components.tags import Tags

NAMESPACE = ADDON_NAMESPACES["velero"]
SERVICE_ACCOUNT = "velero"
CLUSTER_ROLE = "velero-backup-restore"
"""The ClusterRole the server is bound to in place of cluster-admin."""
STORAGE_LOCATION = "default"
PLUGIN_IMAGE = "docker.io/velero/velero-plugin-for-aws:v1.14.2"
"""The AWS plugin of Velero 1.18 (its go.mod requires velero v1.18.0)."""
USER_ID = 65532
"""A numeric non-root user for the server (its image names a user, ``cnb``) and the plugin's own."""
EXCLUDED_RESOURCES = ("events", "events.events.k8s.io")
"""Never worth restoring: they describe what happened to the objects, not the objects."""
MANAGED = {"app.kubernetes.io/managed-by": "pulumi"}
MULTIPART_DAYS = 7
"""Days after which S3 aborts a multipart upload never completed (a backup interrupted mid-upload)."""
RESOURCES = {"requests": {"cpu": "500m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}}
"""The server's requests and limits: those ``velero install`` sets by default."""
PLUGIN_RESOURCES = {
    "requests": {"cpu": "50m", "memory": "64Mi"},
    "limits": {"cpu": "500m", "memory": "128Mi"},
}


@dataclass(frozen=True)
class VeleroArgs:
    """Inputs of :class:`Velero`. Defaults are production's."""

    identifier: str
    """Names the bucket (by default) and its key's alias: the cluster's name. Required."""
    cluster_name: pulumi.Input[str]
    """The EKS cluster, once made (its Pod Identity association). Required."""
    provider: k8s.Provider
    """The cluster's Kubernetes provider. Required."""
    namespaces: Sequence[str]
    """Namespaces the daily backup takes in (non-empty: Velero reads none as all). Required."""
    node_selector: Mapping[str, str]
    """Where the server runs (the general node group's label). Required."""
    schedule: str = "0 2 * * *"
    """When the daily backup runs (cron, UTC). Default 02:00."""
    ttl: str = "720h"
    """How long each backup is kept (hours, like '720h'). Default 720h (30 days)."""
    snapshot_volumes: bool = True
    """Whether backups take EBS snapshots of the namespaces' persistent volumes. Default true."""
    bucket_name: str | None = None
    """The bucket's name. Default <cluster>-velero-<account>-<region>."""
    expiry_margin_days: int = 7
    """Days past the TTL after which S3 expires objects. Default 7."""
    noncurrent_version_days: int = 14
    """Days S3 keeps an object's old versions. Default 14."""
    force_destroy: bool = False
    """Whether the bucket may be deleted while it holds backups. Default false."""
    protect: bool = True
    """``protect=True`` on the bucket and its key. Default true."""
    depends_on: Sequence[pulumi.Resource] = ()
    """What the server's pods need first (nodes, CoreDNS). Default none."""
    tags: Tags = field(default_factory=Tags)
    """AWS tags of every AWS resource. Default none."""

    def __post_init__(self) -> None:
        if not self.namespaces:
            raise ValueError(
                "VeleroArgs: namespaces: name at least one; Velero reads none as every namespace"
            )

    @property
    def ttl_hours(self) -> int:
        return int(self.ttl.removesuffix("h"))

    @classmethod
    def from_config(
        cls,
        config: VeleroConfig,
        *,
        identifier: str,
        cluster_name: pulumi.Input[str],
        provider: k8s.Provider,
        namespaces: Sequence[str],
        node_selector: Mapping[str, str],
        protect: bool,
        depends_on: Sequence[pulumi.Resource],
        tags: Tags,
    ) -> VeleroArgs:
        return cls(
            identifier=identifier,
            cluster_name=cluster_name,
            provider=provider,
            namespaces=tuple(namespaces),
            node_selector=dict(node_selector),
            schedule=config.schedule,
            ttl=config.ttl,
            snapshot_volumes=config.snapshot_volumes,
            bucket_name=config.bucket.name,
            expiry_margin_days=config.bucket.expiry_margin_days,
            noncurrent_version_days=config.bucket.noncurrent_version_days,
            force_destroy=config.bucket.force_destroy,
            protect=protect,
            depends_on=tuple(depends_on),
            tags=tags,
        )


# --- pure pieces -----------------------------------------------------------------------------------------


def default_bucket_name(cluster_name: str, account_id: str, region: str) -> str:
    return f"{cluster_name}-velero-{account_id}-{region}"


def expiry_days(ttl_hours: int, margin_days: int) -> int:
    """Days after which S3 expires an object: the TTL in whole days, plus the margin."""
    return math.ceil(ttl_hours / 24) + margin_days


def lifecycle_rules(ttl_hours: int, margin_days: int, noncurrent_days: int) -> list[dict[str, Any]]:
    """Expire backups left past their TTL (and then their old versions), abort stale multipart uploads, and
    remove delete markers left with no version behind them. A rule's expiration takes days or the
    delete-marker flag, never both (S3's LifecycleExpiration), hence two rules."""
    return [
        {
            "id": "expire-backups-past-their-ttl",
            "status": "Enabled",
            "filter": {"prefix": ""},
            "expiration": {"days": expiry_days(ttl_hours, margin_days)},
            "noncurrent_version_expiration": {"noncurrent_days": noncurrent_days},
            "abort_incomplete_multipart_upload": {"days_after_initiation": MULTIPART_DAYS},
        },
        {
            "id": "remove-orphaned-delete-markers",
            "status": "Enabled",
            "filter": {"prefix": ""},
            "expiration": {"expired_object_delete_marker": True},
        },
    ]


def bucket_policy(bucket_arn: str) -> dict[str, Any]:
    """Refuse every request to the bucket not made over TLS, or made over TLS older than 1.2."""
    everything = [bucket_arn, f"{bucket_arn}/*"]
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": everything,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
            {
                "Sid": "DenyOutdatedTls",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": everything,
                "Condition": {"NumericLessThan": {"s3:TlsVersion": "1.2"}},
            },
        ],
    }


def velero_policy(bucket_arn: str, key_arn: str, region: str, account_id: str) -> dict[str, Any]:
    """The AWS plugin's documented policy (README, "Set permissions for Velero"), narrowed: the objects of one
    bucket and its key through S3; snapshots only of this account's volumes, only tagged by Velero at
    creation; volumes created (restored) only from such snapshots; deletes only of Velero's snapshots."""
    snapshots = f"arn:aws:ec2:{region}::snapshot/*"
    volumes = f"arn:aws:ec2:{region}:{account_id}:volume/*"
    tagged_on_request = {"Null": {"aws:RequestTag/velero.io/backup": "false"}}
    tagged = {"Null": {"aws:ResourceTag/velero.io/backup": "false"}}
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "ListTheBucket", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": bucket_arn},
            {
                "Sid": "ReadAndWriteItsObjects",
                "Effect": "Allow",
                "Action": [
                    "s3:GetObject",
                    "s3:PutObject",
                    "s3:DeleteObject",
                    "s3:PutObjectTagging",
                    "s3:AbortMultipartUpload",
                    "s3:ListMultipartUploadParts",
                ],
                "Resource": f"{bucket_arn}/*",
            },
            {
                "Sid": "UseTheBucketsKeyThroughS3",
                "Effect": "Allow",
                "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
                "Resource": key_arn,
                "Condition": {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
            },
            {
                # Neither call supports resource-level permissions.
                "Sid": "DescribeVolumesAndSnapshots",
                "Effect": "Allow",
                "Action": ["ec2:DescribeVolumes", "ec2:DescribeSnapshots"],
                "Resource": "*",
            },
            {
                "Sid": "SnapshotVolumes",
                "Effect": "Allow",
                "Action": "ec2:CreateSnapshot",
                "Resource": volumes,
            },
            {
                "Sid": "SnapshotsTaggedByVelero",
                "Effect": "Allow",
                "Action": "ec2:CreateSnapshot",
                "Resource": snapshots,
                "Condition": tagged_on_request,
            },
            {
                "Sid": "RestoreVolumesTaggedByVelero",
                "Effect": "Allow",
                "Action": "ec2:CreateVolume",
                "Resource": volumes,
                "Condition": tagged_on_request,
            },
            {
                "Sid": "RestoreFromVelerosSnapshots",
                "Effect": "Allow",
                "Action": "ec2:CreateVolume",
                "Resource": snapshots,
                "Condition": tagged,
            },
            {
                "Sid": "TagOnlyWhatItCreates",
                "Effect": "Allow",
                "Action": "ec2:CreateTags",
                "Resource": [snapshots, volumes],
                "Condition": {"StringEquals": {"ec2:CreateAction": ["CreateSnapshot", "CreateVolume"]}},
            },
            {
                "Sid": "DeleteVelerosSnapshots",
                "Effect": "Allow",
                "Action": "ec2:DeleteSnapshot",
                "Resource": snapshots,
                "Condition": tagged,
            },
        ],
    }


def cluster_role_rules() -> list[dict[str, Any]]:
    """What the server may do cluster-wide in place of cluster-admin: read everything (backups), create and
    patch anything (restores, RBAC included, hence bind and escalate), and manage its own resources."""
    return [
        {
            "apiGroups": ["*"],
            "resources": ["*"],
            "verbs": ["get", "list", "watch", "create", "update", "patch"],
        },
        {"apiGroups": ["velero.io"], "resources": ["*"], "verbs": ["*"]},
        {
            "apiGroups": ["rbac.authorization.k8s.io"],
            "resources": ["clusterroles", "roles"],
            "verbs": ["bind", "escalate"],
        },
    ]


_LOCKED_DOWN = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}


def velero_values(args: VeleroArgs, *, bucket: str, region: str) -> dict[str, Any]:
    """Values of the velero chart at its pin (values.yaml and values.schema.json at velero-12.1.0); each key
    names the chart key it feeds."""
    location_config = {"region": region}
    return {
        # initContainers: the chart requires at least one plugin; it copies itself into the plugins volume.
        "initContainers": [
            {
                "name": "velero-plugin-for-aws",
                "image": PLUGIN_IMAGE,
                "imagePullPolicy": "IfNotPresent",
                "volumeMounts": [{"mountPath": "/target", "name": "plugins"}],
                "resources": PLUGIN_RESOURCES,
                "securityContext": {**_LOCKED_DOWN, "runAsNonRoot": True, "runAsUser": USER_ID},
            }
        ],
        # podSecurityContext, containerSecurityContext: also the upgrade-CRDs job's.
        "podSecurityContext": {
            "runAsNonRoot": True,
            "runAsUser": USER_ID,
            "runAsGroup": USER_ID,
            "fsGroup": USER_ID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containerSecurityContext": _LOCKED_DOWN,
        "resources": RESOURCES,
        "upgradeJobResources": RESOURCES,
        "nodeSelector": dict(args.node_selector),
        # credentials.useSecret false: no key file, the AWS SDK's chain finds the Pod Identity agent.
        "credentials": {"useSecret": False},
        "serviceAccount": {"server": {"create": True, "name": SERVICE_ACCOUNT}},
        # rbac.clusterAdministratorName: the ClusterRole bound in place of cluster-admin.
        "rbac": {"create": True, "clusterAdministrator": True, "clusterAdministratorName": CLUSTER_ROLE},
        "configuration": {
            "backupStorageLocation": [
                {
                    "name": STORAGE_LOCATION,
                    "provider": "aws",
                    "bucket": bucket,
                    "default": True,
                    "config": location_config,
                }
            ],
            "volumeSnapshotLocation": [
                {"name": STORAGE_LOCATION, "provider": "aws", "config": location_config}
            ],
            # defaultBackupTTL: backups made by hand are kept as long as the scheduled ones.
            "defaultBackupTTL": args.ttl,
            "logFormat": "json",
        },
        "backupsEnabled": True,
        "snapshotsEnabled": args.snapshot_volumes,
        # deployNodeAgent: not needed for EBS snapshots; it would need root and host paths.
        "deployNodeAgent": False,
    }


def schedule_spec(args: VeleroArgs) -> dict[str, Any]:
    """The ``velero.io/v1`` Schedule's spec (CRD at velero-12.1.0: ``schedule`` and ``template`` required)."""
    template: dict[str, Any] = {
        "ttl": args.ttl,
        "includedNamespaces": list(args.namespaces),
        "excludedResources": list(EXCLUDED_RESOURCES),
        "storageLocation": STORAGE_LOCATION,
        "snapshotVolumes": args.snapshot_volumes,
    }
    if args.snapshot_volumes:
        template["volumeSnapshotLocations"] = [STORAGE_LOCATION]
    return {"schedule": args.schedule, "useOwnerReferencesInBackup": False, "template": template}


# --- the component ---------------------------------------------------------------------------------------


class Velero(pulumi.ComponentResource):
    """The backup bucket and its key, the server's role, the chart, and the daily Schedule."""

    bucket_name: pulumi.Output[str]
    role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: VeleroArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:index:Velero", name, None, opts)
        self._name = name
        tags = args.tags.layered({"Component": "velero"})
        account_id, region = account_and_region(self)
        key = customer_managed_key(
            self,
            f"{name}-kms",
            description="Encrypts the Velero backups bucket",
            alias=f"alias/{args.identifier}-velero",
            tags=tags,
            protect=args.protect,
            services=("s3",),
        )
        bucket = self._bucket(args, key, account_id, region, tags)
        role, grants = self._role(args, bucket, key, account_id, region, tags)
        k8s_opts = pulumi.ResourceOptions(parent=self, provider=args.provider)
        namespace = restricted_namespace(f"{name}-namespace", NAMESPACE, k8s_opts)
        cluster_role = k8s.rbac.v1.ClusterRole(
            f"{name}-cluster-role",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=CLUSTER_ROLE, labels=MANAGED),
            # Rules in the API's camelCase, which the SDK passes on as they are.
            rules=cast("list[k8s.rbac.v1.PolicyRuleArgsDict]", cluster_role_rules()),
            opts=k8s_opts,
        )
        release = pinned_release(
            f"{name}-release",
            "velero",
            release_name="velero",
            namespace=namespace.metadata.name,
            values=pulumi.Output.all(bucket.bucket, region).apply(
                lambda values: velero_values(args, bucket=values[0], region=values[1])
            ),
            opts=k8s_opts,
            # Pods get Pod Identity credentials only if the association exists when they start.
            depends_on=[cluster_role, *grants, *args.depends_on],
        )
        # The chart installs the CRD the Schedule is an object of.
        k8s.apiextensions.CustomResource(
            f"{name}-daily",
            api_version="velero.io/v1",
            kind="Schedule",
            metadata={"name": "daily", "namespace": NAMESPACE, "labels": MANAGED},
            spec=schedule_spec(args),
            opts=pulumi.ResourceOptions.merge(k8s_opts, pulumi.ResourceOptions(depends_on=[release])),
        )
        self.bucket_name = bucket.bucket
        self.role_arn = role.arn
        self.register_outputs({"bucketName": self.bucket_name, "roleArn": self.role_arn})

    def _bucket(
        self,
        args: VeleroArgs,
        key: aws.kms.Key,
        account_id: pulumi.Output[str],
        region: pulumi.Output[str],
        tags: Tags,
    ) -> aws.s3.Bucket:
        name = self._name
        child = pulumi.ResourceOptions(parent=self)
        bucket_name: pulumi.Input[str] = args.bucket_name or pulumi.Output.all(account_id, region).apply(
            lambda ids: default_bucket_name(args.identifier, *ids)
        )
        bucket = aws.s3.Bucket(
            f"{name}-bucket",
            bucket=bucket_name,
            force_destroy=args.force_destroy,
            tags=tags.for_resource(f"{name}-bucket"),
            opts=pulumi.ResourceOptions(parent=self, protect=args.protect),
        )
        # Everything that makes the bucket safe is in place before the role that writes to it is usable.
        aws.s3.BucketPublicAccessBlock(
            f"{name}-bucket",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        aws.s3.BucketOwnershipControls(
            f"{name}-bucket", bucket=bucket.id, rule={"object_ownership": "BucketOwnerEnforced"}, opts=child
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-bucket",
            bucket=bucket.id,
            rules=[
                {
                    "apply_server_side_encryption_by_default": {
                        "sse_algorithm": "aws:kms",
                        "kms_master_key_id": key.arn,
                    },
                    "bucket_key_enabled": True,
                }
            ],
            opts=child,
        )
        versioning = aws.s3.BucketVersioning(
            f"{name}-bucket", bucket=bucket.id, versioning_configuration={"status": "Enabled"}, opts=child
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{name}-bucket",
            bucket=bucket.id,
            rules=lifecycle_rules(  # type: ignore[arg-type]
                args.ttl_hours, args.expiry_margin_days, args.noncurrent_version_days
            ),
            # S3 applies a lifecycle's noncurrent-version rules only once versioning is on.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[versioning]),
        )
        aws.s3.BucketPolicy(
            f"{name}-bucket",
            bucket=bucket.id,
            policy=bucket.arn.apply(lambda arn: json.dumps(bucket_policy(arn))),
            opts=child,
        )
        return bucket

    def _role(
        self,
        args: VeleroArgs,
        bucket: aws.s3.Bucket,
        key: aws.kms.Key,
        account_id: pulumi.Output[str],
        region: pulumi.Output[str],
        tags: Tags,
    ) -> tuple[aws.iam.Role, list[pulumi.Resource]]:
        name = f"{self._name}-server"
        server = pod_identity_role(
            self,
            name,
            description="Velero: writes the cluster's backups to its bucket and snapshots its volumes",
            policy=pulumi.Output.all(bucket.arn, key.arn, region, account_id).apply(
                lambda ids: json.dumps(velero_policy(*ids))
            ),
            cluster_name=args.cluster_name,
            namespace=NAMESPACE,
            service_accounts={name: SERVICE_ACCOUNT},
            tags=tags,
        )
        return server.role, server.grants
