"""The watch pipeline: new SavedModels in a workspace → TFLite variants → devices → latency.

One module per job:
- `settle`: which folders are SavedModels, and when one has stopped changing;
- `journal`: the pipeline's event log (JSON lines in TFSTUDIO_HOME) and the
  state it folds into (what is done per export, what was cut short);
- `chain`: the provenance chain of an export (training job → SavedModel hash
  → variant sha256 → device activation);
- `steps`: convert, evaluate, deploy (+ bench and gate) one export, resuming
  where an earlier run stopped;
- `watcher`: the loop (watchdog, else polling) that finds settled exports and
  hands them to `steps`, one at a time, until stopped;
- `readback`: the log read back as one chain per export and device.

Nothing here prints or imports textual; watchdog, tensorflow and paramiko load
inside the calls that need them.
"""

from __future__ import annotations

from tfstudio.workflows.pipeline.events import PipelineEvent
from tfstudio.workflows.pipeline.settings import PipelineSettings

__all__ = ["PipelineEvent", "PipelineSettings"]
