"""The tfstudio edge agent: runs on each device.

It keeps a verified, content-addressed model store with atomic activation and
rollback, measures on-device latency the way LiteRT's benchmark_model does, and
serves the active model over a small local HTTP API.

It imports neither `tfstudio` nor `tensorflow`: the standard library, numpy and
one LiteRT runtime (`ai_edge_litert`, else `tflite_runtime`, else
`tensorflow.lite`). It runs on Python 3.9+ with numpy 1 or 2.
"""

__version__ = "0.6.0"
