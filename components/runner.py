"""The deploy runner: a CodeBuild project that runs the repository's GitHub Actions jobs inside the VPC.

The cluster's API endpoint is private (prod, staging) or open only to a few CIDRs (dev), so the jobs that
preview or deploy the Kubernetes layer run on this runner, whose security group the cluster admits on
443. Why CodeBuild rather than a group of self-hosted runner instances: each job gets a fresh container
that is gone when the job ends (nothing a job leaves behind reaches the next one), there is no fleet to
patch, scale or keep registered, and nothing runs, or costs, between jobs. GitHub queues a job whose
``runs-on`` is ``codebuild-<project>-${{ github.run_id }}-${{ github.run_attempt }}``; the project's webhook
starts a build that registers as that job's runner.

The runner's own role can only run the build: write its log, attach to the VPC and use the connection to
GitHub. The job assumes the deploy role itself, through GitHub's OIDC token, as a hosted runner would; the
role's trust names this repository and environment, wherever the job runs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components.cluster import assume_role_policy
from components.config import RunnerConfig
from components.shared import account_and_region
from components.tags import Tags

ANYWHERE = "0.0.0.0/0"


@dataclass(frozen=True)
class RunnerArgs:
    """Inputs of :class:`DeployRunner`. Defaults are production's."""

    project_name: str
    """CodeBuild project name; jobs name it in ``runs-on`` (include the stack). Required."""
    vpc_id: pulumi.Input[str]
    """VPC the builds run in. Required."""
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    """Private subnets (with NAT) the builds attach to. Required."""
    repository: str
    """The GitHub repository whose workflow jobs it runs (``https://github.com/<owner>/<repo>``). Required."""
    connection_arn: str
    """The CodeConnections connection to GitHub, made by hand. Required."""
    compute_type: str = "BUILD_GENERAL1_MEDIUM"
    """CodeBuild compute type. Default BUILD_GENERAL1_MEDIUM."""
    image: str = "aws/codebuild/standard:7.0"
    """CodeBuild image. Default aws/codebuild/standard:7.0 (Ubuntu 22.04: actions/setup-python serves it)."""
    timeout_minutes: int = 180
    """Longest a job may run (minutes). Default 180."""
    log_retention_days: int = 365
    """Days CloudWatch Logs keeps the jobs' logs. Default 365."""
    log_key_arn: pulumi.Input[str] | None = None
    """KMS key of the log group (its policy must let CloudWatch Logs use it). Default none."""
    tags: Tags = field(default_factory=Tags)
    """Tags of every resource. Default none."""

    @classmethod
    def from_config(
        cls,
        config: RunnerConfig,
        *,
        project_name: str,
        vpc_id: pulumi.Input[str],
        subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]],
        log_key_arn: pulumi.Input[str],
        tags: Tags,
    ) -> RunnerArgs:
        if config.repository is None or config.connection_arn is None:
            raise ValueError("RunnerArgs: an enabled runner needs its repository and connection ARN")
        return cls(
            project_name=project_name,
            vpc_id=vpc_id,
            subnet_ids=subnet_ids,
            repository=config.repository,
            connection_arn=config.connection_arn,
            compute_type=config.compute_type,
            image=config.image,
            timeout_minutes=config.timeout_minutes,
            log_retention_days=config.log_retention_days,
            log_key_arn=log_key_arn,
            tags=tags,
        )


# --- pure pieces -----------------------------------------------------------------------------------------


def runner_label(project_name: str) -> str:
    """What a workflow job's ``runs-on`` says to run on this runner (CodeBuild's GitHub Actions runner)."""
    return f"codebuild-{project_name}-${{{{ github.run_id }}}}-${{{{ github.run_attempt }}}}"


