"""CI/CD: the GitHub workflows (valid, pinned, gated) and the pull-request summary ci.yml publishes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from offline.cost import components_of, estimate
from offline.runner import PROJECT_DIR
from offline.summary import BaseCost, base_costs, resource_counts, stack_summary
from tests.conftest import offline_cli, stack_plan
from tests.plans import stack_names

WORKFLOWS = PROJECT_DIR / ".github" / "workflows"
ACTION = PROJECT_DIR / ".github" / "actions" / "pulumi" / "action.yml"
FULL_SHA_WITH_VERSION = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40} # v\d+\.\d+\.\d+$")


def load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the key `on` as the boolean true.
    if True in document:
        document["on"] = document.pop(True)
    return document


def workflow(name: str) -> dict[str, Any]:
    return load(WORKFLOWS / name)


def steps_using(steps: list[dict[str, Any]], action: str) -> list[dict[str, Any]]:
    return [step for step in steps if str(step.get("uses", "")).split("@")[0] == action]


def check_jsonschema(schema: str, *paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
    )


# --- every workflow -------------------------------------------------------------------------------------


def test_the_workflows_are_the_three_of_the_pipeline():
    assert sorted(p.name for p in WORKFLOWS.glob("*.y*ml")) == ["ci.yml", "deploy.yml", "preview.yml"]


def test_every_workflow_and_the_action_validate_against_github_s_schemas():
    workflows = check_jsonschema("vendor.github-workflows", *sorted(WORKFLOWS.glob("*.yml")))
    assert workflows.returncode == 0, workflows.stdout + workflows.stderr
    action = check_jsonschema("vendor.github-actions", ACTION)
    assert action.returncode == 0, action.stdout + action.stderr


def test_the_schema_check_rejects_a_broken_workflow(tmp_path):
    broken = (
        (WORKFLOWS / "deploy.yml").read_text().replace("runs-on: ubuntu-24.04", "runs_on: ubuntu-24.04", 1)
    )
    path = tmp_path / "deploy.yml"
    path.write_text(broken)
    result = check_jsonschema("vendor.github-workflows", path)
    assert result.returncode != 0
    assert "runs_on" in result.stdout + result.stderr


def uses_lines() -> list[tuple[str, str]]:
    found = []
    for path in [*sorted(WORKFLOWS.glob("*.yml")), ACTION]:
        for line in path.read_text().splitlines():
            match = re.match(r"\s*(?:- )?uses: (.+)$", line)
            if match and not match[1].startswith("./"):
                found.append((path.name, match[1].strip()))
    return found


def test_every_action_is_pinned_to_a_full_commit_sha_with_its_version_beside_it():
    found = uses_lines()
    assert len(found) >= 5
    for path, reference in found:
        assert FULL_SHA_WITH_VERSION.match(reference), f"{path}: {reference} is not pinned to a commit SHA"
    # One action, one pin: an upgrade moves every use of it at once.
    pins: dict[str, set[str]] = {}
    for _, reference in found:
        action, rest = reference.split("@")
        pins.setdefault(action, set()).add(rest)
    assert {action: len(versions) for action, versions in pins.items() if len(versions) > 1} == {}


def test_workflows_grant_only_read_access_unless_a_job_asks_for_more():
    for path in WORKFLOWS.glob("*.yml"):
        assert load(path)["permissions"] == {"contents": "read"}, path.name


# --- ci.yml ---------------------------------------------------------------------------------------------


def test_ci_runs_on_pull_requests_and_pushes_and_needs_no_secret():
    ci = workflow("ci.yml")
    assert "pull_request" in ci["on"] and "push" in ci["on"]
    assert "secrets." not in (WORKFLOWS / "ci.yml").read_text()


def ci_steps() -> list[dict[str, Any]]:
    (job,) = workflow("ci.yml")["jobs"].values()
    return job["steps"]


def test_ci_sets_up_python_3_11_with_the_pip_cache_and_runs_make_test_as_separate_steps():
    steps = ci_steps()
    (setup,) = steps_using(steps, "actions/setup-python")
    assert setup["with"]["python-version"] == "3.11"
    assert setup["with"]["cache"] == "pip"
    assert setup["with"]["cache-dependency-path"] == "requirements*.txt", "keyed on the requirements"
    runs = [step for step in steps if "run" in step]
    assert [step["run"] for step in runs[:4]] == [
        "make install",
        "make lint",
        "make typecheck",
        "make pytest",
    ]
    assert all(step["if"] == "${{ !cancelled() }}" for step in runs[2:4]), "lint failing hides nothing"
    make_test = re.search(r"^test: (.*)$", (PROJECT_DIR / "Makefile").read_text(), re.MULTILINE)[1].split()
    assert make_test == ["lint", "typecheck", "pytest"], "the steps are exactly make test"


def test_ci_restores_mypy_s_cache_keyed_on_the_requirements():
    (cache,) = steps_using(ci_steps(), "actions/cache")
    assert cache["with"]["path"] == ".mypy_cache"
    assert "hashFiles('requirements*.txt', 'pyproject.toml')" in cache["with"]["key"]
    assert cache["with"]["restore-keys"].startswith("mypy-${{ runner.os }}-${{ hashFiles(")


def test_ci_checks_out_the_whole_history_for_the_cost_comparison():
    (checkout,) = steps_using(ci_steps(), "actions/checkout")
    assert checkout["with"]["fetch-depth"] == 0, "the base branch must be there for the cost comparison"


def test_ci_summarises_every_stack_against_the_base_branch_into_the_step_summary():
    (step,) = [step for step in ci_steps() if "offline summary" in step.get("run", "")]
    command = step["run"]
    assert sorted(re.findall(r"--stack (\w+)", command)) == stack_names()
    assert '--output "$GITHUB_STEP_SUMMARY"' in command
    assert "--base-ref" in command and step["env"]["BASE_REF"] == "${{ github.base_ref }}"
    assert step["if"] == "${{ !cancelled() }}"


def test_the_ci_entry_point_stays_make_test():
    lines = (PROJECT_DIR / ".ci" / "run").read_text().strip().splitlines()
    assert lines[-1] == "make test"
    assert "typecheck" in re.search(r"^test: (.*)$", (PROJECT_DIR / "Makefile").read_text(), re.MULTILINE)[1]


# --- preview.yml ----------------------------------------------------------------------------------------


def test_the_preview_runs_only_where_the_account_is_wired_and_never_for_forks():
    preview = workflow("preview.yml")
    assert list(preview["on"]) == ["pull_request"]
    (job,) = preview["jobs"].values()
    condition = job["if"]
    assert "github.event.pull_request.head.repo.full_name == github.repository" in condition
    assert "vars.PREVIEW_ENABLED == 'true'" in condition


def test_labelling_a_pull_request_runs_the_preview_again():
    """The guard reads the allow-stateful-replacement label; pull_request's default types exclude labelling,
    and a re-run replays the event as it was, labels included."""
    types = workflow("preview.yml")["on"]["pull_request"]["types"]
    assert {"opened", "synchronize", "reopened", "labeled", "unlabeled"} <= set(types)


def test_every_deploy_runs_the_policy_pack_as_the_preview_does():
    """A mandatory rule refuses the update itself, not only the pull request's preview."""
    for name, job in deploy_jobs().items():
        (run,) = steps_using(job["steps"], "./.github/actions/pulumi")
        assert run["with"]["command"] == "up"
        assert run["with"].get("policy-packs") == "policy", name


