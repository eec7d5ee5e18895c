"""Emulated data tier: KMS, Secrets Manager, Aurora and ElastiCache, in the moto account (see ``core``).

moto 5.2.5 has no ElastiCache parameter groups (no ``CreateCacheParameterGroup``): those get a synthetic
name and ARN, after the same family check AWS makes. The generated password of ``pulumi_random`` is made
here too, deterministically from its logical name, as the account is a fake one.
"""

from __future__ import annotations

import base64
import random
import string
from collections.abc import Mapping
from typing import Any

import pulumi

from offline.emulation.core import (
    ACCOUNT_ID,
    AwsEmulator,
    EmulationError,
    Outputs,
    handles,
    physical_name,
    refusal,
    short_hash,
)

Args = pulumi.runtime.MockResourceArgs


def _request(inputs: Mapping[str, Any], api_names: Mapping[str, str]) -> dict[str, Any]:
    """The API request of the inputs that are set, each under its API name."""
    return {api: inputs[key] for key, api in api_names.items() if inputs.get(key) is not None}


def _aws_tags(inputs: Mapping[str, Any], key: str = "Key", value: str = "Value") -> list[dict[str, str]]:
    return [{key: k, value: v} for k, v in (inputs.get("tags") or {}).items()]


def _lower_name(a: Args, explicit: str, max_length: int = 255) -> str:
    """The given physical name, or Pulumi's auto-name (RDS and ElastiCache keep names lowercase)."""
    return a.inputs.get(explicit) or physical_name(a.inputs.get("namePrefix") or a.name, max_length).lower()


# --- KMS ---------------------------------------------------------------------------------------------------


@handles("aws:kms/key:Key")
def _kms_key(e: AwsEmulator, a: Args) -> tuple[str, Outputs]:
    kms = e.client("kms")
    request = _request(
        a.inputs,
        {
            "description": "Description",
            "keyUsage": "KeyUsage",
            "customerMasterKeySpec": "KeySpec",
            "policy": "Policy",
            "multiRegion": "MultiRegion",
        },
    )
    key = kms.create_key(**request, Tags=_aws_tags(a.inputs, "TagKey", "TagValue"))["KeyMetadata"]
    if a.inputs.get("enableKeyRotation"):
        kms.enable_key_rotation(KeyId=key["KeyId"])
    return key["KeyId"], {"keyId": key["KeyId"], "arn": key["Arn"]}


@handles("aws:kms/alias:Alias")
def _kms_alias(e: AwsEmulator, a: Args) -> tuple[str, Outputs]:
    kms = e.client("kms")
    name = a.inputs.get("name") or physical_name(a.inputs.get("namePrefix") or f"alias/{a.name}", 256)
    kms.create_alias(AliasName=name, TargetKeyId=a.inputs["targetKeyId"])
    target = kms.describe_key(KeyId=a.inputs["targetKeyId"])["KeyMetadata"]["Arn"]
    return name, {"name": name, "arn": e.arn("kms", name), "targetKeyArn": target}


# --- Secrets Manager ---------------------------------------------------------------------------------------


@handles("aws:secretsmanager/secret:Secret")
def _secret(e: AwsEmulator, a: Args) -> tuple[str, Outputs]:
    name = a.inputs.get("name") or physical_name(a.inputs.get("namePrefix") or a.name, 512)
    request = _request(a.inputs, {"description": "Description", "kmsKeyId": "KmsKeyId"})
    arn = e.client("secretsmanager").create_secret(Name=name, **request, Tags=_aws_tags(a.inputs))["ARN"]
    # The provider's ID of a secret is its ARN.
    return arn, {"arn": arn, "name": name}


@handles("aws:secretsmanager/secretVersion:SecretVersion")
def _secret_version(e: AwsEmulator, a: Args) -> tuple[str, Outputs]:
    request = _request(a.inputs, {"secretString": "SecretString", "versionStages": "VersionStages"})
    version = e.client("secretsmanager").put_secret_value(SecretId=a.inputs["secretId"], **request)
    return f"{version['ARN']}|{version['VersionId']}", {
        "arn": version["ARN"],
        "versionId": version["VersionId"],
        "versionStages": version.get("VersionStages", ["AWSCURRENT"]),
    }


