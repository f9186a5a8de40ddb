"""The index of `tfstudio` commands: each name, the module that registers it, its one line.

`tfstudio --help` lists every command from this index without importing a
single command module, and `tfstudio NAME ...` imports only NAME's module, so a
command pays for its own imports and nobody else's (`tfstudio --help` costs
about what `python -c pass` does). The index is data, so it can drift from what
the modules register: tests/cli/test_commands.py compares the two, and imports
every module, so a renamed, broken or unlisted command fails a test instead of
vanishing from `--help`.
"""

from __future__ import annotations

COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("demo", "demo_cmd", "train, convert, deploy and bench a digits CNN end to end (no download)"),
    (
        "convert",
        "convert_cmd",
        "convert a SavedModel/.keras/.h5 model to TFLite in one or more quantization modes",
    ),
    (
        "inspect",
        "inspect_cmd",
        "show a .tflite model's size, digest, min runtime, ops, tensors and subgraphs",
    ),
    (
        "compat",
        "compat_cmd",
        "prove .tflite models on named LiteRT runtime releases (a venv per release)",
    ),
    ("devices", "devices_cmd", "register, trust and check devices"),
    ("agent", "agent_cmd", "install the edge agent, run it as a service"),
    ("deploy", "deploy_cmd", "push a .tflite model to devices (all at once, or in gated waves)"),
    ("rollouts", "rollouts_cmd", "staged rollouts: list, or show one"),
    ("bench", "bench_cmd", "measure a model's latency on devices"),
    ("eval", "eval_cmd", "accuracy of a model on devices' own runtimes"),
    ("metrics", "metrics_cmd", "live request rates and latency from devices"),
    ("predict", "predict_cmd", "send one real request to a device's model"),
    ("report", "report_cmd", "variant × device matrix of what was measured"),
    ("models", "models_cmd", "list the models stored on devices"),
    ("rollback", "models_cmd", "re-activate a device's previous model"),
    (
        "prune",
        "models_cmd",
        "remove stored models from a device (never the active one or rollback target)",
    ),
    ("train", "train_cmd", "run a training command in a pinned TensorFlow image"),
    ("jobs", "jobs_cmd", "this studio's training jobs on an engine"),
    ("logs", "jobs_cmd", "a job's log"),
    ("stop", "jobs_cmd", "stop a job: SIGTERM, then SIGKILL after a timeout"),
    ("rm", "jobs_cmd", "remove a finished job's container (provenance stays)"),
    ("images", "images_cmd", "images on an engine; build one from a Dockerfile"),
    ("engines", "engines_cmd", "Docker Engines for training (local or ssh://)"),
    (
        "gpu-check",
        "gpu_cmd",
        "run TensorFlow's GPU check inside an image: devices, timed matmul, replicas",
    ),
    ("gpus", "gpu_cmd", "GPUs on this machine as NVML sees them"),
    ("watch", "watch_cmd", "convert, deploy and bench every new SavedModel under DIR, hands-free"),
    ("pipeline", "watch_cmd", "the watch pipeline's log and chains"),
    ("ui", "ui_cmd", "open the terminal UI (also what `tfstudio` alone does on a terminal)"),
)
"""(name, module under tfstudio.cli, help) in the order `--help` lists them; the
commands of one module are adjacent, as its `register` adds them."""
