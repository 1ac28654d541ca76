"""Training curves through DVCLive: one folder per training run, declared as metrics and plots in dvc.yaml.

The folder holds `metrics.json` (each metric's last value: `dvc metrics show`, `dvc exp show`) and
`plots/metrics/train/<name>.tsv` (step, value: `dvc plots show`, `dvc plots diff`). Every number the
trainer logs at a logging step is a curve (loss, learning_rate, grad_norm, mean_token_accuracy,
entropy, and for DPO rewards/*, logps/*, logits/*), but for the counters that only grow with the
step (epoch, num_tokens).

transformers' own `DVCLiveCallback` is not used as it is, because a curves folder is a stage output
and must come out byte for byte the same from the same inputs, like every other one. It logs the
TrainingArguments (a temporary output folder among them), puts the end-of-training summary with
its wall-clock rates in the curves, and counts log calls, not optimizer steps, on the x axis. This
callback does the same logging without those three. DVCLive writes no dvc.yaml, no report and no
DVC experiment of its own, and saves no model.

Nor does it look for a DVC repository: `Live` by default opens the one around the working folder
(it fails in a git repository without a commit, and creates a DVC repository where there is
none). Here it only writes files, so training runs the same in a pipeline, a fresh `git init`
or a notebook.
"""

from __future__ import annotations

import json
from pathlib import Path

from transformers import TrainerCallback


# Logged, but only another x axis: no curve of their own.
COUNTERS = ("epoch", "num_tokens")


def files_only_live(folder: str | Path):
    """A DVCLive `Live` writing into `folder` and doing nothing else: no report, dvc.yaml, experiment or repository."""
    from dvclive import Live

    class FilesOnlyLive(Live):
        def _init_dvc(self):  # DVCLive's link to a DVC repository and its git commit: not wanted here
            self._dvc_file = "dvc.yaml"  # the name Live would use; never written (dvcyaml=False)

    return FilesOnlyLive(str(folder), report=None, save_dvc_exp=False, dvcyaml=False)


class CurvesCallback(TrainerCallback):
    """Logs every logging step's numbers to DVCLive in `folder`, from the main process only."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.live = None

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs or "train_runtime" in logs:  # the end-of-training summary
            return
        from dvclive.plots import Metric

        if self.live is None:
            self.live = files_only_live(self.folder)
        self.live.step = state.global_step
        for key, value in logs.items():
            if key not in COUNTERS and Metric.could_log(value):
                self.live.log_metric(f"train/{key}", value)
        self.live.next_step()

    def on_train_end(self, args, state, control, **kwargs):
        if self.live is not None:
            self.live.end()


def write_empty_curves(folder: str | Path) -> None:
    """The curves folder of a stage that trained nothing (a pretrained base model): no metric, no plot."""
    folder = Path(folder)
    (folder / "plots" / "metrics").mkdir(parents=True, exist_ok=True)
    (folder / "metrics.json").write_text(json.dumps({}) + "\n")