# --- Aurora ------------------------------------------------------------------------------------------------


def _rds_parameter_group(e: AwsEmulator, a: Args, kind: str) -> tuple[str, Outputs]:
    """A DB (``kind`` "db") or DB cluster (``kind`` "db_cluster") parameter group with its parameters."""
    rds = e.client("rds")
    name = _lower_name(a, "name")
    prefix = "DBClusterParameterGroup" if kind == "db_cluster" else "DBParameterGroup"
    created = getattr(rds, f"create_{kind}_parameter_group")(
        **{f"{prefix}Name": name},
        DBParameterGroupFamily=a.inputs["family"],
        Description=a.inputs.get("description", "Managed by Pulumi"),
        Tags=_aws_tags(a.inputs),
    )[prefix]
    parameters = [
        {
            "ParameterName": p["name"],
            "ParameterValue": p["value"],
            "ApplyMethod": p.get("applyMethod", "immediate"),
        }
        for p in a.inputs.get("parameters") or []
    ]
    if parameters:
        getattr(rds, f"modify_{kind}_parameter_group")(**{f"{prefix}Name": name}, Parameters=parameters)
    return name, {"name": name, "arn": created[f"{prefix}Arn"]}


@handles("aws:rds/clusterParameterGroup:ClusterParameterGroup")
def _rds_cluster_parameter_group(e: AwsEmulator, a: Args) -> tuple[str, Outputs]:
    return _rds_parameter_group(e, a, "db_cluster")


@handles("aws:rds/parameterGroup:ParameterGroup")
def _rds_db_parameter_group(e: AwsEmulator, a: Args) -> tuple[str, Outputs]:
    return _rds_parameter_group(e, a, "db")


_CLUSTER_API = {
    "engine": "Engine",
    "engineVersion": "EngineVersion",
    "engineMode": "EngineMode",
    "port": "Port",
    "dbSubnetGroupName": "DBSubnetGroupName",
    "vpcSecurityGroupIds": "VpcSecurityGroupIds",
    "dbClusterParameterGroupName": "DBClusterParameterGroupName",
    "storageEncrypted": "StorageEncrypted",
    "kmsKeyId": "KmsKeyId",
    "masterUsername": "MasterUsername",
    "masterPassword": "MasterUserPassword",
    "manageMasterUserPassword": "ManageMasterUserPassword",
    "masterUserSecretKmsKeyId": "MasterUserSecretKmsKeyId",
    "iamDatabaseAuthenticationEnabled": "EnableIAMDatabaseAuthentication",
    "backupRetentionPeriod": "BackupRetentionPeriod",
    "preferredBackupWindow": "PreferredBackupWindow",
    "preferredMaintenanceWindow": "PreferredMaintenanceWindow",
    "copyTagsToSnapshot": "CopyTagsToSnapshot",
    "deletionProtection": "DeletionProtection",
    "enabledCloudwatchLogsExports": "EnableCloudwatchLogsExports",
    "databaseName": "DatabaseName",
}


AURORA_POSTGRESQL_DEFAULT_MINOR = {"13": "13.20", "14": "14.17", "15": "15.12", "16": "16.8", "17": "17.4"}
"""The minor Aurora PostgreSQL creates a cluster with when given only the major (its default version)."""