def test_the_preview_job_can_get_an_oidc_token_and_comment():
    (job,) = workflow("preview.yml")["jobs"].values()
    assert job["permissions"]["id-token"] == "write"
    assert job["permissions"]["pull-requests"] == "write"
    assert sorted(job["strategy"]["matrix"]["stack"]) == stack_names()
    (run,) = steps_using(job["steps"], "./.github/actions/pulumi")
    assert run["with"]["command"] == "preview"
    assert run["with"]["stack"] == "${{ matrix.stack }}"
    assert run["with"]["comment-on-pr"] == "true"
    assert run["with"]["role"] == "preview"
    assert "role-to-assume" not in run["with"], "the role comes from the stack's file"


def test_the_preview_runs_the_policy_pack_and_then_the_replacement_guard():
    (job,) = workflow("preview.yml")["jobs"].values()
    (run,) = steps_using(job["steps"], "./.github/actions/pulumi")
    assert run["with"]["policy-packs"] == "policy"
    assert (PROJECT_DIR / "policy" / "PulumiPolicy.yaml").is_file()
    after = job["steps"][job["steps"].index(run) + 1 :]
    (guard,) = [step for step in after if "python -m policy.guard" in step.get("run", "")]
    assert '--policy-pack policy --json > "preview-$STACK.json"' in guard["run"]
    assert guard["env"]["STACK"] == "${{ matrix.stack }}"
    # The action passes the packs on and builds their environment from the pack's own pins.
    steps = load(ACTION)["runs"]["steps"]
    (pulumi,) = steps_using(steps, "pulumi/actions")
    assert pulumi["with"]["policyPacks"] == "${{ inputs.policy-packs }}"
    assert any("policy/requirements.txt" in step.get("run", "") for step in steps)