def runner_policy(
    *, log_group_arn: str, subnet_arns: Sequence[str], connection_arn: str, region: str, account_id: str
) -> dict[str, Any]:
    """What CodeBuild needs to run a build in the VPC and no more ("Allow CodeBuild access to AWS services
    required to create a VPC network interface"): its log, the builds' network interfaces in the given
    subnets, and the connection it clones through. Deploying is the job's, under the deploy role."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "WriteTheJobsLog",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": [log_group_arn, f"{log_group_arn}:*"],
            },
            {
                # These take no resource: CodeBuild reads the VPC and manages the builds' interfaces.
                "Sid": "AttachToTheVpc",
                "Effect": "Allow",
                "Action": [
                    "ec2:CreateNetworkInterface",
                    "ec2:DeleteNetworkInterface",
                    "ec2:DescribeDhcpOptions",
                    "ec2:DescribeNetworkInterfaces",
                    "ec2:DescribeSecurityGroups",
                    "ec2:DescribeSubnets",
                    "ec2:DescribeVpcs",
                ],
                "Resource": "*",
            },
            {
                "Sid": "InterfacesInTheRunnersSubnetsOnly",
                "Effect": "Allow",
                "Action": "ec2:CreateNetworkInterfacePermission",
                "Resource": f"arn:aws:ec2:{region}:{account_id}:network-interface/*",
                "Condition": {
                    "StringEquals": {"ec2:AuthorizedService": "codebuild.amazonaws.com"},
                    "ArnEquals": {"ec2:Subnet": list(subnet_arns)},
                },
            },
            {
                "Sid": "UseTheConnectionToGitHub",
                "Effect": "Allow",
                "Action": [
                    "codeconnections:GetConnectionToken",
                    "codeconnections:GetConnection",
                    "codeconnections:UseConnection",
                ],
                "Resource": connection_arn,
            },
        ],
    }


# --- the component ----------------------------------------------------------------------------------------


class DeployRunner(pulumi.ComponentResource):
    """A CodeBuild-hosted GitHub Actions runner in the private subnets, behind a group of its own."""

    project_name: pulumi.Output[str]
    security_group_id: pulumi.Output[str]
    label: str
    """The ``runs-on`` of a job that runs here."""

    def __init__(self, name: str, args: RunnerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("platform:index:DeployRunner", name, None, opts)
        self._name = name
        tags = args.tags.layered({"Component": "runner"})
        child = pulumi.ResourceOptions(parent=self)

        group = aws.ec2.SecurityGroup(
            f"{name}-sg",
            description=f"GitHub Actions jobs of CodeBuild project {args.project_name}",
            vpc_id=args.vpc_id,
            tags=tags.for_resource(f"{name}-sg"),
            opts=child,
        )
        # Nobody connects to a build. It calls out on 443 only: the AWS APIs, the state backend, GitHub, the
        # package and Helm repositories (through NAT), and the cluster's API (inside the VPC).
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-https",
            security_group_id=group.id,
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            cidr_ipv4=ANYWHERE,
            description="HTTPS out: AWS APIs, state backend, GitHub, packages and charts, the cluster",
            tags=tags.for_resource(f"{name}-https"),
            opts=child,
        )
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"/aws/codebuild/{args.project_name}",
            retention_in_days=args.log_retention_days,
            kms_key_id=args.log_key_arn,
            tags=tags.for_resource(f"{name}-logs"),
            opts=child,
        )
        account_id, region = account_and_region(self)
        role = aws.iam.Role(
            f"{name}-role",
            description=f"Runs the builds of CodeBuild project {args.project_name}, and nothing else",
            assume_role_policy=assume_role_policy("codebuild.amazonaws.com"),
            tags=tags.for_resource(f"{name}-role"),
            opts=child,
        )
        policy = aws.iam.RolePolicy(
            f"{name}-role",
            role=role.name,
            policy=pulumi.Output.all(log_group.arn, args.subnet_ids, region, account_id).apply(
                lambda parts: json.dumps(
                    runner_policy(
                        log_group_arn=parts[0],
                        subnet_arns=[f"arn:aws:ec2:{parts[2]}:{parts[3]}:subnet/{id_}" for id_ in parts[1]],
                        connection_arn=args.connection_arn,
                        region=parts[2],
                        account_id=parts[3],
                    )
                )
            ),
            opts=child,
        )
        project = aws.codebuild.Project(
            name,
            name=args.project_name,
            description=f"GitHub Actions runner for {args.repository} inside the VPC",
            service_role=role.arn,
            source={
                "type": "GITHUB",
                "location": f"{args.repository}.git",
                "auth": {"type": "CODECONNECTIONS", "resource": args.connection_arn},
            },
            artifacts={"type": "NO_ARTIFACTS"},
            environment={
                "type": "LINUX_CONTAINER",
                "compute_type": args.compute_type,
                "image": args.image,
                "image_pull_credentials_type": "CODEBUILD",
                # No Docker daemon: the jobs run Python and the Pulumi CLI, nothing privileged.
                "privileged_mode": False,
            },
            vpc_config={"vpc_id": args.vpc_id, "subnets": args.subnet_ids, "security_group_ids": [group.id]},
            logs_config={"cloudwatch_logs": {"status": "ENABLED", "group_name": log_group.name}},
            build_timeout=args.timeout_minutes,
            tags=tags.for_resource(args.project_name),
            # CodeBuild checks the role may manage the VPC's interfaces when the project is made.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        )
        aws.codebuild.Webhook(
            f"{name}-webhook",
            project_name=project.name,
            build_type="BUILD",
            # A queued workflow job starts a build that registers as its runner.
            filter_groups=[{"filters": [{"type": "EVENT", "pattern": "WORKFLOW_JOB_QUEUED"}]}],
            opts=child,
        )
        self.project_name = project.name
        self.security_group_id = group.id
        self.label = runner_label(args.project_name)
        self.register_outputs(
            {"projectName": self.project_name, "securityGroupId": self.security_group_id, "label": self.label}
        )