@handles("aws:rds/cluster:Cluster")
def _rds_cluster(e: AwsEmulator, a: Args) -> tuple[str, Outputs]:
    identifier = _lower_name(a, "clusterIdentifier", 63)
    request = _request(a.inputs, _CLUSTER_API)
    version = request.get("EngineVersion", "")
    if a.inputs.get("engine") == "aurora-postgresql" and version.isdigit():
        if version not in AURORA_POSTGRESQL_DEFAULT_MINOR:
            raise refusal(
                a, "InvalidParameterCombination", f"Cannot find version {version} for aurora-postgresql"
            )
        request["EngineVersion"] = AURORA_POSTGRESQL_DEFAULT_MINOR[version]
    scaling = a.inputs.get("serverlessv2ScalingConfiguration")
    if scaling:
        request["ServerlessV2ScalingConfiguration"] = {
            "MinCapacity": scaling["minCapacity"],
            "MaxCapacity": scaling["maxCapacity"],
        }
    cluster = e.client("rds").create_db_cluster(
        DBClusterIdentifier=identifier, **request, Tags=_aws_tags(a.inputs)
    )["DBCluster"]
    outputs: Outputs = {
        "clusterIdentifier": identifier,
        "arn": cluster["DBClusterArn"],
        # moto's endpoints have AWS's shape: <id>.cluster[-ro]-<hash>.<region>.rds.amazonaws.com
        "endpoint": cluster["Endpoint"],
        "readerEndpoint": cluster["ReaderEndpoint"],
        "port": cluster["Port"],
        "clusterResourceId": cluster["DbClusterResourceId"],
        "hostedZoneId": cluster.get("HostedZoneId"),
        "engineVersionActual": cluster.get("EngineVersion"),
        "masterUserSecrets": [],
    }
    secret = cluster.get("MasterUserSecret")
    if secret:
        outputs["masterUserSecrets"] = [
            {
                "secretArn": secret["SecretArn"],
                "secretStatus": secret.get("SecretStatus", "active"),
                "kmsKeyId": secret.get("KmsKeyId"),
            }
        ]
    return identifier, outputs


_INSTANCE_API = {
    "instanceClass": "DBInstanceClass",
    "engine": "Engine",
    "clusterIdentifier": "DBClusterIdentifier",
    "dbParameterGroupName": "DBParameterGroupName",
    "dbSubnetGroupName": "DBSubnetGroupName",
    "availabilityZone": "AvailabilityZone",
    "publiclyAccessible": "PubliclyAccessible",
    "monitoringInterval": "MonitoringInterval",
    "monitoringRoleArn": "MonitoringRoleArn",
    "performanceInsightsEnabled": "EnablePerformanceInsights",
    "performanceInsightsKmsKeyId": "PerformanceInsightsKMSKeyId",
    "performanceInsightsRetentionPeriod": "PerformanceInsightsRetentionPeriod",
    "copyTagsToSnapshot": "CopyTagsToSnapshot",
    "autoMinorVersionUpgrade": "AutoMinorVersionUpgrade",
    "promotionTier": "PromotionTier",
    "preferredMaintenanceWindow": "PreferredMaintenanceWindow",
}


@handles("aws:rds/clusterInstance:ClusterInstance")
def _rds_cluster_instance(e: AwsEmulator, a: Args) -> tuple[str, Outputs]:
    rds = e.client("rds")
    # moto adds instances to clusters that do not exist and skips the monitoring-role check; AWS does not.
    rds.describe_db_clusters(DBClusterIdentifier=a.inputs["clusterIdentifier"])
    if a.inputs.get("monitoringInterval") and not a.inputs.get("monitoringRoleArn"):
        raise EmulationError(
            f"the emulated AWS account refused {a.typ} '{a.name}': InvalidParameterCombination: "
            "A MonitoringRoleARN value is required if you specify a MonitoringInterval value other than 0."
        )
    identifier = _lower_name(a, "identifier", 63)
    instance = rds.create_db_instance(
        DBInstanceIdentifier=identifier, **_request(a.inputs, _INSTANCE_API), Tags=_aws_tags(a.inputs)
    )["DBInstance"]
    endpoint = instance.get("Endpoint") or {}
    return identifier, {
        "identifier": identifier,
        "arn": instance["DBInstanceArn"],
        "endpoint": endpoint.get("Address"),
        "port": endpoint.get("Port"),
        "dbiResourceId": instance.get("DbiResourceId"),
        "availabilityZone": instance.get("AvailabilityZone"),
        "storageEncrypted": instance.get("StorageEncrypted"),
    }


# --- ElastiCache -------------------------------------------------------------------------------------------

_CACHE_FAMILIES = frozenset(
    {
        *("memcached1.4", "memcached1.5", "memcached1.6"),
        *("redis2.6", "redis2.8", "redis3.2", "redis4.0", "redis5.0", "redis6.x", "redis7"),
        *("valkey7", "valkey8"),
    }
)


