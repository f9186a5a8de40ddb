"""`tfstudio demo`: the whole studio on one small model, with no GPU, engine or device needed.

The digits CNN (scikit-learn's bundled `load_digits`) is trained in a
container of a pinned TensorFlow image when the local engine has one, else in
this process; exported as a SavedModel; converted in every quantization mode;
deployed to a device (the built-in `local` one by default) and benchmarked
there. The result is one table: mode, size, accuracy, p50, p99, min runtime.

- `digits`: the data and the files each stage reads;
- `train_digits`: the network and its training (also the container's script);
- `training`: where it trains (container or process) and the export;
- `pipeline`: the stages, timed, end to end (`run_demo`);
- `report`: the rows and stage times, as a table and as JSON.

Nothing is imported here, so that `tfstudio.workflows.demo.report` stays light for a UI.
"""
