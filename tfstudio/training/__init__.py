"""Headless training core: pinned TensorFlow images in containers on local or remote engines.

The modules, each with one job:

- `engines`      the engine registry (`local`, `[engines.*]`, engines.json)
- `client`       connect to an engine; Docker SDK errors → TfStudioErrors
- `dialstdio`    ssh:// engines over the studio's own checked SSH connection, and
                 the wording of their host-key errors
- `enginecheck`  reachable? version, NVIDIA runtime, GPUs, images
- `tagpolicy`    `latest`, untagged and floating references are refused
- `images`       list, resolve (id + digest), pull with a way out
- `imageprobe`   TensorFlow version of an image without a label (cached)
- `build`        `images build` with the tag policy and base digests
- `settings`     `[training]` defaults from tfstudio.toml
- `limits`       GPUs, CPU/memory/shm, env, ports, mounts from words
- `jobspec`      a checked job request (`build_spec`)
- `launch`       create + start a job, provenance at start
- `jobs`         list / find / stop / kill / remove / wait this studio's jobs
- `logs`         read a log, or follow it in a cancellable worker
- `exports`      new models under workspace/exports and their hashes
- `provenance`   each job's record, finalised when it ends
- `gpucheck`     the in-image GPU check and its verdicts
- `nvml`         GPUs on this machine through NVML, or an honest "no GPU"
- `oneshot`      short helper containers (check, probe)
- `labels`       job labels and the studio's identity
- `timefmt`      Docker's nanosecond timestamps

Multi-worker jobs (MultiWorkerMirroredStrategy) on a Docker Swarm, and as manifests:

- `tfconfig`     `TF_CONFIG` per worker; the sh script a Kubernetes pod builds it with
- `groupspec`    a checked multi-worker request: a job's spec, N workers, storage
- `swarm`        is the engine a manager, its nodes and GPUs; the job's network and
                 services; stopping a worker and keeping its task
- `workers`      each worker's state from the swarm's tasks, and the group's
- `grouplaunch`  checks → image → network → one service per worker
- `groups`       list / find / stop / kill / remove / wait groups; one failed worker
                 stops the others
- `grouplogs`    every worker's log, `[w0]`-prefixed, read or followed
- `groupprov`    the group's provenance: workers, nodes, exit codes, the chief's exports
- `k8s`          the same job as an Indexed Job and a headless Service (YAML)

Long operations speak the studio's one contract (`tfstudio.operations`): a
`Reporter` for the job or image they work on, and a `CancelToken`. Nothing
here prints; `docker` and `paramiko` are imported inside the functions that
use them, and this package imports none of its modules by itself (each
command loads only what it needs). A caller (the CLI, or a TUI worker thread)
does:

    from tfstudio.operations import Reporter
    from tfstudio.training.client import connect
    from tfstudio.training.engines import get_engine
    from tfstudio.training.jobs import wait_job
    from tfstudio.training.jobspec import build_spec
    from tfstudio.training.launch import launch
    from tfstudio.training.logs import LogFollower
    from tfstudio.training.provenance import finalize
    from tfstudio.training.settings import training_settings

    with connect(get_engine("local")) as client:
        spec = build_spec(client.engine, training_settings(), ["python", "train.py"],
                          image="tfstudio-local/tensorflow:2.21.0-cpu", gpus="none")
        started = launch(client, spec, report=Reporter("train", "job", print))  # StageStarted...
        follower = LogFollower(client, started.job, on_line=print).start()
        job = wait_job(client, started.job)                   # follower.stop() cancels
        record = finalize(client, job)  # exit code, exports with their sha256, chain
"""