@handles("aws:elasticache/parameterGroup:ParameterGroup")
def _elasticache_parameter_group(e: AwsEmulator, a: Args) -> tuple[str, Outputs]:
    # Synthetic: moto has no CreateCacheParameterGroup.
    family = a.inputs["family"]
    if family not in _CACHE_FAMILIES:
        raise EmulationError(
            f"the emulated AWS account refused {a.typ} '{a.name}': InvalidParameterValue: "
            f"{family!r} is not a valid cache parameter group family"
        )
    name = _lower_name(a, "name")
    return name, {"name": name, "arn": e.arn("elasticache", f"parametergroup:{name}")}


_REPLICATION_GROUP_API = {
    "description": "ReplicationGroupDescription",
    "engine": "Engine",
    "engineVersion": "EngineVersion",
    "nodeType": "CacheNodeType",
    "numCacheClusters": "NumCacheClusters",
    "clusterMode": "ClusterMode",
    "port": "Port",
    "parameterGroupName": "CacheParameterGroupName",
    "subnetGroupName": "CacheSubnetGroupName",
    "securityGroupIds": "SecurityGroupIds",
    "automaticFailoverEnabled": "AutomaticFailoverEnabled",
    "multiAzEnabled": "MultiAZEnabled",
    "atRestEncryptionEnabled": "AtRestEncryptionEnabled",
    "kmsKeyId": "KmsKeyId",
    "transitEncryptionEnabled": "TransitEncryptionEnabled",
    "transitEncryptionMode": "TransitEncryptionMode",
    "authToken": "AuthToken",
    "autoMinorVersionUpgrade": "AutoMinorVersionUpgrade",
    "snapshotRetentionLimit": "SnapshotRetentionLimit",
    "snapshotWindow": "SnapshotWindow",
    "maintenanceWindow": "PreferredMaintenanceWindow",
}


AUTH_TOKEN_SPECIALS = frozenset("!&#$^<>-")
"""CreateReplicationGroup, AuthToken: "The only permitted printable special characters are !, &, #, $, ^, <,
>, and -. Other printable special characters cannot be used in the AUTH token." 16 to 128 characters."""


def auth_token_refusal(token: str) -> str | None:
    """Why ElastiCache refuses ``token`` as an AUTH token, if it does."""
    others = sorted({c for c in token if not c.isascii() or not (c.isalnum() or c in AUTH_TOKEN_SPECIALS)})
    if others:
        return (
            f"Invalid AuthToken provided: it holds {''.join(others)!r}; the only permitted printable special "
            "characters are !, &, #, $, ^, <, >, and -"
        )
    if not 16 <= len(token) <= 128:
        return f"Invalid AuthToken provided: it must be 16 to 128 characters long, not {len(token)}"
    return None


def _replication_group_refusals(inputs: Mapping[str, Any]) -> list[str]:
    """What AWS refuses in CreateReplicationGroup and moto lets through."""
    refusals = []
    if inputs.get("authToken") and not inputs.get("transitEncryptionEnabled"):
        refusals.append("AuthToken requires TransitEncryptionEnabled")
    if inputs.get("multiAzEnabled") and not inputs.get("automaticFailoverEnabled"):
        refusals.append("MultiAZEnabled requires AutomaticFailoverEnabled")
    if inputs.get("automaticFailoverEnabled") and (inputs.get("numCacheClusters") or 1) < 2:
        refusals.append(
            "AutomaticFailoverEnabled needs at least 2 cache clusters (a replica to fail over to)"
        )
    if inputs.get("kmsKeyId") and not inputs.get("atRestEncryptionEnabled"):
        refusals.append("KmsKeyId requires AtRestEncryptionEnabled")
    return refusals


