"""A real multi-worker training loop for the TensorFlow image: MultiWorkerMirroredStrategy.

Keras 3's `model.fit` does not run under MultiWorkerMirroredStrategy (see the
README), so this is the custom loop TensorFlow's guides use: the dataset is
distributed with `experimental_distribute_dataset`, each step runs through
`strategy.run` inside a `tf.function`, and the per-replica losses are summed
across workers. Every worker prints its replica count and each step's loss
(identical on every worker when they are in lockstep), then its steps per
second; the chief (worker 0) exports a SavedModel to `exports/<name>`, the
others to a scratch folder (saving under the strategy involves every worker).

Shared by the swarm tests and `scripts/bench/bench_swarm.py`.
"""

from __future__ import annotations

import re
from pathlib import Path

TRAIN_PY = """\
import json, os, time
import numpy as np
import tensorflow as tf
import keras

STEPS = int(os.environ.get("STEPS", "STEPS_DEFAULT"))
PAUSE = float(os.environ.get("PAUSE", "0"))
PER_WORKER_BATCH = 64
strategy = tf.distribute.MultiWorkerMirroredStrategy()
task = json.loads(os.environ.get("TF_CONFIG") or "{}").get("task", {})
index = int(task.get("index", 0))
print(f"worker {index}: {strategy.num_replicas_in_sync} replicas in sync", flush=True)

data = np.load("data/digits.npz")
x, y = data["x"].astype("float32"), data["y"].astype("int64")
global_batch = PER_WORKER_BATCH * strategy.num_replicas_in_sync
dataset = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(2048, seed=0).repeat()
options = tf.data.Options()
options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
dataset = dataset.batch(global_batch).with_options(options)
batches = iter(strategy.experimental_distribute_dataset(dataset))

with strategy.scope():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((64,)),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(10),
    ])
    optimizer = keras.optimizers.Adam(1e-2)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="none")

@tf.function
def train_step(iterator):
    def step(xb, yb):
        with tf.GradientTape() as tape:
            per_example = loss_fn(yb, model(xb, training=True))
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss
    xb, yb = next(iterator)
    return strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(step, args=(xb, yb)), axis=None)

train_step(batches)  # traced once, outside the timing
began = time.perf_counter()
for s in range(STEPS):
    loss = float(train_step(batches))
    print(f"step {s} loss {loss:.6f}", flush=True)
    if PAUSE:
        time.sleep(PAUSE)
elapsed = time.perf_counter() - began
print(f"worker {index}: {STEPS / elapsed:.2f} steps/s", flush=True)
target = "EXPORT" if index == 0 else f"/tmp/worker-{index}-export"
model.export(target, verbose=False)
print(f"worker {index}: exported {target}", flush=True)
"""

REPLICAS = re.compile(r"^\[w(\d+)\] worker (\d+): (\d+) replicas in sync$")
STEP = re.compile(r"^\[w(\d+)\] step (\d+) loss ([0-9.]+)$")
RATE = re.compile(r"^\[w(\d+)\] worker \d+: ([0-9.]+) steps/s$")


def prepare_workspace(workspace: Path, export: str = "exports/mwms", steps: int = 30) -> Path:
    """Writes data/digits.npz and mwms_train.py (the chief exports to `export`)."""
    import numpy as np
    from sklearn.datasets import load_digits

    digits = load_digits()
    (workspace / "data").mkdir(parents=True, exist_ok=True)
    np.savez(workspace / "data" / "digits.npz", x=digits.data / 16.0, y=digits.target)
    script = TRAIN_PY.replace("STEPS_DEFAULT", str(steps)).replace("EXPORT", export)
    (workspace / "mwms_train.py").write_text(script)
    return workspace


def losses(lines: list[str]) -> dict[int, dict[int, str]]:
    """Returns {worker: {step: loss text}} from `[wN]`-prefixed log lines."""
    found: dict[int, dict[int, str]] = {}
    for line in lines:
        match = STEP.match(line)
        if match:
            found.setdefault(int(match.group(1)), {})[int(match.group(2))] = match.group(3)
    return found


def replicas(lines: list[str]) -> dict[int, int]:
    """Returns {worker: replicas in sync} from `[wN]`-prefixed log lines."""
    out = {}
    for line in lines:
        match = REPLICAS.match(line)
        if match:
            out[int(match.group(1))] = int(match.group(3))
    return out


def rates(lines: list[str]) -> dict[int, float]:
    """Returns {worker: steps per second} from `[wN]`-prefixed log lines."""
    out = {}
    for line in lines:
        match = RATE.match(line)
        if match:
            out[int(match.group(1))] = float(match.group(2))
    return out