def test_the_shared_action_assumes_the_stack_s_role_by_oidc_then_runs_pulumi():
    steps = load(ACTION)["runs"]["steps"]
    (settings,) = [step for step in steps if step.get("id") == "settings"]
    assert "python -m offline deploy-settings" in settings["run"]
    (credentials,) = steps_using(steps, "aws-actions/configure-aws-credentials")
    assert credentials["with"]["role-to-assume"] == "${{ steps.settings.outputs.role_to_assume }}"
    assert credentials["with"]["role-duration-seconds"] == "${{ inputs.session-seconds }}"
    assert not {"aws-access-key-id", "aws-secret-access-key"} & set(credentials["with"])
    (pulumi,) = steps_using(steps, "pulumi/actions")
    assert pulumi["with"]["command"] == "${{ inputs.command }}"
    assert pulumi["with"]["stack-name"] == "${{ inputs.stack }}"
    assert steps.index(settings) < steps.index(credentials) < steps.index(pulumi)


def _settings_step(tmp_path: Path, stack: str, role: str) -> tuple[subprocess.CompletedProcess[str], str]:
    """The action's settings step, run by bash in the checkout as the runner runs it."""
    (settings,) = [step for step in load(ACTION)["runs"]["steps"] if step.get("id") == "settings"]
    output = tmp_path / "github_output"
    output.touch()
    result = subprocess.run(
        ["bash", "-e", "-c", settings["run"]],
        cwd=PROJECT_DIR,
        env={
            **os.environ,
            "STACK": stack,
            "ROLE": role,
            "GITHUB_OUTPUT": str(output),
            "RUNNER_TEMP": str(tmp_path),
        },
        capture_output=True,
        text=True,
        timeout=300,
    )
    return result, output.read_text()


@pytest.mark.slow
def test_the_settings_step_picks_the_role_the_job_asks_for_from_the_stack_s_file(tmp_path):
    result, output = _settings_step(tmp_path, "dev", "preview")
    assert result.returncode == 0, result.stdout + result.stderr
    preview_role = stack_plan("dev").config.deploy.preview_role_arn
    assert f"role_to_assume={preview_role}\n" in output
    (provider,) = stack_plan("dev").of_type("pulumi:providers:kubernetes")
    assert f"bootstrap_exclude={provider.urn}\n" in output, "what a bootstrap leaves out, for pulumi/actions"
    (tmp_path / "github_output").unlink()
    result, output = _settings_step(tmp_path, "dev", "admin")
    assert result.returncode == 1
    assert "role must be deploy or preview, not 'admin'" in result.stdout
    assert output == "", "a wrong role fails before the program runs"


def test_a_bootstrap_excludes_what_the_settings_list_with_their_dependents_and_only_then():
    steps = load(ACTION)["runs"]["steps"]
    (pulumi,) = steps_using(steps, "pulumi/actions")
    assert pulumi["with"]["exclude"] == (
        "${{ inputs.bootstrap == 'true' && steps.settings.outputs.bootstrap_exclude || '' }}"
    )
    assert pulumi["with"]["exclude-dependents"] == "${{ inputs.bootstrap == 'true' }}"


def test_the_action_runs_preflight_before_the_pulumi_command_when_asked():
    steps = load(ACTION)["runs"]["steps"]
    (preflight,) = [step for step in steps if "verify preflight" in step.get("run", "")]
    assert preflight["if"] == "inputs.preflight == 'true'"
    assert 'exit "$status"' in preflight["run"]
    assert '>> "$GITHUB_STEP_SUMMARY"' in preflight["run"]
    (pulumi,) = steps_using(steps, "pulumi/actions")
    assert steps.index(preflight) < steps.index(pulumi)


# --- where each job runs ----------------------------------------------------------------------------------


