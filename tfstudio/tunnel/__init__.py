"""Talking to the agent's server on a device's loopback, through the studio's own connection.

`channel` opens the stream (a `direct-tcpip` channel of the device's SSH
connection, or a plain socket for the built-in `local` device) and speaks
HTTP over it; `prometheus` parses the metrics page; `telemetry` turns scrapes
into rates and percentiles; `predict` sends one real request. Nothing listens
beyond the device's 127.0.0.1.
"""