@handles("aws:elasticache/replicationGroup:ReplicationGroup")
def _replication_group(e: AwsEmulator, a: Args) -> tuple[str, Outputs]:
    token_problem = auth_token_refusal(a.inputs["authToken"]) if a.inputs.get("authToken") else None
    if token_problem:
        raise refusal(a, "InvalidParameterValue", token_problem)
    refusals = _replication_group_refusals(a.inputs)
    if refusals:
        raise EmulationError(
            f"the emulated AWS account refused {a.typ} '{a.name}': InvalidParameterCombination: "
            + "; ".join(refusals)
        )
    elasticache = e.client("elasticache")
    if a.inputs.get("subnetGroupName"):
        elasticache.describe_cache_subnet_groups(CacheSubnetGroupName=a.inputs["subnetGroupName"])
    group_id = _lower_name(a, "replicationGroupId", 40)
    request = _request(a.inputs, _REPLICATION_GROUP_API)
    request["LogDeliveryConfigurations"] = [
        {
            "LogType": log["logType"],
            "DestinationType": log["destinationType"],
            "DestinationDetails": {"CloudWatchLogsDetails": {"LogGroup": log["destination"]}},
            "LogFormat": log["logFormat"],
        }
        for log in a.inputs.get("logDeliveryConfigurations") or []
    ]
    group = elasticache.create_replication_group(
        ReplicationGroupId=group_id, **request, Tags=_aws_tags(a.inputs)
    )["ReplicationGroup"]
    node_group = group["NodeGroups"][0]
    # moto's endpoints have AWS's shape: master.<id>.<hash>.use1.cache.amazonaws.com (replica. for readers).
    primary = node_group["PrimaryEndpoint"]
    reader = node_group.get("ReaderEndpoint") or {
        "Address": primary["Address"].replace("master.", "replica.", 1)
    }
    return group_id, {
        "replicationGroupId": group_id,
        "arn": group["ARN"],
        "primaryEndpointAddress": primary["Address"],
        "readerEndpointAddress": reader["Address"],
        "port": primary.get("Port", a.inputs.get("port", 6379)),
        # moto makes one member whatever NumCacheClusters says; AWS makes <id>-001, <id>-002, ...
        "memberClusters": [
            f"{group_id}-{n:03}" for n in range(1, (a.inputs.get("numCacheClusters") or 1) + 1)
        ],
        "clusterEnabled": group.get("ClusterEnabled", False),
        "engineVersionActual": a.inputs.get("engineVersion"),
    }


# --- pulumi_random -----------------------------------------------------------------------------------------

_DEFAULT_SPECIAL = "!@#$%&*()-_=+[]{}<>:?"
"""The provider's special characters when ``overrideSpecial`` is not given."""


def generated_password(inputs: Mapping[str, Any], seed: str) -> str:
    """A password as RandomPassword makes one: ``length`` characters of the enabled classes, at least
    ``min*`` of each; deterministic in ``seed``."""
    classes = [
        (string.ascii_uppercase, inputs.get("upper", True), inputs.get("minUpper", 0)),
        (string.ascii_lowercase, inputs.get("lower", True), inputs.get("minLower", 0)),
        (string.digits, inputs.get("numeric", inputs.get("number", True)), inputs.get("minNumeric", 0)),
        (
            inputs.get("overrideSpecial") or _DEFAULT_SPECIAL,
            inputs.get("special", True),
            inputs.get("minSpecial", 0),
        ),
    ]
    enabled = [(chars, minimum) for chars, on, minimum in classes if on and chars]
    rng = random.Random(seed)
    password = [rng.choice(chars) for chars, minimum in enabled for _ in range(minimum)]
    alphabet = "".join(chars for chars, _ in enabled)
    password += [rng.choice(alphabet) for _ in range(inputs["length"] - len(password))]
    rng.shuffle(password)
    return "".join(password)


@handles("random:index/randomPassword:RandomPassword")
def _random_password(_: AwsEmulator, a: Args) -> tuple[str, Outputs]:
    seed = f"{ACCOUNT_ID}/{a.name}/{sorted((a.inputs.get('keepers') or {}).items())}"
    return "none", {"result": generated_password(a.inputs, seed)}