def _pulumi_jobs() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(workflow, job, its step using the shared action) for every job that runs Pulumi on a stack."""
    found = []
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for job in load(path)["jobs"].values():
            for step in steps_using(job.get("steps", []), "./.github/actions/pulumi"):
                found.append((path.name, job, step))
    return found


def test_every_job_that_touches_a_cluster_runs_on_its_stack_s_in_vpc_runner():
    jobs = [(n, job, step) for n, job, step in _pulumi_jobs() if step["with"].get("bootstrap") != "true"]
    assert len(jobs) == 4, "the preview matrix and the three deploys"
    for name, job, step in jobs:
        stacks = job.get("strategy", {}).get("matrix", {}).get("stack") or [step["with"]["stack"]]
        for stack in stacks:
            label = job["runs-on"].replace("${{ matrix.stack }}", stack)
            assert label == stack_plan(stack).outputs["deployRunnerLabel"], (name, stack)


def test_no_github_hosted_runner_touches_a_cluster():
    """A GitHub-hosted job runs Pulumi only as the bootstrap, which leaves the Kubernetes layer out; ci.yml
    runs nothing but the offline program."""
    for name, job, step in _pulumi_jobs():
        if not str(job["runs-on"]).startswith("codebuild-"):
            assert step["with"].get("bootstrap") == "true", name
            assert step["with"]["command"] == "up"
    for job in workflow("ci.yml")["jobs"].values():
        assert not steps_using(job["steps"], "./.github/actions/pulumi")
        assert not [step for step in job["steps"] if "pulumi " in step.get("run", "")]


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_a_deploy_fits_its_session_and_its_runner_s_build_timeout(stack):
    job = deploy_jobs()[stack]
    (run,) = steps_using(job["steps"], "./.github/actions/pulumi")
    minutes = job["timeout-minutes"]
    # EKS, node groups and Aurora, then Helm installs of up to ten minutes each: past the default hour.
    assert minutes >= 120
    assert int(run["with"]["session-seconds"]) >= 60 * minutes
    assert minutes < stack_plan(stack).config.deploy.runner.timeout_minutes, "the build outlives the job"
    assert run["with"]["role"] == "deploy"
    assert run["with"]["preflight"] == "true"


def test_a_manual_run_can_bootstrap_one_stack_from_outside_the_vpc_in_its_environment():
    inputs = workflow("deploy.yml")["on"]["workflow_dispatch"]["inputs"]
    assert inputs["bootstrap"] == {**inputs["bootstrap"], "type": "boolean", "default": False}
    job = deploy_jobs()["bootstrap"]
    assert "github.event_name == 'workflow_dispatch' && inputs.bootstrap" in job["if"]
    assert job["environment"] == "${{ inputs.stack }}", "prod's bootstrap waits for prod's reviewers"
    assert job["concurrency"]["group"] == "deploy-${{ inputs.stack }}"
    (run,) = steps_using(job["steps"], "./.github/actions/pulumi")
    wanted = {"stack": "${{ inputs.stack }}", "command": "up", "bootstrap": "true"}
    assert run["with"] == {**run["with"], **wanted}
    for stack in ("dev", "staging", "prod"):
        assert "!inputs.bootstrap" in deploy_jobs()[stack]["if"], "a bootstrap run deploys nothing else"


# --- deploy.yml -----------------------------------------------------------------------------------------


def deploy_jobs() -> dict[str, dict[str, Any]]:
    return workflow("deploy.yml")["jobs"]


def test_deploy_runs_on_main_and_by_hand_for_one_stack():
    triggers = workflow("deploy.yml")["on"]
    assert triggers["push"] == {"branches": ["main"]}
    assert triggers["workflow_dispatch"]["inputs"]["stack"]["options"] == ["dev", "staging", "prod"]


def test_deploy_goes_dev_then_staging_then_prod():
    jobs = deploy_jobs()
    assert list(jobs) == ["dev", "staging", "prod", "bootstrap"]
    assert "needs" not in jobs["dev"]
    assert jobs["staging"]["needs"] == "dev"
    assert jobs["prod"]["needs"] == "staging"
    assert "needs.dev.result == 'success'" in jobs["staging"]["if"]
    assert "needs.staging.result == 'success'" in jobs["prod"]["if"]


def test_prod_is_deployed_only_through_its_environment():
    prod = deploy_jobs()["prod"]
    environment = prod["environment"]
    assert (environment["name"] if isinstance(environment, dict) else environment) == "prod"
    (run,) = steps_using(prod["steps"], "./.github/actions/pulumi")
    assert run["with"] == {**run["with"], "stack": "prod", "command": "up"}


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_each_stack_deploys_alone_in_its_own_uncancelled_concurrency_group(stack):
    job = deploy_jobs()[stack]
    assert job["concurrency"] == {"group": f"deploy-{stack}", "cancel-in-progress": False}
    assert job["environment"] == stack
    assert job["permissions"]["id-token"] == "write"
    (run,) = steps_using(job["steps"], "./.github/actions/pulumi")
    assert (run["with"]["stack"], run["with"]["command"]) == (stack, "up")


# --- the summary ----------------------------------------------------------------------------------------


def test_the_summary_counts_resources_per_component():
    plan = stack_plan("prod")
    counts = resource_counts(plan)
    assert {"Network", "Cluster", "Database", "Cache"} <= set(counts)
    assert sum(counts.values()) == len([r for r in plan.resources if r.custom])
    groups = components_of(plan)
    assert counts["Network"] == len([r for r in plan.resources if r.custom and groups[r.urn] == "Network"])
    text = stack_summary(plan)
    for component, count in counts.items():
        assert f"| {component} | {count} |" in text


def test_the_summary_has_policy_cost_and_diagram_sections():
    plan = stack_plan("dev")
    text = stack_summary(plan)
    assert text.startswith("## Stack `dev`")
    assert "rules, no violations\n\nNo violations: every resource passes every rule." in text
    assert f"### Cost estimate: {estimate(plan).total:,.2f} USD/month" in text
    assert "```mermaid\nflowchart LR\n" in text
    assert (
        text.index("### Resources")
        < text.index("### Policy")
        < text.index("### Cost")
        < text.index("### Diagram")
    )


def test_the_summary_compares_the_cost_with_the_base_per_component():
    plan = stack_plan("dev")
    mine = estimate(plan).by_component()
    base = BaseCost("origin/main", {**mine, "Cluster": mine["Cluster"] - 100.0})
    text = stack_summary(plan, base)
    assert "| component | this branch | base (origin/main) | difference |" in text
    assert f"| Cluster | {mine['Cluster']:,.2f} | {mine['Cluster'] - 100:,.2f} | +100.00 |" in text
    assert "| Network |" in text and "+0.00 |" in text


def test_without_a_base_estimate_the_summary_says_why():
    text = stack_summary(stack_plan("dev"), BaseCost("origin/main", None, "the base's cost command failed"))
    assert "No comparison with origin/main: the base's cost command failed." in text
    assert "| component | monthly |" in text


# --- the base branch's estimate, from a worktree --------------------------------------------------------

COST_MAIN = """import json, sys
if sys.argv[1:2] == ["cost"]:
    print(json.dumps({"stack": sys.argv[3], "components": {"Network": 10.5, "Cluster": 70}, "total": 80.5}))
