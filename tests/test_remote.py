"""Sharing runs through real S3-compatible storage: moto's S3 server on 127.0.0.1, started here.

One clone pushes every round's data, checkpoints and the run-cache; a fresh clone pulls them and
then `dvc repro` and `dvc exp run` execute nothing, and a parameter set run only by the first
clone is restored from the shared run-cache instead of being recomputed.

`dvc push --run-cache` and `dvc pull --run-cache` move the run-cache's records and the committed
run's outputs, not the outputs of other runs (DVC 3). An experiment whose outputs differ from the
committed ones travels with `dvc exp push`; the teammate's `dvc exp run --pull` then fetches them
as each stage is restored. Without `--pull` it is recomputed.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time

import pytest
from support import DVC, ENV, executed, locked_outputs, run

pytestmark = pytest.mark.slow

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="module")
def s3_endpoint():
    import boto3
    from botocore.exceptions import EndpointConnectionError

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**ENV, **CREDENTIALS},
    )
    endpoint = f"http://127.0.0.1:{port}"
    client = boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    )
    for _ in range(300):  # up to a minute for the server to start
        try:
            client.create_bucket(Bucket="team-runs")
            break
        except EndpointConnectionError:  # the server is still starting
            time.sleep(0.2)
    else:
        server.kill()
        pytest.fail("moto's S3 server did not start")
    yield endpoint, client
    server.terminate()
    server.wait()


def test_push_to_s3_then_a_fresh_clone_reruns_nothing(reference_project, s3_endpoint, tmp_path):
    endpoint, client = s3_endpoint
    origin = tmp_path / "origin"
    # The first member of the team has run the pipeline (the reference run, with its cache) and
    # sets up the shared remote in the repository's committed DVC config.
    run(["git", "clone", "-q", str(reference_project), str(origin)], tmp_path)
    shutil.copytree(reference_project / ".dvc" / "cache", origin / ".dvc" / "cache")
    run(DVC + ["checkout"], origin)
    run(DVC + ["remote", "add", "-d", "team", "s3://team-runs/tpt"], origin)
    run(DVC + ["remote", "modify", "team", "endpointurl", endpoint], origin)
    run(["git", "add", "-A"], origin)
    run(["git", "commit", "-qm", "team remote on S3"], origin)
    # One experiment the second member never runs: they get it through the shared run-cache. Its
    # outputs differ from the committed run's, so they must come from the remote as well:
    # `dvc push --run-cache` sends the run-cache's records and the committed outputs, `dvc exp push`
    # the experiment's own outputs (and its git ref).
    ran = executed(run(DVC + ["exp", "run", "--temp", "-n", "one-per-question", "-S", "prune.max_per_question=1"], origin))
    assert "prune@r1" in ran
    run(DVC + ["push", "--run-cache"], origin, **CREDENTIALS)
    team = tmp_path / "team.git"
    run(["git", "init", "-q", "--bare", str(team)], tmp_path)
    run(["git", "remote", "add", "team", str(team)], origin)
    run(["git", "push", "-q", "team", "HEAD"], origin)
    run(DVC + ["exp", "push", "team", "one-per-question"], origin, **CREDENTIALS)
    pruned = {path: md5 for path, md5 in locked_outputs(origin).items() if path.startswith("data/pruned/r1")}
    keys = [item["Key"] for page in client.get_paginator("list_objects_v2").paginate(Bucket="team-runs")
            for item in page.get("Contents", [])]
    assert any(key.startswith("tpt/runs/") for key in keys), keys[:5]  # the run-cache travelled too
    assert any(key.startswith("tpt/files/md5/") for key in keys)

    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(team), str(clone)], tmp_path)
    run(DVC + ["pull", "--run-cache"], clone, **CREDENTIALS)
    for path in locked_outputs(origin):
        assert (clone / path).exists(), path
    assert executed(run(DVC + ["repro"], clone, **CREDENTIALS)) == set()
    assert executed(run(DVC + ["exp", "run"], clone, **CREDENTIALS)) == set()
    restored = run(DVC + ["exp", "run", "--pull", "-S", "prune.max_per_question=1"], clone, **CREDENTIALS)
    assert "Stage 'prune@r1' is cached - skipping run" in restored
    assert not {"prune@r1", "train@r1", "evaluate@r1"} & executed(restored)
    # The experiment's own data, not the committed run's: it came from the remote.
    assert {path: md5 for path, md5 in locked_outputs(clone).items() if path in pruned} != pruned