@handles("random:index/randomId:RandomId")
def _random_id(_: AwsEmulator, a: Args) -> tuple[str, Outputs]:
    """Random bytes, deterministic in the logical name and keepers, in the provider's encodings."""
    seed = f"{ACCOUNT_ID}/{a.name}/{sorted((a.inputs.get('keepers') or {}).items())}"
    data = random.Random(seed).randbytes(a.inputs["byteLength"])
    b64_url = base64.urlsafe_b64encode(data).decode().rstrip("=")
    return b64_url, {
        "hex": data.hex(),
        "dec": str(int.from_bytes(data, "big")),
        "b64Std": base64.b64encode(data).decode(),
        "b64Url": b64_url,
    }


# --- AWS Backup --------------------------------------------------------------------------------------------


@handles("aws:backup/vault:Vault")
def _backup_vault(e: AwsEmulator, a: Args) -> tuple[str, Outputs]:
    name = a.inputs.get("name") or physical_name(a.name, 50)
    request: dict[str, Any] = {"BackupVaultName": name, "BackupVaultTags": a.inputs.get("tags") or {}}
    if a.inputs.get("kmsKeyArn"):
        # moto takes any ARN; AWS wants a key of the vault's region that exists.
        e.client("kms").describe_key(KeyId=a.inputs["kmsKeyArn"])
        request["EncryptionKeyArn"] = a.inputs["kmsKeyArn"]
    vault = e.client("backup").create_backup_vault(**request)
    return name, {"name": name, "arn": vault["BackupVaultArn"], "recoveryPoints": 0}


def _vault_exists(e: AwsEmulator, a: Args, arn_or_name: str) -> None:
    """AWS checks a plan's vaults; moto does not. A vault of another region is named by its ARN."""
    region = arn_or_name.split(":")[3] if arn_or_name.startswith("arn:") else e.region
    name = arn_or_name.rsplit(":", 1)[-1]
    vaults = e.client_in(region, "backup").list_backup_vaults()["BackupVaultList"]
    names = {vault["BackupVaultName"] for vault in vaults}
    if name not in names:
        raise refusal(a, "InvalidParameterValueException", f"Backup vault {arn_or_name} does not exist")


@handles("aws:backup/plan:Plan")
def _backup_plan(e: AwsEmulator, a: Args) -> tuple[str, Outputs]:
    rules = []
    for rule in a.inputs["rules"]:
        _vault_exists(e, a, rule["targetVaultName"])
        copies = []
        for copy in rule.get("copyActions") or []:
            _vault_exists(e, a, copy["destinationVaultArn"])
            copies.append(
                {
                    "DestinationBackupVaultArn": copy["destinationVaultArn"],
                    "Lifecycle": {"DeleteAfterDays": (copy.get("lifecycle") or {}).get("deleteAfter", 0)},
                }
            )
        rules.append(
            {
                "RuleName": rule["ruleName"],
                "TargetBackupVaultName": rule["targetVaultName"],
                "ScheduleExpression": rule["schedule"],
                "Lifecycle": {"DeleteAfterDays": (rule.get("lifecycle") or {}).get("deleteAfter", 0)},
                "CopyActions": copies,
            }
        )
    plan = e.client("backup").create_backup_plan(
        BackupPlan={"BackupPlanName": a.inputs["name"], "Rules": rules},
        BackupPlanTags=a.inputs.get("tags") or {},
    )
    return plan["BackupPlanId"], {"arn": plan["BackupPlanArn"], "version": plan["VersionId"]}


@handles("aws:backup/selection:Selection")
def _backup_selection(e: AwsEmulator, a: Args) -> tuple[str, Outputs]:
    """moto has no selections; AWS checks the plan, the role it assumes, and (at the first backup) what it
    selects: all three here, the Aurora clusters by their ARN."""
    e.client("backup").get_backup_plan(BackupPlanId=a.inputs["planId"])
    e.client("iam").get_role(RoleName=a.inputs["iamRoleArn"].rsplit("/", 1)[1])
    for arn in a.inputs.get("resources") or []:
        if ":rds:" in arn and ":cluster:" in arn:
            e.client("rds").describe_db_clusters(DBClusterIdentifier=arn)
    selection_id = short_hash(a.inputs["planId"], a.inputs["name"], length=36)
    return selection_id, {}