else:
    sys.exit(2)
"""
NO_COST_MAIN = """import sys
print("Usage: python -m offline [OPTIONS] COMMAND", file=sys.stderr)
print("Error: No such command 'cost'.", file=sys.stderr)
sys.exit(2)
"""


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@pytest.fixture
def history(tmp_path: Path) -> Path:
    """A repository whose `new` commit has a cost command and whose `old` commit predates it."""
    repo = tmp_path / "repo"
    (repo / "offline").mkdir(parents=True)
    git(repo.parent, "init", "-q", str(repo))
    (repo / "offline" / "__init__.py").write_text("")
    (repo / "offline" / "__main__.py").write_text(NO_COST_MAIN)
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "before the cost command")
    git(repo, "tag", "old")
    (repo / "offline" / "__main__.py").write_text(COST_MAIN)
    git(repo, "commit", "-q", "-am", "the cost command")
    git(repo, "tag", "new")
    return repo


def test_the_base_estimate_comes_from_the_base_s_own_cost_command(history):
    costs = base_costs("new", ["dev", "prod"], repo=history)
    assert costs["prod"] == BaseCost("new", {"Network": 10.5, "Cluster": 70.0})
    assert costs["dev"].components is not None
    assert git(history, "worktree", "list").count("\n") == 0, "the worktree is removed afterwards"


def test_a_base_without_the_cost_command_only_loses_the_comparison(history):
    (cost,) = base_costs("old", ["dev"], repo=history).values()
    assert cost.components is None
    assert cost.note == "the base's cost command failed: Error: No such command 'cost'."


def test_a_base_ref_that_does_not_resolve_only_loses_the_comparison(history):
    (cost,) = base_costs("origin/nowhere", ["dev"], repo=history).values()
    assert cost.components is None
    assert cost.note.startswith("could not check out origin/nowhere:")


@pytest.mark.slow
def test_the_summary_command_appends_to_the_file_and_reports_a_stack_that_failed(tmp_path):
    # A stack whose file is missing is bad input: exit 2, and the other stacks still summarised.
    output = tmp_path / "step-summary.md"
    output.write_text("earlier step\n")
    result = offline_cli(
        "summary", "--stack", "dev", "--stack", "nosuch", "--base-ref", "no-such-ref", "--output", str(output)
    )
    assert result.returncode == 2, result.stderr
    text = output.read_text()
    assert text.startswith("earlier step\n# Offline preview")
    assert (
        "## Stack `dev`" in text and "No comparison with no-such-ref: could not check out no-such-ref" in text
    )
    assert "## Stack `nosuch`\n\n**The offline preview failed:**" in text
